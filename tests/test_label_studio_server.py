"""The rating studies against a real Label Studio server (human_eval/server.py; TExplain, Section 4.2, Figure 3).

The server (label-studio 1.23.2) is installed into its own virtual environment, never into the project's:
it pins Django, pytz, numpy and others strictly. The environment is cached between runs under
$TEXPLAIN_CACHE/label-studio-1.23.2 (or ~/.cache/texplain/...) and reused when it imports; the first run
installs it (about a minute from the package mirrors). The server starts on 127.0.0.1 with a temporary
data directory and a free port (it silently moves to the next port when one is busy, so the port is read
from its log), with LATEST_VERSION_CHECK=false (no wait on PyPI) and COLLECT_ANALYTICS=0, and an admin
user from LABEL_STUDIO_USERNAME (an email) / LABEL_STUDIO_PASSWORD. Stray PORT, HOST, USERNAME and
PASSWORD variables are removed from its environment: the server reads bare names too.

Tokens are obtained as a user would: log in (or sign up) on the web pages, then POST /api/token/ for a
personal access token (legacy tokens are off by default in these versions). The test pushes a few hundred
tasks twice (no duplicates), checks that the server serves the images (local-file serving), signs up four
raters who post annotations with their own tokens (one fails the attention checks), pulls everything
back, compares the statistics with the values computed by hand for the simulated raters
(tests/human_eval_raters.py), checks that nothing was lost, that a wrong token gets the clear 401
message, and that a pull from the stopped server fails with the clear message. The server is stopped by
its process id in the fixture's teardown.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.human_eval_raters import CAREFUL, CARELESS, OFF_BY_ONE, answer, expected_statistics, rated, result

pytestmark = pytest.mark.slow  # minutes, not seconds; slow tests still run in CI (`make test`)

VERSION = "1.23.2"
ADMIN, PASSWORD = "admin@example.com", "texplain-admin-pw-1"
RATERS = {"ann@example.com": CAREFUL, "bob@example.com": OFF_BY_ONE, "cy@example.com": CAREFUL, "eve@example.com": CARELESS}
IMAGES, PER_CLASS, CHECKS, RATED = 300, 100, 10, 30  # 310 tasks per study; raters rate the first 30 and every check
STARTUP_TIMEOUT = 300
TIMINGS: dict[str, float] = {}


def cache_root() -> Path:
    root = os.environ.get("TEXPLAIN_CACHE")
    return Path(root) if root else Path.home() / ".cache" / "texplain"


def server_venv() -> Path:
    """The server's own virtual environment, installed once and reused while it imports label_studio.

    Under a file lock: two test runs sharing one cache once installed into the same venv at the same time
    and pip failed on the other's temporary files."""
    import fcntl

    venv = cache_root() / f"label-studio-{VERSION}"
    venv.parent.mkdir(parents=True, exist_ok=True)
    with open(venv.parent / f"label-studio-{VERSION}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        return _installed_venv(venv)


def _installed_venv(venv: Path) -> Path:
    python, ready = venv / "bin" / "python", venv / ".texplain-ready"
    check = [str(python), "-c", f"import label_studio; assert label_studio.__version__ == '{VERSION}'"]
    if ready.exists() and python.exists() and subprocess.run(check, capture_output=True).returncode == 0:
        TIMINGS["install_s"] = 0.0
        return venv
    started = time.perf_counter()
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
    # Into the server's venv only; a half-finished earlier install is completed rather than redone.
    install = subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", f"label-studio=={VERSION}"],
                             capture_output=True, text=True, timeout=1800)
    if install.returncode != 0 or subprocess.run(check, capture_output=True).returncode != 0:
        pytest.fail(f"could not install label-studio=={VERSION} into {venv}:\n{install.stdout[-2000:]}\n{install.stderr[-3000:]}")
    ready.write_text(VERSION)
    TIMINGS["install_s"] = round(time.perf_counter() - started, 1)
    return venv


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_environment(data_dir: Path, document_root: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           # The server reads LABEL_STUDIO_X, HEARTEX_X and bare X: none of the caller's may leak in.
           if k not in ("PORT", "HOST", "USERNAME", "PASSWORD") and not k.startswith(("LABEL_STUDIO_", "HEARTEX_"))}
    env.update({
        "LABEL_STUDIO_USERNAME": ADMIN, "LABEL_STUDIO_PASSWORD": PASSWORD,
        "LATEST_VERSION_CHECK": "false", "COLLECT_ANALYTICS": "0", "LABEL_STUDIO_COLLECT_ANALYTICS": "0",
        "LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED": "true", "LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT": str(document_root),
        "LABEL_STUDIO_BASE_DATA_DIR": str(data_dir),
    })
    return env


