"""Every registered suite keeps the suite contract (contracts/suite.py), and a suite is one module and nothing else.

1. Parametrized over SUITES: each suite runs end to end with its tiny_options on a tiny world, through a
   real RunContext with tiny random-weight parts (tests/tiny_models.py: a timm test ResNet, an untrained
   translator, a 2-layer Llama), no packaged model. Checked: records are JSON dicts with unique image ids;
   aggregate is a pure function of the records (a brand-new instance re-aggregates the saved
   records.jsonl to the same metrics); every metric has a definition, and every rate or score (a float)
   a direction in higher_is_better (counts, ints, are descriptive); the headline names metrics the suite
   computes.
2. A suite written at test time into a module of its own, found by suites.discover(), is read by the
   config (its ``suites.<name>`` section: defaults, type-checked overrides, "did you mean"), by preflight
   (its problems are listed) and by the command line's headline printing, with no other file touched.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from tiny_models import tiny_classifier, tiny_decoder, tiny_translator

import suites
from contracts.metrics import METRICS
from contracts.suite import matches_metric
from harness.cli.main import suite_headlines
from harness.config import ConfigError, load_config, to_dict
from harness.pipeline import preflight as preflight_module
from harness.pipeline.context import RunContext
from harness.pipeline.preflight import preflight
from suites import SUITES, enabled_suites
from texplain.feature_cache import FeatureCache
from texplain.translators import TranslatorShape

TINY_SAMPLING = ["sampling.num_sentences=3", "sampling.min_words=3", "sampling.max_words=6", "sampling.batch_size=3", "explain.precision=fp32"]


def tiny_overrides(name: str) -> list[str]:
    """--set overrides for a suite's tiny_options (values as JSON, which YAML reads back as written)."""
    return [f"suites.{name}.{key}={json.dumps(value)}" for key, value in SUITES.get(name).tiny_options.items()]


@pytest.fixture(scope="module")
def tiny_parts():
    classifier = tiny_classifier()
    decoder = tiny_decoder("prefix")
    tokens, dim = classifier.feature_shape
    translator = tiny_translator("mlp_bn", TranslatorShape(tokens, dim, 3, decoder.conditioning_dim)).eval()
    return classifier, decoder, translator


def tiny_context(config, parts, root: Path) -> RunContext:
    classifier, decoder, translator = parts
    return RunContext(
        config, torch.device("cpu"), classifier, FeatureCache(root / "features", classifier), translator,
        "test:untrained-translator", lambda: decoder, progress=False, explain_precision="fp32", cache_root=root / "cache",
    )


def check_contract(name: str, suite_config, context, out_dir: Path) -> dict:
    """Run the suite through execute and check what every suite promises; returns its summary."""
    suite_class = SUITES.get(name)
    assert suite_class.name == name, f"suite registered as '{name}' calls itself '{suite_class.name}'"
    assert isinstance(suite_class.version, int) and suite_class.version >= 1
    assert isinstance(suite_config, suite_class.config_class)
    suite = suite_class(suite_config)
    out_dir.mkdir(parents=True)
    summary = suite.execute(context, out_dir)
    metrics = summary["metrics"]
    assert metrics, f"suite '{name}' computed no metrics on the tiny world"

    records = [json.loads(line) for line in (out_dir / "records.jsonl").read_text().splitlines()]
    assert records, f"suite '{name}' wrote no records"
    assert all(isinstance(r, dict) and isinstance(r.get("image_id"), str) and r["image_id"] for r in records)
    assert len({r["image_id"] for r in records}) == len(records), "one record per image: image ids repeat"
    for record in records:
        for metric, value in record.get("per_image_metrics", {}).items():
            assert isinstance(value, (int, float)) and not isinstance(value, bool), (record["image_id"], metric, value)

    # Pure: an instance that never ran, given only the saved records, computes the same metrics (twice).
    fresh = suite_class(suite_config)
    assert fresh.aggregate(records) == metrics
    assert fresh.aggregate(records) == metrics

    undefined = [m for m in metrics if not any(matches_metric(m, pattern) for pattern in suite.definitions)]
    assert not undefined, f"suite '{name}': metrics without a definition: {undefined}"
    directions = suite.higher_is_better
    undirected = [m for m, v in metrics.items() if isinstance(v, float) and m not in directions]
    assert not undirected, f"suite '{name}': rates or scores without a direction in higher_is_better: {undirected}"
    assert all(isinstance(v, bool) for v in directions.values())
    assert suite_class.headline, f"suite '{name}' names no headline metrics for `texplain run` to print"
    unmatched = [p for p in suite_class.headline if not any(matches_metric(m, p) for m in metrics)]
    assert not unmatched, f"suite '{name}': headline patterns that name no metric it computes: {unmatched}"
    return summary


