"""The metrics registry (contracts/metrics.py): every registered metric, the explain.* ones and
every suite's, has a real definition and a direction; names and templates resolve; suites' tables turn
into entries; and every metric a run writes is registered. Parametrized over the registry, so a metric
registered tomorrow is checked without anyone editing this file."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from contracts.metrics import HIGHER, LOWER, METRICS, NONE, Metric, MetricRegistry, all_metrics, suite_metrics
from harness.reporting.run_reader import RENAMED_METRICS
from texplain.errors import UnknownNameError
from texplain.words import word_stats

REGISTERED = all_metrics().entries()
QUICKSTART = Path(__file__).resolve().parent.parent / "results" / "quickstart"


@pytest.mark.parametrize("metric", REGISTERED, ids=[m.name for m in REGISTERED])
def test_every_registered_metric_has_a_definition_and_a_direction(metric):
    assert metric.direction in (HIGHER, LOWER, NONE)
    definition = metric.definition
    # A one-line sentence of what is computed: not empty, not the name again, not a placeholder.
    assert "\n" not in definition and definition == definition.strip()
    assert len(definition.split()) >= 4, definition
    assert definition.lower() not in (metric.name.lower(), metric.name.split(".")[-1].lower())
    # Named after what it computes: no k of one setting's value in the name (the old *_top5_rate).
    assert not re.search(r"(top|_at_?)\d", metric.name), metric.name
    if metric.per_image is not None:
        # compare gives a verdict on per-image metrics: they need a direction.
        assert metric.direction != NONE
        value = metric.per_image({"object": "boat", "background": "water"}, ["boat", "sky"], word_stats(["a boat on the sea", "a boat"]))
        assert isinstance(value, float) and 0.0 <= value <= 1.0


def test_explain_metrics_carry_their_per_image_functions():
    per_image = [m.name for m in METRICS.per_image_metrics("explain.")]
    assert per_image == ["explain.object_in_top_k_rate", "explain.background_in_top_k_rate", "explain.object_doc_freq_mean", "explain.background_doc_freq_mean"]
    stats = word_stats(["a boat on the water", "a red boat", "the sky"])
    values = {m.name: m.per_image({"object": "boat", "background": "water"}, ["boat", "red"], stats) for m in METRICS.per_image_metrics("explain.")}
    assert values == {"explain.object_in_top_k_rate": 1.0, "explain.background_in_top_k_rate": 0.0,
                      "explain.object_doc_freq_mean": pytest.approx(2 / 3), "explain.background_doc_freq_mean": pytest.approx(1 / 3)}


def test_names_and_templates_resolve_and_unknown_names_suggest():
    registry = all_metrics()
    assert registry.find("only_bg.acc.mixed_rand").name == "only_bg.acc.<variation>"
    assert registry.find("only_bg.balanced.acc.original").name == "only_bg.balanced.acc.<variation>"
    assert registry.find("only_bg.acc.mixed.rand") is None  # a placeholder stands for one dotted part
    assert registry.find("only_bg.recall_at_k.shortcut").higher_is_better is True
    assert registry.find("only_bg.keep_rate").direction == LOWER
    with pytest.raises(UnknownNameError, match="Did you mean 'explain.object_in_top_k_rate'"):
        registry.lookup("explain.object_in_topk_rate")
    assert registry.higher_is_better(["explain.object_in_top_k_rate", "explain.num_images", "nope"]) == {"explain.object_in_top_k_rate": True}
    assert set(registry.definitions(["explain.top_k", "nope"])) == {"explain.top_k"}


def test_old_names_map_to_registered_metrics():
    for old, new in RENAMED_METRICS.items():
        assert METRICS.find(old) is None and METRICS.find(new) is not None, (old, new)


def test_every_metric_the_quickstart_wrote_is_registered():
    # The committed reference run (format 1, old names), read under the current names.
    main = json.loads((QUICKSTART / "metrics.json").read_text())["metrics"]
    suite = json.loads((QUICKSTART / "suites" / "only_bg" / "metrics.json").read_text())["metrics"]
    names = [RENAMED_METRICS.get(name, name) for name in main] + [f"only_bg.{name}" for name in suite]
    assert [name for name in names if all_metrics().find(name) is None] == []


def test_a_suite_table_becomes_registry_entries():
    entries = suite_metrics(
        "demo",
        {"acc.<variation>": "accuracy of the probe on that variation", "gap": "acc(a) - acc(b), a difference of accuracies",
         "count": "images scored in the variation"},
        {"acc.a": True, "acc.b": True, "gap": False},
    )
    assert [(m.name, m.direction) for m in entries] == [("demo.acc.<variation>", HIGHER), ("demo.gap", LOWER), ("demo.count", NONE)]
    with pytest.raises(ValueError, match="'demo': gap has a direction in higher_is_better but no entry in definitions"):
        suite_metrics("demo", {"acc.<variation>": "accuracy of the probe"}, {"acc.a": True, "gap": False})
    with pytest.raises(ValueError, match="disagree on higher_is_better"):
        suite_metrics("demo", {"acc.<variation>": "accuracy of the probe"}, {"acc.a": True, "acc.b": False})


def test_registration_errors_are_clear():
    registry = MetricRegistry("metric")
    registry.add(Metric("x.rate", "share of images where something holds", HIGHER))
    with pytest.raises(ValueError, match="registered twice"):
        registry.add(Metric("x.rate", "another definition of the rate", HIGHER))
    with pytest.raises(ValueError, match="has no definition"):
        Metric("x.empty", " ", HIGHER)
    with pytest.raises(ValueError, match="use 'higher', 'lower' or 'none'"):
        Metric("x.up", "share of images going up", "up")


def test_a_suite_defined_again_replaces_its_table_and_a_bad_table_fails_every_read():
    registry = MetricRegistry("metric")
    registry.add_namespace("demo.", lambda: [Metric("demo.old", "the first table's only metric", NONE)])
    assert registry.names() == ["demo.old"]
    registry.add_namespace("demo.", lambda: [Metric("demo.new", "the second table's only metric", NONE)])
    assert registry.names() == ["demo.new"]

    def bad():
        return suite_metrics("broken", {}, {"rate": True})

    registry.add_namespace("broken.", bad)
    for _ in range(2):  # still pending, so it fails again rather than leaving the suite silently out
        with pytest.raises(ValueError, match="'broken': rate has a direction"):
            registry.names()
    with pytest.raises(ValueError, match="cannot be named 'explain'"):
        registry.add_namespace("explain.", lambda: [])


def test_a_suite_registered_for_a_test_brings_its_metrics_and_takes_them_away():
    from contracts.suite import SUITES, Suite

    class Demo(Suite):
        name = "demo_for_registry_test"
        definitions = {"hit_rate": "share of images the demo suite hits", "num_images": "images the demo suite scored"}
        higher_is_better = {"hit_rate": True}

        def run(self, context, work_dir):
            return iter(())

        def aggregate(self, records):
            return {}

    SUITES.register(Demo.name)(Demo)
    try:
        assert all_metrics().find("demo_for_registry_test.hit_rate").direction == HIGHER
        assert all_metrics().find("demo_for_registry_test.num_images").direction == NONE
    finally:
        SUITES.unregister(Demo.name)
    assert all_metrics().find("demo_for_registry_test.hit_rate") is None