class Server:
    """One label-studio process; `stop` ends exactly it, by its process id."""

    def __init__(self, venv: Path, data_dir: Path, document_root: Path):
        self.log_path = data_dir.parent / "label-studio.log"
        data_dir.mkdir(parents=True, exist_ok=True)
        requested = free_port()
        started = time.perf_counter()
        with open(self.log_path, "w") as log:
            self.process = subprocess.Popen(
                [str(venv / "bin" / "label-studio"), "start", "--no-browser", "--port", str(requested), "--data-dir", str(data_dir)],
                env=server_environment(data_dir, document_root), stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )
        self.port = self._wait_for_port(requested, started)
        self.url = f"http://127.0.0.1:{self.port}"
        self._wait_healthy(started)
        TIMINGS["startup_s"] = round(time.perf_counter() - started, 1)

    def log_tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def _wait_for_port(self, requested: int, started: float) -> int:
        # The port the server took: it moves on to the next one when the requested port is busy.
        while time.perf_counter() - started < STARTUP_TIMEOUT:
            match = re.search(r"Starting development server at http://[^:/]+:(\d+)/", self.log_path.read_text(errors="replace"))
            if match:
                return int(match.group(1))
            if self.process.poll() is not None:
                pytest.fail(f"label-studio exited with {self.process.returncode} before serving:\n{self.log_tail()}")
            time.sleep(0.5)
        pytest.fail(f"label-studio did not start within {STARTUP_TIMEOUT} s (requested port {requested}):\n{self.log_tail()}")

    def _wait_healthy(self, started: float) -> None:
        while time.perf_counter() - started < STARTUP_TIMEOUT:
            try:
                if httpx.get(f"{self.url}/health", timeout=3).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if self.process.poll() is not None:
                pytest.fail(f"label-studio exited with {self.process.returncode}:\n{self.log_tail()}")
            time.sleep(0.5)
        pytest.fail(f"{self.url}/health did not answer within {STARTUP_TIMEOUT} s:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=30)


def personal_access_token(url: str, email: str, password: str, sign_up: bool = False) -> str:
    """What a user does in the browser: sign up or log in (CSRF form), then create a personal access token."""
    with httpx.Client(base_url=url, follow_redirects=False, timeout=60) as browser:
        page = "/user/signup/" if sign_up else "/user/login/"
        browser.get(page)
        answer_ = browser.post(page, data={"email": email, "password": password, "csrfmiddlewaretoken": browser.cookies.get("csrftoken")},
                               headers={"Referer": url + page})
        assert answer_.status_code == 302, f"{page} as {email} gave {answer_.status_code} (expected a redirect after success)"
        token = browser.post("/api/token/", headers={"X-CSRFToken": browser.cookies.get("csrftoken"), "Referer": url + "/"})
        assert token.status_code == 201, token.text
        return token.json()["token"]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    venv = server_venv()
    root = tmp_path_factory.mktemp("label_studio")
    document_root = root / "runs"
    document_root.mkdir()
    running = Server(venv, root / "data", document_root)
    try:
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
    assert results["raters_dropped"] == ["eve@example.com"] and results["raters"] == len(RATERS)
    assert results["per_rater"]["eve@example.com"]["check_accuracy"] == 0.0
    assert all(results["per_rater"][e]["check_accuracy"] == 1.0 for e in ("ann@example.com", "bob@example.com", "cy@example.com"))
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
