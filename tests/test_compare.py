"""`texplain compare`: deltas, paired bootstrap intervals, word overlap, thresholds and exit codes, on
two small run directories written by the test (tests/fake_runs.py; no models)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from fake_runs import CLASSES, METRICS, make_run

from harness.metrics.bootstrap import paired_bootstrap
from harness.cli.main import main
from harness.reporting.compare import compare_runs, parse_threshold
from harness.reporting.run_reader import read_run
from texplain.errors import TExplainError

N = 40


def _values(seed: int, shift: float = 0.0) -> dict[str, list[float]]:
    rng = np.random.default_rng(seed)
    base = rng.uniform(0.2, 0.8, N)
    return {m: list(np.clip(base + shift, 0, 1)) for m in METRICS}


@pytest.fixture
def runs(tmp_path):
    base = _values(1)
    worse = {m: [v - 0.1 for v in values] for m, values in base.items()}  # B is 0.1 below A on every image
    a = make_run(tmp_path, "a", N, per_image=base, suites={"only_bg": {"per_image": {"keep_rate": list(base[METRICS[0]])}, "paper": {"keep_rate": "Fig. 5"}}})
    b = make_run(tmp_path, "b", N, per_image=worse, suites={"only_bg": {"per_image": {"keep_rate": list(base[METRICS[0]])}}})
    same = make_run(tmp_path, "same", N, per_image=base, suites={"only_bg": {"per_image": {"keep_rate": list(base[METRICS[0]])}}})
    return a, b, same


def test_identical_runs_give_zero_delta_and_zero_interval(runs):
    a, _, same = runs
    comparison = compare_runs(read_run(a), read_run(same), resamples=200)
    assert comparison.matched_images == N
    with_interval = {row.name for row in comparison.metrics if row.n is not None}
    assert with_interval == set(METRICS) | {"only_bg.keep_rate"}
    for row in comparison.metrics:
        # Per-image metrics: a zero interval; run-level values (counts, the baseline): no interval at all.
        expected = (0.0, 0.0, 0.0) if row.name in with_interval else (0.0, None, None)
        assert (row.delta, row.ci_low, row.ci_high) == expected, row
        assert row.verdict == "no change"
    assert {row.name for row in comparison.metrics} - with_interval == {"explain.chance_object_in_top_k_rate", "explain.num_images", "explain.top_k"}
    assert all(o.jaccard == 1.0 for o in comparison.word_overlap)


def test_known_shift_is_covered_and_marked_as_regression(runs):
    a, b, _ = runs
    comparison = compare_runs(read_run(a), read_run(b), resamples=500)
    row = comparison.metric("explain.object_in_top_k_rate")
    assert row.delta == pytest.approx(-0.1)
    assert row.ci_low <= -0.1 <= row.ci_high
    assert row.verdict == "regression"
    assert comparison.metric("only_bg.keep_rate").verdict == "no change"


def test_bootstrap_interval_covers_a_noisy_shift_and_is_reproducible():
    rng = np.random.default_rng(3)
    a = rng.normal(0.5, 0.2, 300)
    b = a + 0.05 + rng.normal(0, 0.1, 300)
    first = paired_bootstrap(a, b, resamples=2000, seed=7)
    assert first.low < 0.05 < first.high
    assert first.low > 0.0  # a clear shift: the interval excludes 0
    assert paired_bootstrap(a, b, resamples=2000, seed=7) == first
    # The paired interval's width matches the normal approximation sd(d)/sqrt(n).
    expected = 2 * 1.96 * np.std(b - a, ddof=1) / np.sqrt(a.size)
    assert first.high - first.low == pytest.approx(expected, rel=0.15)


def test_exit_codes_follow_thresholds(runs, tmp_path, capsys):
    a, b, same = runs
    out = tmp_path / "cmp.json"
    assert main(["compare", str(a), str(b), "--bootstrap", "100", "--fail-if", "explain.object_in_top_k_rate<-0.02", "--out", str(out)]) == 1
    printed = capsys.readouterr().out
    assert "REGRESSION" in printed and "CROSSED" in printed and f"matched {N} images" in printed
    saved = json.loads(out.read_text())
    assert saved["failed"] is True and saved["matched_images"] == N
    assert saved["thresholds"][0]["crossed"] is True
    # The same change within a looser threshold, and a '>' threshold that is not crossed: exit 0.
    assert main(["compare", str(a), str(b), "--bootstrap", "100", "--fail-if", "explain.object_in_top_k_rate<-0.2", "--fail-if", "explain.object_in_top_k_rate>0.05"]) == 0
    assert main(["compare", str(a), str(same), "--bootstrap", "100", "--fail-if", "explain.object_in_top_k_rate<-0.02"]) == 0
    # '>' crossed: B - A = +0.1 when the runs are swapped.
    assert main(["compare", str(b), str(a), "--bootstrap", "100", "--fail-if", "explain.object_in_top_k_rate>0.05"]) == 1


def test_bad_thresholds_exit_2_with_a_suggestion(runs, capsys):
    a, b, _ = runs
    assert main(["compare", str(a), str(b), "--fail-if", "explain.object_in_top_krate<-0.02"]) == 2
    assert "Did you mean 'explain.object_in_top_k_rate'" in capsys.readouterr().err
    assert main(["compare", str(a), str(b), "--fail-if", "explain.object_in_top_k_rate=-0.02"]) == 2
    assert "METRIC<VALUE" in capsys.readouterr().err
    with pytest.raises(TExplainError):
        parse_threshold("<0.1")
    assert parse_threshold(" x.y >= 1e-2 ").value == pytest.approx(0.01)


def test_runs_on_different_images_are_refused_unless_common_only(tmp_path, capsys):
    a = make_run(tmp_path, "a", 6)
    b = make_run(tmp_path, "b", 6, image_ids=[f"img_{i:06d}" for i in range(3, 9)])
    assert main(["compare", str(a), str(b)]) == 2
    assert "3 in common" in capsys.readouterr().err
    assert main(["compare", str(a), str(b), "--common-only", "--bootstrap", "50"]) == 0
    assert "matched 3 images" in capsys.readouterr().out
    c = make_run(tmp_path, "c", 3, image_ids=["other_1", "other_2", "other_3"])
    assert main(["compare", str(a), str(c)]) == 2
    assert "no image in common" in capsys.readouterr().err


def test_missing_run_directory_exits_2(tmp_path, capsys):
    a = make_run(tmp_path, "a", 4)
    assert main(["compare", str(a), str(tmp_path / "nope")]) == 2
    assert "nope" in capsys.readouterr().err


def test_word_overlap_jaccard(tmp_path):
    words_a = {c: [c, "w1", "w2", "w3", "w4", "w5", "w6", "w7", "w8", "w9"] for c in CLASSES}
    words_b = {c: [c, "w1", "w2", "w3", "w4", "x5", "x6", "x7", "x8", "x9"] for c in CLASSES}
    a = make_run(tmp_path, "a", 6, class_words=words_a)
    b = make_run(tmp_path, "b", 6, class_words=words_b)
    comparison = compare_runs(read_run(a), read_run(b), resamples=20)
    for overlap in comparison.word_overlap:
        assert overlap.jaccard == pytest.approx(5 / 15)  # 5 shared of 15 distinct words
        assert overlap.shared == [overlap.name, "w1", "w2", "w3", "w4"]
        assert overlap.images == 2
    assert comparison.mean_jaccard == pytest.approx(1 / 3)


def test_markdown_output(runs, tmp_path):
    a, b, _ = runs
    md = tmp_path / "cmp.md"
    assert main(["compare", str(a), str(b), "--bootstrap", "50", "--markdown", str(md)]) == 0
    text = md.read_text()
    assert "| `explain.object_in_top_k_rate` |" in text and "Word-cloud overlap" in text


def test_verdict_respects_direction():
    from harness.reporting.compare import verdict

    assert verdict(-0.1, -0.15, -0.05, True) == "regression"
    assert verdict(-0.1, -0.15, -0.05, False) == "improvement"  # e.g. a lower keep rate on only_bg_t
    assert verdict(0.1, 0.05, 0.15, False) == "regression"
    assert verdict(0.02, -0.01, 0.05, True) == "within noise"
    assert verdict(0.1, 0.05, 0.15, None) == "changed"


def _headline_runs(tmp_path, shortcut_b: float):
    """Two runs whose only_bg suite reports recall_at_k.shortcut (over classes: no per-image values)."""
    def suite(recall: float) -> dict:
        # The fake run's own table calls keep_rate higher-is-better; the registry (only_bg) says lower.
        return {"only_bg": {"per_image": {"keep_rate": [1.0, 0.0] * (N // 2)},
                            "metrics": {"keep_rate": 0.5, "recall_at_k.shortcut": recall, "num_images": N},
                            "higher_is_better": {"keep_rate": True, "recall_at_k.shortcut": True}}}

    values = _values(1)
    return make_run(tmp_path, "a", N, per_image=values, suites=suite(1.0)), make_run(tmp_path, "b", N, per_image=values, suites=suite(shortcut_b))


def test_a_suite_headline_without_per_image_values_is_compared_and_gated(tmp_path, capsys):
    a, b = _headline_runs(tmp_path, shortcut_b=0.75)
    comparison = compare_runs(read_run(a), read_run(b), resamples=50)
    row = comparison.metric("only_bg.recall_at_k.shortcut")
    assert (row.n, row.ci_low, row.ci_high, row.source) == (None, None, None, "suites/only_bg/metrics.json")
    assert row.delta == pytest.approx(-0.25) and row.verdict == "lower (no interval)"
    # Direction and definition come from the registry, not from the run's own table.
    assert row.higher_is_better is True and "planted background word" in row.definition
    assert comparison.metric("only_bg.keep_rate").higher_is_better is False
    assert comparison.metric("only_bg.num_images").higher_is_better is None
    assert main(["compare", str(a), str(b), "--bootstrap", "50", "--fail-if", "only_bg.recall_at_k.shortcut<-0.1"]) == 1
    printed = capsys.readouterr().out
    assert "CROSSED  only_bg.recall_at_k.shortcut<-0.1  (delta -0.2500)" in printed
    assert main(["compare", str(a), str(b), "--bootstrap", "50", "--fail-if", "only_bg.recall_at_k.shortcut<-0.3"]) == 0
    a2, b2 = _headline_runs(tmp_path / "same", shortcut_b=1.0)
    assert main(["compare", str(a2), str(b2), "--bootstrap", "50", "--fail-if", "only_bg.recall_at_k.shortcut<-0.1"]) == 0


def test_an_old_run_compares_with_a_new_one_under_the_new_names(tmp_path, capsys):
    values = _values(1)
    worse = {m: [v - 0.1 for v in vs] for m, vs in values.items()}
    old = make_run(tmp_path, "old", N, per_image=values, old_format=True)
    new = make_run(tmp_path, "new", N, per_image=worse)
    assert "explain.object_top5_rate" in (old / "records.jsonl").read_text()  # the fixture really is old
    run = read_run(old)
    assert run.renamed == ["explain.background_top5_rate", "explain.chance_object_top5_rate", "explain.object_top5_rate"]
    assert "explain.object_in_top_k_rate" in run.metrics and "explain.object_top5_rate" not in run.metrics
    assert all("explain.object_in_top_k_rate" in r["per_image_metrics"] for r in run.records)
    assert run.intervals == {} and run.format_version == 1
    comparison = compare_runs(run, read_run(new), resamples=100)
    assert comparison.metric("explain.object_in_top_k_rate").delta == pytest.approx(-0.1)
    assert any("explain.object_top5_rate -> explain.object_in_top_k_rate" in note for note in comparison.notes)
    assert "explain.object_top5_rate" not in comparison.not_compared
    # A CI's threshold written with the old name keeps working, and says it was renamed.
    assert main(["compare", str(old), str(new), "--bootstrap", "50", "--fail-if", "explain.object_top5_rate<-0.02"]) == 1
    printed = capsys.readouterr().out
    assert "explain.object_top5_rate is now named explain.object_in_top_k_rate" in printed


def test_compare_json_says_its_format_and_harness_version(runs, tmp_path):
    from harness.pipeline.provenance import harness_version

    a, b, _ = runs
    out = tmp_path / "cmp.json"
    assert main(["compare", str(a), str(b), "--bootstrap", "20", "--out", str(out)]) == 0
    saved = json.loads(out.read_text())
    assert list(saved)[0] == "format" and saved["format"] == "texplain-compare/2"
    assert saved["harness_version"] == harness_version() != ""
    headline = {m["name"]: m for m in saved["metrics"]}["explain.num_images"]
    assert headline["ci_low"] is None and headline["n"] is None


def test_markdown_lists_definitions_from_the_registry(runs, tmp_path):
    a, b, _ = runs
    md = tmp_path / "cmp.md"
    assert main(["compare", str(a), str(b), "--bootstrap", "20", "--markdown", str(md)]) == 0
    text = md.read_text()
    # fake_runs writes "definition of <name>" into metrics.json; the registry's own definition wins.
    assert "## Definitions" in text and "definition of explain" not in text
    assert "- `explain.object_in_top_k_rate`: share of held-out images whose true object class word is among the top-k words" in text


def _verdict_row(metric: str, verdict: str, reason: str = "") -> dict:
    """A row of metrics.json "verdicts" (contracts/verdicts.py Verdict.to_json()); only what compare reads matters."""
    return {"metric": metric, "verdict": verdict, "reason": reason or f"{metric} is {verdict}", "texplain": 0.8, "n": N, "min_effect": 0.05,
            "tests": "content", "comparisons": [{"control": "image_blind", "control_value": 0.3, "difference": 0.5, "low": 0.4, "high": 0.6,
                                                 "beats": True, "as_good": False, "reason": None}],
            "ceilings": {"truth_captions": 0.9}, "images_to_decide": None}


def _set_verdicts(run, verdicts: dict[str, str] | None, empty_dict: bool = False) -> None:
    """metric -> verdict into the run's metrics.json; None: no "verdicts" key (or {} with empty_dict), as older runs."""
    metrics = json.loads((run / "metrics.json").read_text())
    metrics.pop("verdicts", None)
    if verdicts is not None:
        metrics["verdicts"] = {"format": 1, "rows": [_verdict_row(m, v, f"why {m} is {v} in {run.name}") for m, v in verdicts.items()]}
    elif empty_dict:
        metrics["verdicts"] = {}
    (run / "metrics.json").write_text(json.dumps(metrics))


