"""The rating studies against a real Label Studio server (human_eval/server.py; TExplain, Section 4.2, Figure 3).

The server (label-studio 1.23.2) runs from its own virtual environment (human_eval/label_studio_server.py):
cached under $TEXPLAIN_CACHE/label-studio-1.23.2 (or ~/.cache/texplain/...), installed with the pins of
human_eval/label-studio-constraints.txt, and reused only once a server started from it has answered
/health (the first run installs and checks it: about 1.5 minutes from the package mirrors). The server
starts on 127.0.0.1 with a temporary data directory, a free port (read from its log: it moves to the
next port when one is busy), the version check, analytics and error reporting off, local-file serving
on, and an admin from LABEL_STUDIO_USERNAME (an email) / LABEL_STUDIO_PASSWORD; it is stopped by its
process id.

Tokens are obtained as a user would: log in (or sign up) on the web pages, then POST /api/token/ for a
personal access token (legacy tokens are off by default in these versions). The first test pushes a
few hundred tasks twice (no duplicates), checks that the server serves the images (local-file
serving), signs up four raters who post annotations with their own tokens (one fails the attention
checks), pulls everything back, compares the statistics with the values computed by hand for the
simulated raters (tests/human_eval_raters.py), checks that nothing was lost, that a wrong token gets
the clear 401 message, and that a pull from the stopped server fails with the clear message.

The second runs after it on the same data directory (a restart costs less than a new database): a
push of another run stopped half-way by stopping the server, pushed again after a restart, leaves every
task exactly once; a `texplain ratings pull` killed half-way (the server frozen under it) leaves the
earlier ratings/results.json as it was.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time

import httpx
import pytest

from human_eval.label_studio_server import LabelStudioServer, ensure_server_venv, personal_access_token
from tests.human_eval_raters import CAREFUL, CARELESS, OFF_BY_ONE, answer, expected_statistics, rated, result

pytestmark = pytest.mark.slow  # minutes, not seconds; slow tests still run in CI (`make test`)

ADMIN, PASSWORD = "admin@example.com", "texplain-admin-pw-1"
RATERS = {"ann@example.com": CAREFUL, "bob@example.com": OFF_BY_ONE, "cy@example.com": CAREFUL, "eve@example.com": CARELESS}
IMAGES, PER_CLASS, CHECKS, RATED = 300, 100, 10, 30  # 310 tasks per study; raters rate the first 30 and every check
SMALL_BATCH = 10  # tasks per import request in the interrupted push: 62 requests, so it can be stopped half-way
STARTUP_TIMEOUT = 300
TIMINGS: dict[str, float] = {}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    started = time.perf_counter()
    venv = ensure_server_venv()  # installs and checks it when the cache has no ready one
    TIMINGS["venv_s"] = round(time.perf_counter() - started, 1)
    root = tmp_path_factory.mktemp("label_studio")
    document_root = root / "runs"
    document_root.mkdir()
    running = LabelStudioServer(venv, root / "data", document_root, admin=(ADMIN, PASSWORD), startup_timeout=STARTUP_TIMEOUT)
    try:
        running.start()
        TIMINGS["startup_s"] = running.startup_seconds
        yield running, document_root
    finally:
        running.stop()
        print(f"\nlabel-studio timings: {json.dumps(TIMINGS)}")


def _rate(url: str, email: str, kind: str, exported, server_ids: dict[str, dict[str, int]]) -> int:
    """One rater signs up and annotates with their own token (the server records them as the annotator)."""
    from label_studio_sdk import LabelStudio

    client = LabelStudio(base_url=url, api_key=personal_access_token(url, email, "texplain-rater-pw-1", sign_up=True), timeout=60)
    posted = 0
    for study in ("a", "b"):
        index = 0
        for task in exported.tasks[study]:
            data = task["data"]
            if data["attention_check"] or rated(index, limit=RATED):
                client.annotations.create(id=server_ids[study][data["task_id"]], result=result(study, answer(study, data, index, kind)),
                                          was_cancelled=False, lead_time=1.0)
                posted += 1
            if not data["attention_check"]:
                index += 1
    return posted


def test_push_rate_and_pull_on_a_real_server(server, tmp_path, capsys):
    from label_studio_sdk import LabelStudio

    from harness.cli.main import main
    from human_eval.analysis import analyse
    from human_eval.export import export_studies
    from human_eval.server import ServerError, connect, pull, push, task_ids_on_server
    from human_eval.settings import AnalysisSettings, RatingSettings, StudySettings
    from tests.fake_runs import make_run

    running, document_root = server
    url = running.url
    run = make_run(document_root, num_images=IMAGES)
    exported = export_studies(run, RatingSettings(study=StudySettings(sources=("main",), per_class=PER_CLASS, attention_checks=CHECKS)))
    assert [len(exported.tasks[s]) for s in ("a", "b")] == [IMAGES + CHECKS] * 2

    admin = personal_access_token(url, ADMIN, PASSWORD)
    with pytest.raises(ServerError, match="refused the token"):
        connect(url, "not-a-token")

    started = time.perf_counter()
    first = push(exported, url, admin)
    TIMINGS["push_s"] = round(time.perf_counter() - started, 2)
    assert first.created == {"a": True, "b": True} and first.imported == {"a": IMAGES + CHECKS, "b": IMAGES + CHECKS}
    started = time.perf_counter()
    second = push(exported, url, admin)
    TIMINGS["second_push_s"] = round(time.perf_counter() - started, 2)
    assert second.created == {"a": False, "b": False} and second.imported == {"a": 0, "b": 0} and second.projects == first.projects
    client = LabelStudio(base_url=url, api_key=admin)
    assert sorted(p.title for p in client.projects.list()) == sorted(exported.title(s) for s in ("a", "b"))
    server_ids = {s: task_ids_on_server(client, url, first.projects[s]) for s in ("a", "b")}
    for study in ("a", "b"):
        assert set(server_ids[study]) == {t["data"]["task_id"] for t in exported.tasks[study]}  # no duplicate, none missing

    # Local-file serving: the server gives the image of a task to a logged-in user (403 without the project's storage).
    access = httpx.post(f"{url}/api/token/refresh/", json={"refresh": admin}, timeout=30).json()["access"]
    task = exported.tasks["a"][0]["data"]
    image = httpx.get(url + task["image"], headers={"Authorization": f"Bearer {access}"}, timeout=30)
    assert image.status_code == 200 and image.content == (exported.folder / task["image_file"]).read_bytes()

    started = time.perf_counter()
    posted: dict[str, int] = {}
    threads = [threading.Thread(target=lambda e=e, k=k: posted.__setitem__(e, _rate(url, e, k, exported, server_ids))) for e, k in RATERS.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    TIMINGS["annotations_posted"] = sum(posted.values())
    TIMINGS["annotate_s"] = round(time.perf_counter() - started, 2)
    assert list(posted.values()) == [2 * (RATED + CHECKS)] * len(RATERS)

    started = time.perf_counter()
    pulled = pull(exported, url, admin)
    TIMINGS["pull_s"] = round(time.perf_counter() - started, 2)
    for study in ("a", "b"):
        assert {t["data"]["task_id"] for t in pulled[study]} == set(server_ids[study])  # every task back, rated or not
        assert sum(len(t["annotations"]) for t in pulled[study]) == len(RATERS) * (RATED + CHECKS)
    results = analyse(exported, pulled, AnalysisSettings(bootstrap_resamples=200))
    TIMINGS["results"] = {"a_mean_count": results["study_a"]["mean_count"], "b_share_yes": results["study_b"]["share_yes"],
                          **{f"a_{k}": v["value"] for k, v in results["study_a"]["agreement"].items()},
                          **{f"b_{k}": v["value"] for k, v in results["study_b"]["agreement"].items()}}

    # The careless rater fails every check and is dropped; the others' statistics are as computed by hand.
    # Raters are named by user id with their email beside it (human_eval/annotations.py), or by email alone.
    email = {name: summary.get("email") or name for name, summary in results["per_rater"].items()}
    per_rater = {email[name]: summary for name, summary in results["per_rater"].items()}
    assert [email[name] for name in results["raters_dropped"]] == ["eve@example.com"] and results["raters"] == len(RATERS)
    assert sorted(per_rater) == sorted(RATERS)
    assert per_rater["eve@example.com"]["check_accuracy"] == 0.0
    assert all(per_rater[e]["check_accuracy"] == 1.0 for e in ("ann@example.com", "bob@example.com", "cy@example.com"))
    want = expected_statistics(exported.tasks, [CAREFUL, OFF_BY_ONE, CAREFUL], limit=RATED)
    a, b = results["study_a"], results["study_b"]
    assert a["ratings"] == want["a_ratings"] == 3 * RATED and a["items_rated"] == RATED and a["items"] == IMAGES
    assert a["ratings_per_item"] == {0: IMAGES - RATED, 3: RATED}
    assert {int(k): v for k, v in a["count_distribution"].items() if v} == dict(want["a_distribution"])
    assert a["mean_count"] == pytest.approx(want["a_mean_count"])
    assert a["agreement"]["count_alpha_interval"]["value"] == pytest.approx(want["a_alpha_interval"])
    assert a["agreement"]["per_word_alpha_nominal"]["value"] == pytest.approx(want["a_per_word_alpha"])
    assert a["agreement"]["per_word_fleiss_kappa"]["value"] == pytest.approx(want["a_per_word_kappa"])
    assert b["share_yes"] == pytest.approx(want["b_share_yes"])
    assert b["agreement"]["alpha_nominal"]["value"] == pytest.approx(want["b_alpha"])
    assert b["agreement"]["fleiss_kappa"]["value"] == pytest.approx(want["b_kappa"])
    assert all(c["lost_count"] == 0 and c["pulled"] == IMAGES + CHECKS for c in results["completeness"].values())

    # A project whose labeling config was changed on the server is refused, not mixed with ours.
    changed = exported.configs["b"].replace("</View>", '  <TextArea name="comment" toName="pair"/>\n</View>')
    client.projects.update(id=first.projects["b"], label_config=changed)
    with pytest.raises(ServerError, match=r"has a labeling config that differs from study \(b\)'s"):
        push(exported, url, admin)

    # A pull while the server is down fails with the clear message (exit 2), not a traceback.
    running.stop()
    capsys.readouterr()
    assert main(["ratings", "pull", str(run), "--url", url, "--token", admin]) == 2
    assert f"cannot reach the Label Studio server at {url}" in capsys.readouterr().err


def _log_since(running: LabelStudioServer, offset: int) -> str:
    with open(running.log_path, errors="replace") as log:
        log.seek(offset)
        return log.read()


def _wait_for_request(running: LabelStudioServer, offset: int, pattern: str, at_least: int, while_alive) -> int:
    """Until the server's log (from `offset`) shows `pattern` `at_least` times; how many it showed."""
    deadline = time.perf_counter() + 120
    seen = 0
    while time.perf_counter() < deadline and while_alive():
        seen = len(re.findall(pattern, _log_since(running, offset)))
        if seen >= at_least:
            break
        time.sleep(0.02)
    return seen


