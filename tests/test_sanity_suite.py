"""The sanity suite (suites/sanity.py): LEACE per token position on constructed features, the verdict rows on
constructed records (a faithful and an unfaithful erased translator, an unmet gate), and the suite through a
run's context (training data and held-out explanations set, as harness/pipeline/run.py sets them) on tiny
random-weight parts. The suite on a bare context (its own world) is tests/test_suite_contract.py's."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from tiny_models import tiny_classifier, tiny_decoder, tiny_translator

from contracts.intervals import intervals_of
from contracts.run_context import CaptionedFeatures, TrainingData
from contracts.verdicts import FAIL, INCONCLUSIVE, PASS
from harness.config import load_config
from harness.pipeline.context import RunContext
from harness.pipeline.stages import StageStore
from harness.worlds.default_world import make_world
from harness.worlds.scene import WorldSpec
from suites.sanity import (
    ERASED,
    NO_TRUTH,
    PRIOR,
    PROBES,
    SanityConfig,
    SanitySuite,
    arm_record,
    erase_per_position,
    probe_accuracies,
)
from texplain.feature_cache import FeatureCache
from texplain.translators import TranslatorShape

# ---- LEACE per position ---------------------------------------------------------------------------------

STEPS = 100  # probe steps: enough for these small problems, and seconds on 2 cores


def _planted(n: int = 400, seed: int = 0):
    """Tokens (n, 3, 8): the erased concept shifts the mean of position 1 along one coordinate, an independent
    concept shifts position 2 along another; everything else is noise."""
    rng = np.random.default_rng(seed)
    erased, kept = rng.integers(0, 2, n), rng.integers(0, 2, n)
    tokens = rng.normal(0.0, 1.0, (n, 3, 8))
    tokens[:, 1, 0] += 6.0 * erased
    tokens[:, 2, 3] += 6.0 * kept
    return torch.tensor(tokens, dtype=torch.float32), [["water", "grass"][z] for z in erased], [["boat", "car"][z] for z in kept]


def test_leace_per_position_leaves_no_linear_trace_and_keeps_the_other_concept():
    tokens, labels, other = _planted()
    fit, evaluate = list(range(200)), list(range(200, 400))
    before = probe_accuracies(tokens, labels, fit, evaluate, steps=STEPS)
    assert set(before) == set(PROBES)
    assert before["linear_flat"]["accuracy"] > 0.95 and before["linear_flat"]["above_chance"]

    erased = erase_per_position(tokens, labels, fit)
    assert erased.shape == tokens.shape and erased.dtype == tokens.dtype
    # On the fitted items the class-conditional means are equal at every position, hence of the flattened tokens.
    z = np.array(labels)[fit]
    flat = erased[fit].reshape(len(fit), -1).double()
    gap = flat[torch.as_tensor(z == "water")].mean(0) - flat[torch.as_tensor(z == "grass")].mean(0)
    assert gap.abs().max() < 1e-4

    after = probe_accuracies(erased, labels, fit, evaluate, steps=STEPS)
    for probe in ("linear_flat", "linear_mean"):
        entry = after[probe]
        low, high = entry["interval"]
        assert entry["at_chance"] and not entry["above_chance"], (probe, entry)
        assert low <= entry["chance"] <= high
        water = float(np.mean(np.array(labels)[evaluate] == "water"))
        assert entry["chance"] == pytest.approx(max(water, 1 - water))
    # The other concept, planted in another position and direction, is as decodable as before.
    kept = probe_accuracies(erased, other, fit, evaluate, steps=STEPS)
    assert kept["linear_flat"]["accuracy"] > 0.95 and kept["linear_flat"]["above_chance"]


def test_erasure_keeps_the_dtype_and_a_constant_concept_changes_nothing():
    tokens, labels, _ = _planted(60)
    half = tokens.to(torch.float16)
    assert erase_per_position(half, labels, list(range(40))).dtype == torch.float16
    constant = ["water"] * 60
    assert torch.equal(erase_per_position(tokens, constant, list(range(40))), tokens)
    probes = probe_accuracies(tokens, constant, list(range(40)), list(range(40, 60)))
    assert all(entry["accuracy"] is None and entry["chance"] == 1.0 for entry in probes.values())


def test_a_flattened_probe_on_more_inputs_than_images_reads_the_row_space():
    """T*D > training images: the linear probe is fitted in the span of the training rows (same probe)."""
    rng = np.random.default_rng(3)
    z = rng.integers(0, 3, 90)
    tokens = rng.normal(0.0, 1.0, (90, 10, 12))
    tokens[:, 4, :3] += 3.0 * np.eye(3)[z]
    labels = [["sand", "snow", "road"][k] for k in z]
    result = probe_accuracies(torch.tensor(tokens, dtype=torch.float32), labels, list(range(60)), list(range(60, 90)), steps=STEPS)
    assert result["linear_flat"]["accuracy"] > 0.8 and result["linear_flat"]["above_chance"]


# ---- verdicts on constructed records ---------------------------------------------------------------------


def _records(n: int, texplain_c: list[bool], erased_c: list[bool], prior_c: list[bool], erased_o: list[bool] | None = None,
             limit: int | None = None) -> list[dict]:
    """Records of the background arm: TExplain names the object of every image; the erased translator names the
    object where erased_o says (default: always)."""
    erased_o = erased_o if erased_o is not None else [True] * n
    probes = {side: {p: {"accuracy": None, "chance": 0.5, "n": 0, "reason": "constructed"} for p in PROBES} for side in ("before", "after")}
    facts = {"limit": limit, "top_k": 5, "min_doc_freq": 0.0, "standalone": False, "fit_items": 100, "eval_items": n, "positions": 3,
             "classes": ["grass", "water"]}
    records = []
    for i in range(n):
        truth = {"background": "water", "object": "boat"}
        texplain = ["boat"] + (["water"] if texplain_c[i] else [])
        erased = (["boat"] if erased_o[i] else []) + (["water"] if erased_c[i] else [])
        prior = ["boat", "red"] + (["water"] if prior_c[i] else [])
        records.append(arm_record("background", str(i), truth, texplain, erased, prior, probes, facts))
    return records


def _rows(records: list[dict]) -> dict[str, dict]:
    suite = SanitySuite(SanityConfig(arms=("background",)))
    rows = suite.verdicts(records, {})
    assert [r["metric"] for r in rows] == ["sanity.erase_background.background_falls", "sanity.erase_background.object_holds"]
    json.dumps(rows)  # rows are JSON as metrics.json keeps them
    return {r["metric"].rsplit(".", 1)[1]: r for r in rows}


N = 40
PRIOR_SOME = [i % 10 == 0 for i in range(N)]  # the kept object predicts the background for 4 of 40 images


def test_a_faithful_erased_translator_passes_both():
    # Stops naming the background, keeps naming the object.
    records = _records(N, [True] * N, [False] * N, PRIOR_SOME)
    rows = _rows(records)
    falls, holds = rows["background_falls"], rows["object_holds"]
    assert falls["verdict"] == PASS, falls["reason"]
    assert holds["verdict"] == PASS, holds["reason"]
    (comparison,) = falls["comparisons"]
    assert comparison["control"] == ERASED and comparison["difference"] == 1.0 and comparison["low"] > 0
    assert falls["ceilings"] == {PRIOR: 0.1}
    assert holds["min_effect"] == 0.1 and -0.1 <= holds["comparisons"][0]["low"] <= holds["comparisons"][0]["high"] <= 0.1
    # The rates are means of per-image values, so they get intervals.
    metrics = SanitySuite(SanityConfig(arms=("background",))).aggregate(records)
    intervals = intervals_of(metrics, records)
    for name in ("texplain_background_rate", "erased_background_rate", "erased_object_rate", "background_drop", "erased_background_over_prior"):
        assert f"erase_background.{name}" in intervals or metrics[f"erase_background.{name}"] in (0.0, 1.0)
    assert metrics["erase_background.background_drop"] == 1.0 and metrics["erase_background.num_images"] == N


def test_an_explainer_that_keeps_naming_the_erased_concept_fails():
    # It names the background after erasure as often as before: it reads the caption prior, not the features.
    records = _records(N, [True] * N, [True] * N, PRIOR_SOME)
    rows = _rows(records)
    falls = rows["background_falls"]
    assert falls["verdict"] == FAIL, falls["reason"]
    assert falls["comparisons"][0]["as_good"] is True and falls["comparisons"][0]["high"] < 0.05
    assert "did not stop" in falls["reason"]
    assert rows["object_holds"]["verdict"] == PASS


def test_naming_it_above_the_kept_concept_prior_is_not_a_pass():
    # Naming falls (1 -> 0.5) but stays far above what the kept object predicts (0.1).
    records = _records(N, [True] * N, [i % 2 == 0 for i in range(N)], PRIOR_SOME)
    falls = _rows(records)["background_falls"]
    assert falls["verdict"] == INCONCLUSIVE and "kept-concept prior" in falls["reason"]


def test_losing_the_kept_concept_fails_holds():
    records = _records(N, [True] * N, [False] * N, PRIOR_SOME, erased_o=[False] * N)
    holds = _rows(records)["object_holds"]
    assert holds["verdict"] == FAIL, holds["reason"]


@pytest.mark.parametrize("case", ["gate", "smoke", "few"])
def test_an_unmet_gate_a_smoke_run_or_few_images_is_inconclusive(case):
    if case == "gate":
        records = _records(N, [i % 2 == 0 for i in range(N)], [False] * N, PRIOR_SOME)  # names the background for 0.5 < 0.9
        expected = "does not name background to begin with"
    elif case == "smoke":
        records = _records(N, [True] * N, [False] * N, PRIOR_SOME, limit=3)
        expected = "smoke run"
    else:
        records = _records(6, [True] * 6, [False] * 6, [False] * 6)
        expected = "6 images"
    for row in _rows(records).values():
        assert row["verdict"] == INCONCLUSIVE and expected in row["reason"], row["reason"]


def test_data_without_truth_yields_no_records_and_inconclusive_verdicts(tmp_path):
    config = load_config("quickstart")
    tokens = torch.zeros(6, 2, 4)
    source = CaptionedFeatures(tokens, [["a boat"]] * 6, {"model": "none"}, {"data": "none"})
    training = TrainingData(source, (), (4, 5), (2, 3), (0, 1), (), tuple(str(i) for i in range(6)), (None,) * 6)
    context = SimpleNamespace(config=config, training=training, held_out_sentences={}, has_store=True, limit=None)
    summary = SanitySuite(config.suites.sanity).execute(context, tmp_path)
    assert (tmp_path / "records.jsonl").read_text() == ""
    assert summary["metrics"] == {"num_images": 0}
    assert summary["details"]["reason"] == NO_TRUTH
    assert [r["metric"] for r in summary["verdicts"]] == ["sanity.erase_background.background_falls", "sanity.erase_background.object_holds",
                                                          "sanity.erase_object.object_falls", "sanity.erase_object.background_holds"]
    assert all(r["verdict"] == INCONCLUSIVE and "the data has no truth" in r["reason"] for r in summary["verdicts"])
    assert json.loads((tmp_path / "metrics.json").read_text())["verdicts"][0]["n"] == 0


# ---- through a run's context -----------------------------------------------------------------------------


def test_the_suite_in_a_run_uses_its_training_data_and_explanations_and_resumes(tmp_path):
    """A context as harness/pipeline/run.py leaves it (training data, held-out explanations, a stage store):
    the suite erases, retrains and explains through it; a second run reuses every stage and gives the same records."""
    classifier, decoder = tiny_classifier(), tiny_decoder("prefix")
    shape = classifier.feature_shape
    translator = tiny_translator("mlp_bn", TranslatorShape(shape[0], shape[1], 3, decoder.conditioning_dim)).eval()
    overrides = ["sampling.num_sentences=3", "sampling.min_words=3", "sampling.max_words=6", "sampling.batch_size=3",
                 "explain.precision=fp32", "train.epochs=1", "suites.sanity.probe_steps=50"]
    config = load_config("quickstart", overrides)
    spec = WorldSpec(num_images=36, image_size=64, seed=0)
    world = make_world(spec, tmp_path / "world", progress=False)
    paths = [tmp_path / "world" / "images" / f"{s.image_id}.png" for s in world]
    cache = FeatureCache(tmp_path / "features", classifier)
    tokens = cache.extract(paths, progress=False).tokens
    source = CaptionedFeatures(tokens, [[s.caption] for s in world], classifier.identity(), {"world": spec.to_json()})
    held, val, train = tuple(range(12)), tuple(range(12, 18)), tuple(range(18, 36))
    truth = tuple({"object": s.object_class, "background": s.background, "color": s.color} for s in world)
    ids = tuple(s.image_id for s in world)
    # The run's own explanations name each image's object and background: the gate is met.
    held_out = {ids[i]: [f"a {truth[i]['object']} on the {truth[i]['background']} ."] * 3 for i in held}

    def no_decoder():
        raise AssertionError("a rerun of finished stages must not load the language model")

    def run_once(out: Path, load_decoder=lambda: decoder) -> dict:
        context = RunContext(config, torch.device("cpu"), classifier, cache, translator, "test:untrained-translator", load_decoder,
                             progress=False, explain_precision="fp32", cache_root=tmp_path / "cache", store=StageStore(tmp_path / "stages"))
        context.training = TrainingData(source, tuple(paths), train, val, held, (), ids, truth)
        context.held_out_sentences = held_out
        out.mkdir(parents=True)
        return SanitySuite(config.suites.sanity).execute(context, out)

    summary = run_once(tmp_path / "first")
    records = [json.loads(line) for line in (tmp_path / "first" / "records.jsonl").read_text().splitlines()]
    assert len(records) == 2 * len(held) and {r["arm"] for r in records} == {"background", "object"}
    metrics = summary["metrics"]
    assert metrics["erase_background.texplain_background_rate"] == 1.0 and metrics["erase_object.texplain_object_rate"] == 1.0
    assert summary["stand_in"] == "the run's synthetic world (harness/worlds), not real images"
    assert "erase_background.erased_background_rate" in summary["intervals"] or metrics["erase_background.erased_background_rate"] in (0.0, 1.0)
    rows = {r["metric"]: r for r in summary["verdicts"]}
    assert set(rows) == {"sanity.erase_background.background_falls", "sanity.erase_background.object_holds",
                         "sanity.erase_object.object_falls", "sanity.erase_object.background_holds"}
    for row in rows.values():
        assert row["n"] == len(held) and row["verdict"] in (PASS, FAIL, INCONCLUSIVE)
        assert "to begin with" not in row["reason"] and "smoke" not in row["reason"]
    assert [t["title"].split(" (")[0] for t in summary["tables"]] == ["Erasing background", "Erasing object"]
    stages = sorted(p.name.rsplit("-", 1)[0] for p in (tmp_path / "stages").iterdir())
    assert stages == ["sanity-erase-background", "sanity-erase-background-explain", "sanity-erase-object", "sanity-erase-object-explain"]
    # Probes are scored on validation and held-out items only.
    assert records[0]["facts"]["eval_items"] == len(val) + len(held) and records[0]["facts"]["fit_items"] == len(train)

    again = run_once(tmp_path / "second", no_decoder)
    assert again["metrics"] == metrics
    assert [json.loads(line) for line in (tmp_path / "second" / "records.jsonl").read_text().splitlines()] == records