OBJECT, BACKGROUND, DOC = "explain.object_in_top_k_rate", "explain.background_in_top_k_rate", "explain.object_doc_freq_mean"


def test_a_verdict_that_got_worse_is_shown_and_gated(runs, tmp_path, capsys):
    a, _, same = runs
    _set_verdicts(a, {OBJECT: "pass", BACKGROUND: "pass", DOC: "fail"})
    _set_verdicts(same, {OBJECT: "pass", BACKGROUND: "fail", DOC: "inconclusive"})
    comparison = compare_runs(read_run(a), read_run(same), resamples=20)
    by_metric = {v.metric: v for v in comparison.verdicts}
    assert set(by_metric) == {OBJECT, BACKGROUND, DOC}
    assert by_metric[BACKGROUND].worse and by_metric[BACKGROUND].text == f"{BACKGROUND}: pass -> fail (worse)"
    assert by_metric[DOC].better and not by_metric[DOC].worse
    assert not by_metric[OBJECT].changed and by_metric[OBJECT].text == f"{OBJECT}: pass (unchanged)"

    out, md = tmp_path / "cmp.json", tmp_path / "cmp.md"
    # The metric deltas are all zero: only the verdict gate can fail this comparison.
    args = ["compare", str(a), str(same), "--bootstrap", "20", "--fail-if", f"{OBJECT}<-0.02", "--out", str(out), "--markdown", str(md)]
    assert main(args + ["--fail-if", "verdict-worse"]) == 1
    printed = capsys.readouterr().out
    assert "verdicts A -> B: 2 of 3 changed (1 worse, 1 better)" in printed
    assert f"WORSE    {BACKGROUND}: pass -> fail (worse)" in printed and f"why {BACKGROUND} is fail in same" in printed
    assert f"{DOC}: fail -> inconclusive (better)" in printed
    assert printed.index(BACKGROUND + ": pass -> fail") < printed.index(OBJECT + ": pass (unchanged)")  # changed first
    assert f"CROSSED  verdict-worse  ({BACKGROUND}: pass -> fail (worse))" in printed and "FAILED: 1 threshold(s) crossed: verdict-worse" in printed
    saved = json.loads(out.read_text())
    assert saved["failed"] is True and saved["verdicts_in"] == {"A": True, "B": True}
    changed = {v["metric"]: v for v in saved["verdicts"]}
    assert changed[BACKGROUND]["a"] == "pass" and changed[BACKGROUND]["b"] == "fail" and changed[BACKGROUND]["worse"] is True
    gate = saved["thresholds"][1]
    assert gate == {"expression": "verdict-worse", "metric": None, "delta": None, "crossed": True, "kind": "verdict", "detail": f"{BACKGROUND}: pass -> fail (worse)"}
    text = md.read_text()
    assert "## Verdicts A -> B (2 of 3 changed (1 worse, 1 better)" in text
    assert f"| `{BACKGROUND}` | pass | fail | **worse** | why {BACKGROUND} is fail in same |" in text
    assert "- **crossed**: `verdict-worse`" in text

    # One metric's gate: crossed for the one that got worse, not for the one that got better or stayed.
    assert main(["compare", str(a), str(same), "--bootstrap", "20", "--fail-if", f"verdict-worse:{BACKGROUND}"]) == 1
    assert main(["compare", str(a), str(same), "--bootstrap", "20", "--fail-if", f"verdict-worse:{DOC}", "--fail-if", f" verdict-worse : {OBJECT} "]) == 0
    assert f"ok       verdict-worse:{DOC}  ({DOC}: fail -> inconclusive (better))" in capsys.readouterr().out
    # A metric without a verdict: bad input, with a suggestion.
    assert main(["compare", str(a), str(same), "--bootstrap", "20", "--fail-if", "verdict-worse:explain.object_in_top_krate"]) == 2
    assert f"Did you mean '{OBJECT}'" in capsys.readouterr().err
    # Swapped, everything that got worse got better: the gate passes.
    assert main(["compare", str(same), str(a), "--bootstrap", "20", "--fail-if", "verdict-worse"]) == 1  # DOC: inconclusive -> fail
    _set_verdicts(same, {OBJECT: "pass", BACKGROUND: "fail", DOC: "fail"})
    assert main(["compare", str(same), str(a), "--bootstrap", "20", "--fail-if", "verdict-worse"]) == 0