def _task_ids(client, project_id: int) -> list[str]:
    """Our task_id of every task of the project, duplicates included."""
    return [task.data["task_id"] for task in client.tasks.list(project=project_id, fields="all", page_size=500)]


def test_an_interrupted_push_or_pull_loses_and_duplicates_nothing(server):
    from label_studio_sdk import LabelStudio

    from human_eval.export import export_studies
    from human_eval.server import ServerError, find_project, push, task_ids_on_server
    from human_eval.settings import RatingSettings, StudySettings
    from tests.fake_runs import make_run

    running, document_root = server
    if not running.running:  # the test above ends by stopping it; its data directory is reused
        running.requested_port = running.port
        running.start()
        TIMINGS["restart_s"] = running.startup_seconds
    run = make_run(document_root, name="run_interrupted", num_images=IMAGES)
    exported = export_studies(run, RatingSettings(study=StudySettings(sources=("main",), per_class=PER_CLASS, attention_checks=CHECKS)))
    every = {s: sorted(t["data"]["task_id"] for t in exported.tasks[s]) for s in ("a", "b")}
    admin = personal_access_token(running.url, ADMIN, PASSWORD, revoke_existing=True)  # one at a time: the test above made one

    # Push, and stop the server once a few import requests went through.
    offset = running.log_path.stat().st_size
    outcome: dict[str, object] = {}

    def pushing():
        try:
            outcome["result"] = push(exported, running.url, admin, batch_size=SMALL_BATCH)
        except Exception as error:  # noqa: BLE001 - the test looks at it below
            outcome["error"] = error

    thread = threading.Thread(target=pushing)
    thread.start()
    seen = _wait_for_request(running, offset, r"POST /api/projects/\d+/import", 3, thread.is_alive)
    running.stop()
    thread.join(timeout=120)
    assert seen >= 3 and "result" not in outcome, f"the push ended before the server was stopped ({seen} imports seen)"
    assert isinstance(outcome.get("error"), ServerError) and "cannot reach the Label Studio server" in str(outcome["error"])

    # Restarted on the same data directory, pushed again: every task exactly once.
    running.requested_port = running.port
    running.start()
    TIMINGS["restart_after_push_s"] = running.startup_seconds
    url = running.url
    client = LabelStudio(base_url=url, api_key=admin)
    before = {s: len(_task_ids(client, p.id)) if (p := find_project(client, url, exported.title(s))) else 0 for s in ("a", "b")}
    started = time.perf_counter()
    again = push(exported, url, admin)
    TIMINGS["push_after_interruption_s"] = round(time.perf_counter() - started, 2)
    TIMINGS["tasks_in_before_the_stop"] = sum(before.values())
    assert 0 < sum(before.values()) < 2 * (IMAGES + CHECKS)  # it was stopped half-way
    assert again.already_there == before and {s: again.imported[s] + before[s] for s in ("a", "b")} == {"a": IMAGES + CHECKS, "b": IMAGES + CHECKS}
    titles = [p.title for p in client.projects.list()]
    for study in ("a", "b"):
        assert titles.count(exported.title(study)) == 1
        assert sorted(_task_ids(client, again.projects[study])) == every[study]  # none missing, none twice
    third = push(exported, url, admin)
    assert third.imported == {"a": 0, "b": 0} and third.projects == again.projects

    # A complete pull (one rater), then one killed half-way: the earlier results stay as they were.
    server_ids = {s: task_ids_on_server(client, url, again.projects[s]) for s in ("a", "b")}
    assert _rate(url, "ida@example.com", CAREFUL, exported, server_ids) == 2 * (RATED + CHECKS)
    command = [sys.executable, "-m", "harness.cli", "ratings", "pull", str(run), "--url", url, "--token", admin, "--bootstrap", "200"]
    started = time.perf_counter()
    complete = subprocess.run(command, capture_output=True, text=True, timeout=600)
    TIMINGS["cli_pull_s"] = round(time.perf_counter() - started, 2)
    assert complete.returncode == 0, complete.stderr
    results = exported.folder / "results.json"
    earlier = results.read_bytes()
    assert json.loads(earlier)["study_a"]["ratings"] == RATED

    offset = running.log_path.stat().st_size
    pulling = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        # Once the pull has checked its token, freeze the server: the pull waits on it, and is killed there.
        seen = _wait_for_request(running, offset, r"GET /api/current-user/whoami", 1, lambda: pulling.poll() is None)
        os.kill(running.process.pid, signal.SIGSTOP)
        alive = pulling.poll() is None
        pulling.kill()
        pulling.wait(timeout=30)
    finally:
        os.kill(running.process.pid, signal.SIGCONT)
    assert seen and alive, "the pull ended before it could be interrupted"
    assert results.read_bytes() == earlier
    assert httpx.get(f"{url}/health", timeout=30).status_code == 200  # the server goes on serving