@pytest.mark.parametrize("name", SUITES.names())
def test_every_suite_keeps_the_contract_on_a_tiny_world(name, tiny_parts, tmp_path):
    config = load_config("quickstart", TINY_SAMPLING + tiny_overrides(name))
    suite_config = getattr(config.suites, name)
    for key, value in SUITES.get(name).tiny_options.items():
        assert getattr(suite_config, key) == value  # the overrides reached the suite's own config class
    summary = check_contract(name, suite_config, tiny_context(config, tiny_parts, tmp_path), tmp_path / "out")
    # The suites that train models say where their time went, per step (the default run's budget is read from it).
    expected_steps = {"generative_latents": {"prepare", "stand_in_vae", "latent_translator", "stand_in_captioner", "explain_latents", "scoring"},
                      "waterbirds": {"data", "erm", "translator", "explain_train", "class_cam"}}.get(name, set())
    seconds = summary["details"].get("seconds", {}) if expected_steps else {}
    assert expected_steps <= set(seconds), (name, sorted(seconds))
    assert all(isinstance(v, float) and v >= 0 for v in seconds.values())
    if name == "generative_latents":
        # The stand-in captioner samples only the captions it keeps (num_captions), not the run's num_sentences.
        captioned = [json.loads(line) for path in tmp_path.rglob("samples_captioner.jsonl") for line in path.read_text().splitlines()]
        assert captioned and all(len(r["sentences"]) == suite_config.num_captions for r in captioned)
        assert suite_config.num_captions != config.sampling.num_sentences


def test_there_are_suites():
    # The test above is parametrized over the registry; with none registered it would pass vacuously.
    assert SUITES.names()


def test_headline_of_only_bg_prints_what_it_printed_before():
    """The CLI used to pick these by hard-coded prefixes; the suite's own headline picks the same."""
    metrics = {"acc.original": 0.9, "acc.only_bg_t": 0.5, "acc.mixed_same": 0.8, "acc.mixed_rand": 0.7, "keep_rate": 0.4,
               "kept": 0.3, "bg_gap": 0.1, "recall_at_k.shortcut": 0.75, "recall_at_k.balanced": 0.25,
               "recall_at_k.difference": 0.5, "balanced.keep_rate": 0.2, "balanced.acc.original": 0.9, "num_images": 8}
    prefixes = ("recall_at_k", "keep_rate", "acc.original", "acc.only_bg_t", "bg_gap")
    before = {k: v for k, v in metrics.items() if k.startswith(prefixes)}
    assert suite_headlines({"only_bg": metrics}) == ["  suite only_bg: " + ", ".join(f"{k} {v:.3f}" for k, v in sorted(before.items()))]


# --- a suite in a module of its own, added at test time ------------------------------------------------

PROBE = "contract_probe"
PROBE_MODULE = '''
    """A suite that exists only for tests/test_suite_contract.py: one module and nothing else."""

    from dataclasses import dataclass
    from pathlib import Path

    from contracts.suite import SUITES, Suite


    @dataclass(frozen=True)
    class ProbeConfig:
        enabled: bool = True
        folder: str = "/nonexistent/probe-data"
        threshold: float = 0.5
        num_images: int = 3


    @SUITES.register("contract_probe")
    class ProbeSuite(Suite):
        name = "contract_probe"
        config_class = ProbeConfig
        definitions = {"hits": "share of images hit", "score.<part>": "the threshold, per part", "num_images": "images scored"}
        higher_is_better = {"hits": True, "score.a": False, "score.b": False}
        headline = ("hits", "score.<part>")
        tiny_options = {"num_images": 2}

        @classmethod
        def preflight(cls, config):
            if Path(config.folder).is_dir():
                return []
            return [f"suites.contract_probe.folder: {config.folder} is not a folder; fix the path"]

        def run(self, context, work_dir):
            for i in range(self.config.num_images):
                yield {"image_id": f"probe/{i}", "hit": i % 2 == 0, "per_image_metrics": {"hits": float(i % 2 == 0)}}

        def aggregate(self, records):
            hits = [r["hit"] for r in records]
            return {"hits": sum(hits) / len(hits), "score.a": self.config.threshold, "score.b": 1.0, "num_images": len(records)}
'''