def test_unchanged_verdicts_pass_the_gate(runs, capsys):
    a, _, same = runs
    verdicts = {OBJECT: "pass", BACKGROUND: "inconclusive", DOC: "fail"}
    _set_verdicts(a, verdicts)
    _set_verdicts(same, verdicts)
    assert main(["compare", str(a), str(same), "--bootstrap", "20", "--fail-if", "verdict-worse", "--fail-if", f"verdict-worse:{DOC}"]) == 0
    printed = capsys.readouterr().out
    assert "verdicts A -> B: 0 of 3 changed (0 worse, 0 better)" in printed
    assert "ok       verdict-worse  (no verdict got worse)" in printed and "FAILED" not in printed


@pytest.mark.parametrize("empty_dict", [False, True], ids=["no key", "empty dict"])
def test_runs_without_verdicts_compare_and_gate_without_crashing(runs, tmp_path, capsys, empty_dict):
    a, _, same = runs
    _set_verdicts(a, None, empty_dict)
    _set_verdicts(same, None, empty_dict)
    out = tmp_path / "cmp.json"
    # Neither run has verdicts: nothing to gate, said in a note; the output has no verdict section.
    assert main(["compare", str(a), str(same), "--bootstrap", "20", "--fail-if", "verdict-worse", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "verdicts A -> B" not in printed and "neither run has verdicts" in printed
    saved = json.loads(out.read_text())
    assert saved["verdicts"] == [] and saved["verdicts_in"] == {"A": False, "B": False} and saved["failed"] is False
    assert main(["compare", str(a), str(same), "--bootstrap", "20", "--fail-if", f"verdict-worse:{OBJECT}"]) == 2
    assert "neither run has verdicts" in capsys.readouterr().err
    # Only B has them: A's are absent, which no gate counts as worse; naming the metric cannot compare it.
    _set_verdicts(same, {OBJECT: "fail"})
    assert main(["compare", str(a), str(same), "--bootstrap", "20", "--fail-if", "verdict-worse"]) == 0
    printed = capsys.readouterr().out
    assert f"{OBJECT}: absent -> fail (no verdict in run A)" in printed and "run A" in printed and "has no verdicts (not computed for this run)" in printed
    assert main(["compare", str(a), str(same), "--bootstrap", "20", "--fail-if", f"verdict-worse:{OBJECT}"]) == 2
    assert "run A has no verdict" in capsys.readouterr().err


def test_verdict_gates_parse():
    from harness.reporting.compare import VerdictGate

    assert parse_threshold("verdict-worse") == VerdictGate("verdict-worse", None)
    assert parse_threshold(f"verdict-worse:{OBJECT}") == VerdictGate(f"verdict-worse:{OBJECT}", OBJECT)
    with pytest.raises(TExplainError, match="verdict-worse:METRIC"):
        parse_threshold("verdict-better")
