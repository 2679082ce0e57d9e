"""scripts/collect_results.py: docs/results.md generated from the JSON under results/, checked on a results
folder of two constructed files (one run's metrics.json, one training benchmark) against golden text."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "collect_results.py"


def _load_script():
    """The script as a module (scripts/ is no package). It goes into sys.modules before it runs, as an
    import would put it: its dataclasses look their module up there."""
    if "collect_results" not in sys.modules:
        spec = importlib.util.spec_from_file_location("collect_results", SCRIPT)
        module = importlib.util.module_from_spec(spec)
        sys.modules["collect_results"] = module
        spec.loader.exec_module(module)
    return sys.modules["collect_results"]


RUN_METRICS = {
    "format": "texplain-metrics/2",
    "seed": 1,
    "smoke_run": False,
    "metrics": {
        "explain.num_images": 64,
        "explain.top_k": 5,
        "explain.sentences_per_image": 30,
        "explain.object_in_top_k_rate": 0.75,
        "explain.background_in_top_k_rate": 1.0,
        "explain.chance_object_in_top_k_rate": 0.0,
        "explain.chance_background_in_top_k_rate": 0.25,
    },
    "intervals": {
        "explain.object_in_top_k_rate": {"low": 0.640625, "high": 0.84375, "level": 0.95, "method": "BCa", "n": 64},
        "explain.background_in_top_k_rate": {"low": 1.0, "high": 1.0, "level": 0.95, "method": "percentile", "n": 64},
    },
    "training": [{"epoch": 1, "val_loss": 1.5}, {"epoch": 2, "val_loss": 0.875}],
    # No stages.json beside it: the collector falls back to these.
    "stage_seconds": {"data": 9.5, "features": 30.2, "translator": 400.4, "explain": 100.0, "words": 2.0, "suite:only_bg": 80.0},
    "total_seconds": 622.1,
    "provenance": {"date": "2027-01-02T03:04:05+00:00", "git_commit": "0123456789abcdef", "cpu_model": "Test CPU", "cpu_flags": ["avx2"]},
    "precision": {"stages": {"explain": {"resolved": "fp32"}, "train": {"resolved": "fp32"}}},
    "resources": {"peak_rss_mb": 5120.0},
}

TRAINING_BENCHMARK = {
    "benchmark": "translator training step",
    "date": "2027-01-03T10:00:00",
    "cpu_model": "Test CPU",
    "cpu_flags": ["avx2", "avx512_bf16"],
    "threads": 2,
    "batch": 8,
    "results": [
        {"precision": "fp32", "captions_per_second": {"ours": 5.0, "baseline": 4.0}, "ratio": 1.25, "matmul_peak_gflops": 150.4,
         "share_of_peak": {"ours": 0.5, "baseline": 0.4}, "limit_captions_per_second_at_peak": 10.0, "ratio_limit_at_peak": 2.5},
        # An older file's row: the limit only in captions/s, so the ratio's limit is derived (and starred).
        {"precision": "bf16", "captions_per_second": {"ours": 12.0, "baseline": 8.0}, "ratio": 1.5, "matmul_peak_gflops": 600.0,
         "share_of_peak": {"ours": 0.42}, "limit_captions_per_second_at_peak": 30.0},
    ],
}

GOLDEN_RUNS = """\
| run | date | commit | CPU | precision | data | features | translator | explain | words | only_bg | total s (m:ss) | peak RSS |
|---|---|---|---|---|---|---|---|---|---|---|---|---|
| `results/quickstart/` | 2027-01-02 | 0123456 | Test CPU (avx2) | fp32 | 9.5 | 30 | 400 | 100 | 2.0 | 80 | 622 (10:22) | 5.0 GiB |
"""

GOLDEN_QUALITY = """\
| run | seed | images | k | sentences / image | object in top-k [95% CI] | background in top-k [95% CI] | image-blind object / background | val. loss, last epoch |
|---|---|---|---|---|---|---|---|---|
| `results/quickstart/` | 1 | 64 | 5 | 30 | 0.750 [0.641, 0.844] | 1.000 [1.000, 1.000] | 0.000 / 0.250 | 0.88 |
"""

GOLDEN_TRAINING = """\
| date | CPU | threads | batch | precision | ours (captions/s) | baseline (captions/s) | ratio | ours at % of peak | matmul peak (GFLOP/s) | limit of the ratio | file |
|---|---|---|---|---|---|---|---|---|---|---|---|
| 2027-01-03 10:00 | Test CPU (avx2, avx512_bf16) | 2 | 8 | fp32 | 5.00 | 4.00 | **1.25x** | 50% | 150 | 2.50x | `results/benchmarks/training-20270103-100000.json` |
| 2027-01-03 10:00 | Test CPU (avx2, avx512_bf16) | 2 | 8 | bf16 | 12.00 | 8.00 | **1.50x** | 42% | 600 | 3.75x* | `results/benchmarks/training-20270103-100000.json` |
"""


@pytest.fixture
def results(tmp_path: Path) -> Path:
    folder = tmp_path / "results"
    (folder / "quickstart").mkdir(parents=True)
    (folder / "benchmarks").mkdir()
    (folder / "quickstart" / "metrics.json").write_text(json.dumps(RUN_METRICS))
    (folder / "benchmarks" / "training-20270103-100000.json").write_text(json.dumps(TRAINING_BENCHMARK))
    return folder


def test_tables_match_the_golden_text(results, tmp_path, capsys):
    collect = _load_script()
    out = tmp_path / "docs" / "results.md"
    assert collect.main(["--results", str(results), "--out", str(out)]) == 0
    assert capsys.readouterr().out.strip() == f"wrote {out}"
    page = out.read_text()
    assert page.startswith("# Results\n")
    for golden in (GOLDEN_RUNS, GOLDEN_QUALITY, GOLDEN_TRAINING):
        assert golden in page, f"missing from the page:\n{golden}\n--- page ---\n{page}"
    # One table per kind that has files: only the training kind here.
    assert page.count("### ") == 1 and "### Translator training step" in page


def test_the_page_is_a_function_of_the_files(results, tmp_path):
    collect = _load_script()
    first, second = tmp_path / "a.md", tmp_path / "b.md"
    collect.main(["--results", str(results), "--out", str(first)])
    collect.main(["--results", str(results), "--out", str(second)])
    assert first.read_bytes() == second.read_bytes()


def test_an_unknown_benchmark_kind_still_gets_a_row(results, tmp_path):
    (results / "benchmarks" / "contention-20270104-000000.json").write_text(json.dumps({"workloads": {}, "cpu": "x"}))
    page = _load_script().render(results)
    assert "### Other benchmark files" in page
    assert "| 2027-01-04 00:00 | contention | cpu, workloads | `results/benchmarks/contention-20270104-000000.json` |" in page


def test_a_missing_results_folder_is_a_usage_error(tmp_path, capsys):
    assert _load_script().main(["--results", str(tmp_path / "nowhere"), "--out", str(tmp_path / "r.md")]) == 2
    assert "is not a folder" in capsys.readouterr().err


def _verdict(metric: str, verdict: str, reason: str, comparisons: list[dict], images_to_decide: int | None = None) -> dict:
    """A row of metrics.json "verdicts" (contracts/verdicts.py Verdict.to_json())."""
    return {"metric": metric, "verdict": verdict, "reason": reason, "texplain": 0.75, "n": 64, "min_effect": 0.05,
            "tests": "content", "comparisons": comparisons, "ceilings": {"truth_captions": 0.9}, "images_to_decide": images_to_decide}


VERDICT_METRICS = {
    **RUN_METRICS,
    "provenance": {"date": "2027-01-05T00:00:00+00:00", "git_commit": "fedcba9876543210", "cpu_model": "Other CPU", "cpu_flags": ["avx512f"]},
    "verdicts": {"format": 1, "rows": [
        _verdict("explain.object_in_top_k_rate", "pass", "beats every control", [
            {"control": "image_blind", "control_value": 0.25, "difference": 0.5, "low": 0.359375, "high": 0.640625, "beats": True, "as_good": False, "reason": None},
            {"control": "permuted", "control_value": None, "difference": None, "low": None, "high": None, "beats": None, "as_good": None, "reason": "not run"},
        ]),
        _verdict("explain.background_in_top_k_rate", "inconclusive", "the interval against image_blind straddles 0", [
            {"control": "image_blind", "control_value": 0.7, "difference": 0.05, "low": -0.03125, "high": 0.125, "beats": False, "as_good": False, "reason": None},
        ], images_to_decide=180),
    ]},
}

GOLDEN_VERDICTS = """\
### `results/verdicts/validate/`