@pytest.fixture
def probe_suite(tmp_path, monkeypatch):
    """The probe module in a folder of its own, added to the suites package's search path and found by
    discover() as a new file in suites/ would be; unregistered again afterwards."""
    folder = tmp_path / "more_suites"
    folder.mkdir()
    (folder / f"{PROBE}.py").write_text(textwrap.dedent(PROBE_MODULE))
    monkeypatch.setattr(suites, "__path__", [*suites.__path__, str(folder)])
    try:
        assert PROBE in suites.discover()
        assert PROBE in SUITES.names()
        yield SUITES.get(PROBE)
    finally:
        if PROBE in SUITES:
            SUITES.unregister(PROBE)
        # Registering a suite also registered its metrics (contracts/suite.py); forget those too.
        METRICS.remove_namespace(f"{PROBE}.")
        sys.modules.pop(f"suites.{PROBE}", None)


def test_a_new_suite_module_is_read_by_config(probe_suite):
    config = load_config("quickstart")
    assert config.suites.contract_probe == probe_suite.config_class()
    assert to_dict(config)["suites"][PROBE] == {"enabled": True, "folder": "/nonexistent/probe-data", "threshold": 0.5, "num_images": 3}
    assert to_dict(config)["suites"]["only_bg"] == to_dict(load_config("quickstart"))["suites"]["only_bg"]
    # The suites the quickstart enables besides the probe (only_bg among them), in registry order.
    others = [s.name for s in enabled_suites(load_config("quickstart", ["suites.contract_probe.enabled=false"]))]
    assert "only_bg" in others and [s.name for s in enabled_suites(config)] == sorted([PROBE, *others])

    changed = load_config("quickstart", ["suites.contract_probe.threshold=1", "suites.contract_probe.enabled=false"])
    assert changed.suites.contract_probe.threshold == 1.0 and isinstance(changed.suites.contract_probe.threshold, float)
    assert [s.name for s in enabled_suites(changed)] == others
    assert dataclasses.replace(changed.suites, contract_probe=probe_suite.config_class()) == config.suites

    with pytest.raises(ConfigError, match=r"suites.contract_probe.num_images: expected int, got 'many'"):
        load_config("quickstart", ["suites.contract_probe.num_images=many"])
    with pytest.raises(ConfigError, match=r"unknown config key 'suites.contract_probe.treshold'. Did you mean 'threshold'"):
        load_config("quickstart", ["suites.contract_probe.treshold=1"])
    with pytest.raises(ConfigError, match=r"unknown config key 'suites.contract_prob'. Did you mean 'contract_probe'"):
        load_config("quickstart", ["suites.contract_prob.threshold=1"])


def test_a_new_suite_module_is_checked_by_preflight(probe_suite, monkeypatch, tmp_path):
    monkeypatch.setattr(preflight_module, "hub_reachable", lambda: False)
    with pytest.raises(ConfigError, match=r"suites.contract_probe.folder: /nonexistent/probe-data is not a folder"):
        preflight(load_config("quickstart"))
    preflight(load_config("quickstart", [f"suites.contract_probe.folder={tmp_path}"]))
    preflight(load_config("quickstart", ["suites.contract_probe.enabled=false"]))  # a disabled suite is not checked


def test_a_new_suite_module_keeps_the_contract_and_its_headline_is_printed(probe_suite, tmp_path):
    config = load_config("quickstart", tiny_overrides(PROBE))
    context = SimpleNamespace(config=config)  # the probe reads nothing from the run
    summary = check_contract(PROBE, config.suites.contract_probe, context, tmp_path / "out")
    assert summary["metrics"] == {"hits": 0.5, "score.a": 0.5, "score.b": 1.0, "num_images": 2}
    assert suite_headlines({PROBE: summary["metrics"]}) == ["  suite contract_probe: hits 0.500, score.a 0.500, score.b 1.000"]


def test_a_suite_without_a_config_class_is_refused_by_name():
    from contracts.suite import Suite

    class Bare(Suite):
        name = "bare"

        def run(self, context, work_dir):
            return iter(())

        def aggregate(self, records):
            return {}

    with SUITES.registered("bare", Bare):
        with pytest.raises(ConfigError, match=r"suite 'bare' \(.*Bare\): config_class must be a frozen dataclass"):
            load_config("quickstart")
    assert "bare" not in SUITES
    METRICS.remove_namespace("bare.")  # registering it also registered its (empty) metrics namespace
