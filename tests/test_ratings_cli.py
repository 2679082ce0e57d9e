"""`texplain ratings` as a user meets it (human_eval/cli.py, human_eval/): a manual pull of one study
only, an interrupted pull, the count of annotations read and kept, errors that point the right way, one
naming of raters from the server and from a manual export, quiet HTTP logging, and the order of counts.
Offline: simulated raters (tests/human_eval_raters.py) on a fake finished run (tests/fake_runs.py)."""

from __future__ import annotations

import copy
import json
import logging
from pathlib import Path
from types import SimpleNamespace

import pytest

from harness.cli.main import main
from human_eval.analysis import analyse
from human_eval.export import read_export
from human_eval.server import ServerError, _name_raters, connect
from human_eval.settings import AnalysisSettings
from tests.fake_runs import free_port, make_run, refusing_label_studio
from tests.human_eval_raters import CARELESS, CAREFUL, OFF_BY_ONE, simulated_export

RATERS = {"ann@example.com": CAREFUL, "bob@example.com": OFF_BY_ONE, "eve@example.com": CARELESS}
# simulated_export gives the raters user ids 1, 2, 3 in the order of their emails.
IDS = {"ann@example.com": 1, "bob@example.com": 2, "eve@example.com": 3}
FAST = ["--bootstrap", "20"]


@pytest.fixture()
def run(tmp_path: Path) -> Path:
    run = make_run(tmp_path / "runs", num_images=12)
    assert main(["ratings", "export", str(run), "--sources", "main", "--per-class", "4", "--attention-checks", "4"]) == 0
    return run


def web_ui_export(tasks: list[dict]) -> list[dict]:
    """The same tasks as the web UI's Export > JSON writes them: completed_by is the bare user id."""
    tasks = copy.deepcopy(tasks)
    for task in tasks:
        for annotation in task["annotations"]:
            annotation["completed_by"] = annotation["completed_by"]["id"]
    return tasks


def export_files(run: Path, folder: Path, skip_every: int = 0, raters: dict | None = None) -> list[Path]:
    exported = read_export(run)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for study in ("a", "b"):
        paths.append(folder / f"export_{study}.json")
        paths[-1].write_text(json.dumps(web_ui_export(simulated_export(exported.tasks[study], study, raters or RATERS, skip_every))))
    return paths


def pull_files(run: Path, *paths: Path) -> int:
    return main(["ratings", "pull", str(run), *[a for p in paths for a in ("--file", str(p))], *FAST])


def outputs(run: Path) -> dict[str, bytes]:
    """Everything a pull writes, as bytes."""
    results = json.loads((run / "ratings" / "results.json").read_text())
    paths = [run / "ratings" / "results.json", run / "report.html", run / "report.md", *(run / f for f in results["figures"])]
    return {str(p): p.read_bytes() for p in paths}


# ---------------------------------------------------------------- a manual export of one study only


def test_a_manual_pull_of_one_study_is_refused_and_keeps_the_earlier_results(run, tmp_path, capsys):
    a, b = export_files(run, tmp_path / "first")
    assert pull_files(run, a, b) == 0
    before = outputs(run)
    exported = read_export(run)
    new_a, new_b = export_files(run, tmp_path / "second", skip_every=3)  # other ratings: a pull would change every file
    capsys.readouterr()
    assert pull_files(run, new_a) == 2
    err = capsys.readouterr().err
    assert f"study (b) (project '{exported.title('b')}') is missing" in err
    assert "Export that project too" in err and f"--file {new_a} --file STUDY_B.json" in err
    assert pull_files(run, new_b) == 2
    err = capsys.readouterr().err
    assert f"study (a) (project '{exported.title('a')}') is missing" in err and f"--file STUDY_A.json --file {new_b}" in err
    assert outputs(run) == before  # results.json, the plots and the report untouched


