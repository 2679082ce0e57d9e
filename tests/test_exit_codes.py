"""Exit codes a CI can trust (harness/cli/exit_codes.py, issue 11): 0 success, 1 the reported outcome,
2 bad input or usage, 3 an internal error with its traceback in a file, 130 interrupted. Checked
through `texplain compare` on fake run directories (tests/fake_runs.py; no models)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from fake_runs import METRICS, make_run

from harness.cli import exit_codes
from harness.cli.main import build_parser, main

N = 12


@pytest.fixture
def runs(tmp_path):
    rng = np.random.default_rng(0)
    base = {m: [float(v) for v in rng.uniform(0.2, 0.8, N)] for m in METRICS}
    worse = {m: [v - 0.1 for v in values] for m, values in base.items()}
    return make_run(tmp_path, "a", N, per_image=base), make_run(tmp_path, "b", N, per_image=worse)


@pytest.fixture(autouse=True)
def crash_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("TEXPLAIN_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / "crashes"


def _edit_record(run, line: int, **fields) -> None:
    path = run / "records.jsonl"
    records = [json.loads(text) for text in path.read_text().splitlines()]
    records[line - 1].update(fields)
    path.write_text("".join(json.dumps(r) + "\n" for r in records))


def test_a_crash_inside_compare_exits_3_and_writes_the_traceback(runs, monkeypatch, capsys, crash_folder):
    def crash(*args, **kwargs):
        raise RuntimeError("boom in the bootstrap")

    monkeypatch.setattr("harness.reporting.compare.compare_runs", crash)
    a, b = runs
    assert main(["compare", str(a), str(b), "--bootstrap", "10"]) == exit_codes.INTERNAL_ERROR == 3
    err = capsys.readouterr().err
    assert "internal error: RuntimeError: boom in the bootstrap" in err
    (written,) = crash_folder.glob("texplain-crash-*.txt")
    assert str(written) in err and "Traceback" not in err  # the paragraph names the file; the traceback stays there
    text = written.read_text()
    assert "Traceback (most recent call last)" in text and "RuntimeError: boom in the bootstrap" in text
    assert f"texplain compare {a} {b}" in text


def test_ctrl_c_exits_130_and_says_how_to_resume(runs, monkeypatch, capsys):
    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("harness.reporting.compare.compare_runs", interrupt)
    a, b = runs
    assert main(["compare", str(a), str(b)]) == 130
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "rerun the same command to resume" in err


def test_a_crossed_threshold_exits_1_and_a_clean_comparison_0(runs):
    a, b = runs
    assert main(["compare", str(a), str(b), "--bootstrap", "50", "--fail-if", "explain.object_in_top_k_rate<-0.02"]) == 1
    assert main(["compare", str(a), str(b), "--bootstrap", "50", "--fail-if", "explain.object_in_top_k_rate<-0.5"]) == 0


def test_bad_input_and_usage_exit_2(runs, tmp_path, capsys):
    a, _ = runs
    assert main(["compare", str(a), str(tmp_path / "nope")]) == 2
    assert "nope" in capsys.readouterr().err
    assert main(["compare", str(a), str(a), "--fail-if", "explain.object_in_top_k_rate=1"]) == 2
    with pytest.raises(SystemExit) as usage:
        main(["compare", str(a)])  # RUN_B missing: argparse's usage error
    assert usage.value.code == 2


@pytest.mark.parametrize(
    "fields, expected",
    [
        ({"per_image_metrics": "explain.object_in_top_k_rate=1"}, "'per_image_metrics' is str"),
        ({"per_image_metrics": {"explain.object_in_top_k_rate": "high"}}, "per_image_metrics['explain.object_in_top_k_rate'] is str 'high', expected a number"),
        ({"per_image_metrics": {"explain.object_in_top_k_rate": [1, 0]}}, "per_image_metrics['explain.object_in_top_k_rate'] is list"),
        ({"truth": "a boat"}, "'truth' is str"),
    ],
)
def test_a_malformed_record_exits_2_naming_file_line_and_image(runs, capsys, crash_folder, fields, expected):
    a, b = runs
    _edit_record(b, 3, **fields)
    assert main(["compare", str(a), str(b), "--bootstrap", "10"]) == 2
    err = capsys.readouterr().err
    assert f"{b / 'records.jsonl'}: line 3 (image 'img_000002'): {expected}" in err
    assert "rerun it" in err and "correct the line" in err
    assert not crash_folder.exists()  # bad input is no crash


def test_a_malformed_suite_record_exits_2(tmp_path, capsys):
    values = {m: [0.5] * N for m in METRICS}
    suites = {"only_bg": {"per_image": {"keep_rate": [1.0] * N}}}
    a, b = make_run(tmp_path, "a", N, per_image=values, suites=suites), make_run(tmp_path, "b", N, per_image=values, suites=suites)
    path = b / "suites" / "only_bg" / "records.jsonl"
    lines = path.read_text().splitlines()
    lines[0] = json.dumps({"image_id": "img_000000", "per_image_metrics": {"keep_rate": "yes"}})
    path.write_text("\n".join(lines) + "\n")
    assert main(["compare", str(a), str(b), "--bootstrap", "10"]) == 2
    assert f"{path}: line 1 (image 'img_000000'): per_image_metrics['keep_rate'] is str 'yes'" in capsys.readouterr().err


def test_null_and_nan_metric_values_are_no_values_not_errors(runs):
    a, b = runs
    _edit_record(b, 2, per_image_metrics={m: None for m in METRICS})
    _edit_record(a, 4, per_image_metrics={m: float("nan") for m in METRICS})
    assert main(["compare", str(a), str(b), "--bootstrap", "10"]) == 0


def test_help_documents_the_exit_codes():
    text = build_parser().format_help()
    assert "exit codes (every command):" in text
    for code in ("0 ", "1 ", "2 ", "3 ", "130 "):
        assert f"\n  {code}" in text
    assert "crossed a --fail-if threshold" in text  # the epilog's layout is kept (RawDescriptionHelpFormatter)


def test_the_traceback_falls_back_to_the_temp_folder(tmp_path, monkeypatch):
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the cache folder should be")
    monkeypatch.setenv("TEXPLAIN_CACHE", str(blocked))
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    try:
        raise ValueError("x")
    except ValueError as error:
        path = exit_codes.write_traceback(error, ["compare"])
    assert path is not None and path.parent == tmp_path / "tmp" / "texplain-crashes"
    assert "ValueError: x" in path.read_text()
