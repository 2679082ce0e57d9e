"""Exit codes a CI can trust (harness/cli/exit_codes.py: a CI branches on the exit code): 0 success, 1 the reported outcome,
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


# ---------------------------------------------------------------- secrets and closed pipes

JWT = ("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ0b2tlbl90eXBlIjoicmVmcmVzaCIsInVzZXJfaWQiOjF9"
       ".Xk2v9Qm3LpZ8rT1uW4yN6bC0dE5fG7hJ9kL2mN4pQ6s")
OTHER_JWT = "eyJhbGciOiJIUzI1NiJ9.eyJ1c2VyX2lkIjoyfQ.c2lnbmF0dXJlLW9mLXRoZS1vdGhlci10b2tlbg"
ENV_KEY = "env-api-key-Zq81xW"
LEGACY = "3f2a9c4e8b7d6a5f4e3d2c1b0a9f8e7d6c5b4a39"  # 40 hex digits, as Label Studio's legacy tokens
BASE64_KEY = "Qm9vTXlTZWNyZXRLZXkxMjM0NTY3ODkwQUJDREVGR0g"


def test_a_crash_file_and_its_message_hold_no_token(tmp_path, monkeypatch, capsys, crash_folder):
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", ENV_KEY)

    def crash(args):
        # As an SDK error might: the token, the environment's key and a legacy key in the message.
        raise RuntimeError(f"refresh failed for {args.token} (api_key='{ENV_KEY}', Authorization: Token {LEGACY}, other {OTHER_JWT}, "
                           f"key {BASE64_KEY})")

    monkeypatch.setattr("human_eval.cli._pull", crash)
    argv = ["ratings", "pull", str(tmp_path / "run"), "--url", "http://localhost:8080", "--token", JWT]
    assert main(argv) == exit_codes.INTERNAL_ERROR
    err = capsys.readouterr().err
    (written,) = crash_folder.glob("texplain-crash-*.txt")
    text = written.read_text()
    for secret in (JWT, ENV_KEY, LEGACY, OTHER_JWT, BASE64_KEY):
        assert secret not in text and secret not in err
    assert f"command: texplain ratings pull {tmp_path / 'run'} --url http://localhost:8080 --token [REDACTED]" in text
    assert "RuntimeError: refresh failed for [REDACTED]" in text and "Traceback (most recent call last)" in text
    assert 'File "' in text and "test_exit_codes.py" in text  # file paths of the traceback are kept
    assert "internal error: RuntimeError: refresh failed for [REDACTED]" in err


@pytest.mark.parametrize("argv", [["--token=" + JWT], ["--tok", JWT], ["--token", "short1"]])
def test_every_spelling_of_the_token_option_is_redacted(argv):
    line = exit_codes.command_line(["ratings", "push", "runs/x", "--url", "http://h", *argv])
    assert line.startswith("texplain ratings push runs/x --url http://h --tok") and "[REDACTED]" in line
    assert argv[-1].split("=")[-1] not in line


def test_logs_and_bad_input_messages_hold_no_token(monkeypatch, capsys):
    import logging

    monkeypatch.setenv("LABEL_STUDIO_API_KEY", ENV_KEY)
    record = logging.LogRecord("httpx", logging.INFO, __file__, 1, "sent %s with %s", (JWT, ENV_KEY), None)
    assert exit_codes.RedactingFilter([]).filter(record) and record.getMessage() == "sent [REDACTED] with [REDACTED]"
    # Ordinary hashes in a message are no keys: only traceback text loses long hex strings.
    assert exit_codes.redact(f"commit {LEGACY}", [], keys=False) == f"commit {LEGACY}"

    def refuse(args):
        from texplain.errors import TExplainError

        raise TExplainError(f"the server refused {args.token}")

    monkeypatch.setattr("human_eval.cli._pull", refuse)
    assert main(["ratings", "pull", "runs/x", "--url", "http://h", "--token", JWT]) == exit_codes.BAD_INPUT
    assert capsys.readouterr().err.strip() == "error: the server refused [REDACTED]"


class _ClosedPipe:
    """A stdout whose reader has gone: every write (or only the final flush) raises BrokenPipeError."""

    def __init__(self, on_write: bool):
        self.on_write = on_write

    def write(self, text):
        if self.on_write:
            raise BrokenPipeError(32, "Broken pipe")
        return len(text)

    def flush(self):
        raise BrokenPipeError(32, "Broken pipe")


@pytest.mark.parametrize("on_write, code", [(True, exit_codes.BROKEN_PIPE), (False, exit_codes.OUTCOME)])
def test_a_closed_stdout_is_a_quiet_exit_not_an_internal_error(runs, monkeypatch, capsys, crash_folder, on_write, code):
    """Closed while printing: 141 (the shell's code for SIGPIPE); closed only at the last flush: the
    command's own code (here compare's 1, a crossed threshold)."""
    a, b = runs
    capsys.readouterr()
    monkeypatch.setattr("sys.stdout", _ClosedPipe(on_write))
    assert main(["compare", str(a), str(b), "--bootstrap", "50", "--fail-if", "explain.object_in_top_k_rate<-0.02"]) == code
    assert capsys.readouterr().err == "" and not crash_folder.exists()
    import sys

    assert not isinstance(sys.stdout, _ClosedPipe)  # pointed at devnull: the interpreter's own final flush cannot raise


def _cli(code: str, cache):
    """`python -c code` in the repository, its stdout and stderr pipes."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": str(root), "TEXPLAIN_CACHE": str(cache)}
    env.pop("PYTHONUNBUFFERED", None)  # stdout into a pipe is block-buffered, as for a user
    return subprocess.Popen([sys.executable, "-c", code], cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_a_real_pipe_closed_by_its_reader(tmp_path):
    """`texplain profiles | head -1`, and a long output into a reader that stops after one line, in real processes."""
    cache = tmp_path / "cache"
    short = _cli("import sys; from harness.cli.main import main; sys.exit(main(['profiles']))", cache)
    short.stdout.close()  # the reader leaves before anything is written: the final flush meets the closed pipe
    _, err = short.communicate(timeout=300)
    assert (short.returncode, err) == (exit_codes.OK, b"")  # not Python's "Exception ignored ... BrokenPipeError" and 120

    long = _cli("import sys, harness.cli.main\nm = sys.modules['harness.cli.main']\n"
                "def many(args):\n    for i in range(200000): print('line', i)\n    return 0\n"
                "m._profiles = many\nsys.exit(m.main(['profiles']))", cache)
    assert long.stdout.readline() == b"line 0\n"
    long.stdout.close()  # while the command still prints
    _, err = long.communicate(timeout=300)
    assert (long.returncode, err) == (exit_codes.BROKEN_PIPE, b"")
    assert not (cache / "crashes").exists()