def test_an_interrupted_pull_leaves_the_earlier_results_whole(run, tmp_path, monkeypatch):
    assert pull_files(run, *export_files(run, tmp_path / "first")) == 0
    before = outputs(run)
    from matplotlib.figure import Figure

    saved = Figure.savefig
    calls = []

    def interrupted_at_the_second_plot(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return saved(self, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", interrupted_at_the_second_plot)
    assert pull_files(run, *export_files(run, tmp_path / "second", skip_every=3)) == 130
    assert outputs(run) == before  # not the first plot of the new ratings beside the old results
    assert not [p for p in (run / "ratings").iterdir() if p.name.startswith(".") or p.suffix == ".tmp"]


# ---------------------------------------------------------------- annotations read and kept


def test_pull_says_how_many_annotations_it_read_and_kept(run, tmp_path, capsys):
    capsys.readouterr()
    assert pull_files(run, *export_files(run, tmp_path / "files")) == 0
    out = capsys.readouterr().out
    # 16 tasks per study (12 images, 4 checks), each rated by 3 raters: 48 annotations per study.
    assert "annotations: 96 read, 48 kept in the statistics" in out
    assert ("study (a): 48 read, 24 kept; set aside: 8 attention checks, 16 of dropped raters, 0 cancelled or empty, "
            "0 replaced by a later one, 0 contradictory ('none of these' with words)") in out
    assert "study (b): 48 read, 24 kept; set aside: 8 attention checks, 16 of dropped raters, 0 cancelled or empty, 0 replaced by a later one\n" in out
    assert "  user 1: 32 read, 24 kept\n" in out and "  user 3: 32 read, 0 kept; dropped: 0 of 8 attention checks passed\n" in out
    results = json.loads((run / "ratings" / "results.json").read_text())
    counted = results["annotations"]
    assert (counted["read"], counted["kept"]) == (96, 48)
    assert counted["by_rater"] == {"user 1": {"read": 32, "kept": 24}, "user 2": {"read": 32, "kept": 24}, "user 3": {"read": 32, "kept": 0}}
    assert results["per_rater"]["user 3"]["annotations_read"] == 32 and results["per_rater"]["user 3"]["ratings_kept"] == 0
    assert "Annotations read: 96, kept in the statistics: 48" in (run / "report.md").read_text()


def test_every_annotation_read_is_accounted_for(run):
    exported = read_export(run)
    pulled = {s: simulated_export(exported.tasks[s], s, RATERS) for s in ("a", "b")}
    plain = [t for t in pulled["a"] if not t["data"]["attention_check"]]
    plain[0]["annotations"][0]["was_cancelled"] = True
    plain[1]["annotations"][0]["result"][0]["value"]["choices"] = [plain[1]["data"]["word_list"][0], "none of these"]
    again = copy.deepcopy(plain[2]["annotations"][1])
    again.update(id=9999, updated_at="2026-02-01T00:00:00Z")
    plain[2]["annotations"].append(again)
    plain[3]["annotations"].append({"id": 5000, "completed_by": {"id": 4, "email": "sam@example.com"}, "was_cancelled": True, "result": []})
    results = analyse(exported, pulled, AnalysisSettings(bootstrap_resamples=20))
    a = results["annotations"]["by_study"]["a"]
    assert a["read"] == 48 + 2 and (a["cancelled"], a["contradictory"], a["replaced"]) == (2, 1, 1)
    set_aside = sum(v for k, v in a.items() if k not in ("read", "kept"))
    assert a["kept"] + set_aside == a["read"] and a["kept"] == results["study_a"]["ratings"]
    assert "contradictory" not in results["annotations"]["by_study"]["b"]
    # A rater who only skipped is still counted (read, nothing kept).
    assert results["per_rater"]["user 4"]["annotations_read"] == 1 and results["per_rater"]["user 4"]["ratings_kept"] == 0


# ---------------------------------------------------------------- errors that point the right way


def test_push_and_pull_of_a_missing_run_say_so(tmp_path, capsys):
    missing = tmp_path / "runs" / "nope"
    assert main(["ratings", "push", str(missing), "--url", "http://localhost:8080", "--token", "t"]) == 2
    out, err = capsys.readouterr()
    assert "exporting" not in out and f"the run directory {missing} does not exist" in err
    assert main(["ratings", "pull", str(missing), "--file", "x.json"]) == 2
    err = capsys.readouterr().err
    assert f"the run directory {missing} does not exist" in err and "ratings export" not in err
    unfinished = tmp_path / "runs" / "half"
    unfinished.mkdir(parents=True)
    for command in (["push", str(unfinished), "--url", "http://localhost:8080", "--token", "t"], ["pull", str(unfinished), "--file", "x.json"]):
        assert main(["ratings", *command]) == 2
        out, err = capsys.readouterr()
        assert f"{unfinished} is not a finished run directory" in err and "exporting" not in out


def test_an_unreachable_server_is_answered_with_the_full_start_command(run, capsys):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    root = read_export(run).document_root
    start = (f"LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED=true LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT={root} "
             "LABEL_STUDIO_LATEST_VERSION_CHECK=false LABEL_STUDIO_SENTRY_DSN= LABEL_STUDIO_FRONTEND_SENTRY_DSN= "
             f"LABEL_STUDIO_COLLECT_ANALYTICS=false label-studio start --internal-host 127.0.0.1 --port {port} --no-browser")
    for command in ("pull", "push"):
        assert main(["ratings", command, str(run), "--url", url, "--token", "some-token"]) == 2
        err = capsys.readouterr().err
        assert f"cannot reach the Label Studio server at {url}" in err and start in err
        assert f"python -m human_eval.label_studio_server --document-root {root} --port {port}" in err


@pytest.fixture()
def refusing_server():
    with refusing_label_studio() as url:
        yield url


def test_a_refused_token_asks_for_a_personal_access_token_only(refusing_server, capsys):
    with pytest.raises(ServerError) as refused:
        connect(refusing_server, "a-legacy-token", timeout=5)
    message = str(refused.value)
    assert "401: Invalid token." in message and "create a personal access token on the server under Account & Settings" in message
    assert "legacy" not in message.lower()
    with pytest.raises(SystemExit):
        main(["ratings", "pull", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "Account & Settings > Personal Access Token" in text and "(or legacy token)" not in text


# ---------------------------------------------------------------- one naming of raters


def test_raters_are_named_alike_from_the_server_and_from_a_manual_export(run):
    exported = read_export(run)
    from_server = {s: simulated_export(exported.tasks[s], s, RATERS) for s in ("a", "b")}  # completed_by {"id", "email"}
    from_file = {s: web_ui_export(tasks) for s, tasks in from_server.items()}  # completed_by: the id alone
    # What pull does to the server's export (which names raters by id) when the token may list users.
    named = copy.deepcopy(from_file)
    client = SimpleNamespace(users=SimpleNamespace(list=lambda: [SimpleNamespace(id=i, email=e) for e, i in IDS.items()]))
    for tasks in named.values():
        _name_raters(client, tasks)
    settings = AnalysisSettings(bootstrap_resamples=20)
    results = [analyse(exported, pulled, settings) for pulled in (from_server, from_file, named)]
    for one in results:
        assert list(one["per_rater"]) == ["user 1", "user 2", "user 3"] and one["raters_dropped"] == ["user 3"]
        assert one["study_a"] == results[0]["study_a"] and one["study_b"] == results[0]["study_b"]
    assert results[0]["per_rater"]["user 3"]["email"] == results[2]["per_rater"]["user 3"]["email"] == "eve@example.com"
    assert results[1]["per_rater"]["user 3"]["email"] is None


def test_the_report_names_raters_by_id_with_the_email_beside(run, tmp_path):
    exported = read_export(run)
    folder = tmp_path / "named"
    folder.mkdir()
    paths = []
    for study in ("a", "b"):
        paths.append(folder / f"{study}.json")
        paths[-1].write_text(json.dumps(simulated_export(exported.tasks[study], study, RATERS)))
    assert pull_files(run, *paths) == 0
    report = (run / "report.md").read_text()
    assert "| user 3 (eve@example.com) |" in report and "dropped for failing the attention checks: user 3 (eve@example.com)" in report
    assert pull_files(run, *export_files(run, tmp_path / "ids")) == 0
    report = (run / "report.md").read_text()
    assert "| user 3 |" in report and "dropped for failing the attention checks: user 3;" in report


# ---------------------------------------------------------------- small things


def test_http_request_lines_are_debug_detail(run, refusing_server, caplog):
    caplog.set_level(logging.INFO)
    assert main(["ratings", "pull", str(run), "--url", refusing_server, "--token", "t"]) == 2
    assert not [r for r in caplog.records if r.name.startswith(("httpx", "httpcore"))]
    caplog.clear()
    assert main(["--verbose", "ratings", "pull", str(run), "--url", refusing_server, "--token", "t"]) == 2
    assert any(r.name == "httpx" and "HTTP Request" in r.getMessage() for r in caplog.records)
    main(["profiles"])
    assert logging.getLogger("httpx").level == logging.getLogger("httpcore").level == logging.WARNING


def test_study_b_has_no_contradictory_count_and_counts_sort_as_numbers(run, tmp_path, capsys):
    assert pull_files(run, *export_files(run, tmp_path / "files")) == 0
    out = capsys.readouterr().out
    assert "contradictory" not in next(line for line in out.splitlines() if line.startswith("  study (b)"))
    text = (run / "ratings" / "results.json").read_text()
    results = json.loads(text)  # json keeps the file's order of keys
    assert list(results["study_a"]["count_distribution"]) == [str(k) for k in range(11)]
    assert list(results["study_a"]["count_share"]) == [str(k) for k in range(11)]
    assert "contradictory" in results["completeness"]["a"] and "contradictory" not in results["completeness"]["b"]
    report = (run / "report.md").read_text()
    line = next(line for line in report.splitlines() if "(a) ratings by matched words" in line)
    assert ", 9: 0, 10: 0 |" in line and line.index("1: ") < line.index("2: ")
    completeness = next(line for line in report.splitlines() if line.startswith("study (a):") and "tasks pulled" in line)
    assert "study (a): 16 of 16 tasks pulled, 0 skipped annotations, 0 contradictory" in completeness
    assert completeness.endswith("study (b): 16 of 16 tasks pulled, 0 skipped annotations")