2027-01-05, commit fedcba9; CPU Other CPU (avx512f); precision fp32.

| metric | verdict | TExplain | n | image_blind: value (TExplain − it [95%]) | permuted: value (TExplain − it [95%]) | reason |
|---|---|---|---|---|---|---|
| `explain.object_in_top_k_rate` | **pass** | 0.750 | 64 images | 0.250 (+0.500 [+0.359, +0.641]) | not run | beats every control |
| `explain.background_in_top_k_rate` | **inconclusive** | 0.750 | 64 images | 0.700 (+0.050 [-0.031, +0.125]) |  | the interval against image_blind straddles 0 (about 180 images would decide) |
"""


def test_a_run_with_verdicts_gets_a_table_and_one_without_none(results, tmp_path):
    # A run one level deeper (results/verdicts/<name>/), found beside the top-level run that has no verdicts.
    (results / "verdicts" / "validate").mkdir(parents=True)
    (results / "verdicts" / "validate" / "metrics.json").write_text(json.dumps(VERDICT_METRICS))
    collect = _load_script()
    page = collect.render(results)
    assert GOLDEN_VERDICTS in page, f"missing from the page:\n{GOLDEN_VERDICTS}\n--- page ---\n{page}"
    verdicts = page.split("## Verdicts\n", 1)[1].split("\n## ", 1)[0]
    assert "**pass**" in verdicts and "**inconclusive**" in verdicts and "+0.500 [+0.359, +0.641]" in verdicts
    # The run without verdicts (results/quickstart/) is in the run tables but gets no verdict table.
    assert "`results/quickstart/`" in page and "results/quickstart/" not in verdicts
    assert verdicts.count("### ") == 1
    # The nested run is a run like any other: a row in the run table, newest first, listed once.
    assert page.count("| `results/verdicts/validate/` | 2027-01-05 | fedcba9 | Other CPU (avx512f) |") == 1
    assert page.index("`results/verdicts/validate/` | 2027-01-05") < page.index("`results/quickstart/` | 2027-01-02")
    # Same bytes on a second run.
    assert collect.render(results) == page


def test_runs_without_verdicts_say_so(results):
    page = _load_script().render(results)
    assert "## Verdicts\n\nNo committed run has verdicts" in page
    assert "| metric | verdict |" not in page


def test_a_run_folder_is_found_once(results):
    """A run's own subfolders (results/<run>/suites/<name>/) are no runs, nor is a group folder that is itself a
    run's; a link to a run folder does not list it twice."""
    collect = _load_script()
    (results / "quickstart" / "suite").mkdir()
    (results / "quickstart" / "suite" / "metrics.json").write_text(json.dumps(RUN_METRICS))
    (results / "group").mkdir()
    (results / "group" / "link").symlink_to(results / "quickstart", target_is_directory=True)
    names = [run.name for run in collect.find_runs(results)]
    assert names == ["quickstart"]
