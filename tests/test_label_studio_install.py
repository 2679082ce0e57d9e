"""The server's virtual environment (human_eval/label_studio_server.py), with fake installs: no pip, no
label-studio. A fake install writes bin/python (exits 0, so `import label_studio` "works") and a
bin/label-studio that either crashes at start, as label-studio 1.23.2 did with sentry-sdk 3, or serves
/health with http.server after printing label-studio's "Starting development server at ..." line.

A venv is ready only once its server answered /health: a crashing one is never marked ready, never
reused, rebuilt once and then reported with its log and the fix; a ready one is reused without an
install or a start; an old marker (the test helper's, written after a mere import) or a changed
constraints file makes it rebuild.
"""

from __future__ import annotations

import json
import os
import socket
import stat
import sys
from pathlib import Path

import pytest

from human_eval import label_studio_server as ls
from human_eval.label_studio_server import LabelStudioServer, ServerInstallError, ServerStartError, ensure_server_venv

CRASH = "TypeError: Unknown option 'send_default_pii'"

SERVING = f"""#!{sys.executable}
import http.server, json, os, sys
args = sys.argv[1:]
host, port = args[args.index("--internal-host") + 1], int(args[args.index("--port") + 1])
venv = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
with open(os.path.join(venv, "starts"), "a") as starts:
    starts.write("start\\n")
with open(os.path.join(venv, "environment.json"), "w") as out:
    json.dump(dict(os.environ), out)

class Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200 if self.path == "/health" else 404)
        self.end_headers()
        self.wfile.write(b'{{"status": "UP"}}')

    def log_message(self, *args):
        pass

while True:  # like label-studio: a busy port is skipped, and the log says which one it took
    try:
        server = http.server.HTTPServer((host, port), Health)
        break
    except OSError:
        print(f"* Port {{port}} is in use.", flush=True)
        port += 1
print(f"Starting development server at http://{{host}}:{{port}}/", flush=True)
server.serve_forever()
"""

CRASHING = f"""#!/bin/sh
echo "Traceback (most recent call last):"
echo "{CRASH}"
exit 1
"""

SILENT = """#!/bin/sh
echo "Starting development server at http://127.0.0.1:9/"
exec sleep 600
"""


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


class FakeInstall:
    """ensure_server_venv's `install`: writes a fake venv whose server is `servers[i]` on the i-th call."""

    def __init__(self, *servers: str):
        self.servers, self.calls = list(servers), []

    def __call__(self, venv: Path, constraints: Path, log: Path) -> None:
        self.calls.append((venv, constraints))
        assert not venv.exists(), "an install must start from a wiped venv"
        _write(venv / "bin" / "python", "#!/bin/sh\nexit 0\n")
        _write(venv / "bin" / "label-studio", self.servers[min(len(self.calls), len(self.servers)) - 1])
        log.write_text(f"fake pip: installed {ls.PACKAGE} -c {constraints}\n")


def _starts(venv: Path) -> int:
    path = venv / "starts"
    return len(path.read_text().splitlines()) if path.exists() else 0


@pytest.fixture
def constraints(tmp_path):
    path = tmp_path / "constraints.txt"
    path.write_text("sentry-sdk<3\n")
    return path


def test_a_crashing_server_is_never_marked_ready_rebuilt_once_then_reported(tmp_path, constraints):
    install = FakeInstall(CRASHING)
    with pytest.raises(ServerInstallError) as failure:
        ensure_server_venv(tmp_path / "cache", constraints=constraints, install=install)
    venv = ls.venv_path(tmp_path / "cache")
    assert len(install.calls) == 2  # the first venv and one rebuild
    assert not (venv / ls.READY_MARKER).exists()
    message = str(failure.value)
    assert message.count(CRASH) == 2 and "exited with 1 before serving" in message  # both servers' logs
    assert str(constraints) in message and "pin it below that release" in message
    assert isinstance(failure.value, ls.TExplainError)

    # The next run does not reuse it: it installs (and fails) again.
    with pytest.raises(ServerInstallError):
        ensure_server_venv(tmp_path / "cache", constraints=constraints, install=install)
    assert len(install.calls) == 4


def test_a_crashing_server_is_rebuilt_and_the_rebuilt_one_is_ready(tmp_path, constraints):
    install = FakeInstall(CRASHING, SERVING)
    venv = ensure_server_venv(tmp_path / "cache", constraints=constraints, install=install)
    assert len(install.calls) == 2 and _starts(venv) == 1
    marker = json.loads((venv / ls.READY_MARKER).read_text())
    assert marker["label_studio"] == ls.VERSION and marker["constraints_sha256"] == ls.constraints_hash(constraints)


def test_a_ready_venv_is_reused_without_install_or_start(tmp_path, constraints):
    install = FakeInstall(SERVING)
    venv = ensure_server_venv(tmp_path / "cache", constraints=constraints, install=install)
    assert ensure_server_venv(tmp_path / "cache", constraints=constraints, install=install) == venv
    assert len(install.calls) == 1 and _starts(venv) == 1

    # The checking server ran with the offline settings and local-file serving.
    environment = json.loads((venv / "environment.json").read_text())
    assert environment["LABEL_STUDIO_LATEST_VERSION_CHECK"] == "false" and environment["LABEL_STUDIO_SENTRY_DSN"] == ""
    assert environment["LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED"] == "true"


def test_an_old_marker_or_a_half_install_is_wiped_and_checked(tmp_path, constraints):
    """The test helper's marker (written once `import label_studio` worked, with a crashing server) is not trusted."""
    venv = ls.venv_path(tmp_path / "cache")
    _write(venv / "bin" / "python", "#!/bin/sh\nexit 0\n")
    _write(venv / "bin" / "label-studio", CRASHING)
    (venv / ls.READY_MARKER).write_text(ls.VERSION)
    (venv / "leftover").write_text("from an earlier install")
    install = FakeInstall(SERVING)
    assert ensure_server_venv(tmp_path / "cache", constraints=constraints, install=install) == venv
    assert len(install.calls) == 1 and not (venv / "leftover").exists() and _starts(venv) == 1


def test_a_changed_constraints_file_rebuilds_and_checks_again(tmp_path, constraints):
    install = FakeInstall(SERVING)
    venv = ensure_server_venv(tmp_path / "cache", constraints=constraints, install=install)
    constraints.write_text("sentry-sdk<3\nsomething-else<2\n")
    ensure_server_venv(tmp_path / "cache", constraints=constraints, install=install)
    assert len(install.calls) == 2 and _starts(venv) == 1  # a new venv, checked once
    assert json.loads((venv / ls.READY_MARKER).read_text())["constraints_sha256"] == ls.constraints_hash(constraints)


def test_a_deleted_interpreter_is_not_ready(tmp_path, constraints):
    install = FakeInstall(SERVING)
    venv = ensure_server_venv(tmp_path / "cache", constraints=constraints, install=install)
    (venv / "bin" / "python").unlink()
    assert not ls.is_ready(venv, constraints)
    ensure_server_venv(tmp_path / "cache", constraints=constraints, install=install)
    assert len(install.calls) == 2


def test_a_failing_install_is_retried_once_then_reported(tmp_path, constraints):
    import subprocess

    calls = []

    def failing(venv, constraints, log):
        calls.append(venv)
        log.write_text("ERROR: No matching distribution found for label-studio==1.23.2\n")
        raise subprocess.CalledProcessError(1, ["pip", "install"])

    with pytest.raises(ServerInstallError, match="No matching distribution"):
        ensure_server_venv(tmp_path / "cache", constraints=constraints, install=failing)
    assert len(calls) == 2


def _fake_venv(tmp_path: Path, server: str) -> Path:
    venv = tmp_path / "venv"
    _write(venv / "bin" / "label-studio", server)
    return venv


def test_the_server_reports_the_port_it_moved_to_and_stops_by_pid(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        requested = busy.getsockname()[1]
        server = LabelStudioServer(_fake_venv(tmp_path, SERVING), tmp_path / "data", tmp_path, port=requested)
        with server:
            assert server.port > requested and server.url == f"http://127.0.0.1:{server.port}"
            assert ls._http_get(server.url + "/health", timeout=5) == 200
            process = server.process
        assert process.poll() is not None  # stopped on leaving the block


def test_a_server_that_exits_or_never_answers_fails_with_its_log(tmp_path):
    with pytest.raises(ServerStartError, match="send_default_pii"):
        LabelStudioServer(_fake_venv(tmp_path, CRASHING), tmp_path / "data", tmp_path).start()
    server = LabelStudioServer(_fake_venv(tmp_path, SILENT), tmp_path / "data", tmp_path, startup_timeout=2)
    with pytest.raises(ServerStartError, match="did not answer"):
        server.start()
    assert server.process.poll() is not None  # not left running


def test_server_environment_drops_what_the_server_would_read_instead(tmp_path):
    caller = {"PATH": "/usr/bin", "PORT": "9999", "USERNAME": "me", "PASSWORD": "x", "HOST": "h", "LABEL_STUDIO_PORT": "1",
              "HEARTEX_LATEST_VERSION_CHECK": "true", "LABEL_STUDIO_SENTRY_DSN": "https://key@sentry.example/1", "LANG": "C.UTF-8"}
    env = ls.server_environment(tmp_path / "data", tmp_path / "runs", admin=("admin@example.com", "pw"), base=caller)
    assert env["PATH"] == "/usr/bin" and env["LANG"] == "C.UTF-8"
    assert not {"PORT", "USERNAME", "PASSWORD", "HOST", "LABEL_STUDIO_PORT", "HEARTEX_LATEST_VERSION_CHECK"} & set(env)
    assert env["LABEL_STUDIO_LATEST_VERSION_CHECK"] == "false" and env["LABEL_STUDIO_COLLECT_ANALYTICS"] == "false"
    assert env["LABEL_STUDIO_SENTRY_DSN"] == "" and env["LABEL_STUDIO_FRONTEND_SENTRY_DSN"] == ""
    assert env["LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED"] == "true"
    assert env["LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT"] == str((tmp_path / "runs").resolve())
    assert env["LABEL_STUDIO_BASE_DATA_DIR"] == str((tmp_path / "data").resolve())
    assert (env["LABEL_STUDIO_USERNAME"], env["LABEL_STUDIO_PASSWORD"]) == ("admin@example.com", "pw")
    assert "LABEL_STUDIO_USERNAME" not in ls.server_environment(tmp_path, tmp_path, base=caller)


def test_the_constraints_file_pins_sentry_below_3():
    lines = [line.split("#")[0].strip() for line in ls.CONSTRAINTS.read_text().splitlines()]
    assert "sentry-sdk<3" in lines


def test_the_command_line_runs_a_ready_venv_in_the_foreground_until_ctrl_c(tmp_path):
    """`python -m human_eval.label_studio_server` (the README's start command) on a ready fake venv."""
    import signal
    import subprocess

    ensure_server_venv(tmp_path / "cache", install=FakeInstall(SERVING))  # checked with the real constraints file
    (tmp_path / "runs").mkdir()
    port = ls.free_port()
    command = [sys.executable, "-m", "human_eval.label_studio_server", "--document-root", str(tmp_path / "runs"), "--port", str(port),
               "--cache", str(tmp_path / "cache"), "--data-dir", str(tmp_path / "data")]
    # SIGINT restored to its default in the child: a test run started in the background (nohup, `&` without job
    # control) inherits SIGINT ignored, and Python then installs no KeyboardInterrupt handler, so Ctrl-C would do nothing.
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             env={**os.environ, "LABEL_STUDIO_USERNAME": "admin@example.com", "LABEL_STUDIO_PASSWORD": "pw"},
                             preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    lines = []
    try:
        for line in child.stdout:
            lines.append(line)
            if line.startswith("Ctrl-C stops the server"):
                break
        url = f"http://127.0.0.1:{port}"
        assert any(url in line for line in lines) and any("log in as admin@example.com" in line for line in lines), "".join(lines)
        assert ls._http_get(url + "/health", timeout=5) == 200
        environment = json.loads((ls.venv_path(tmp_path / "cache") / "environment.json").read_text())
        assert environment["LABEL_STUDIO_USERNAME"] == "admin@example.com"
        assert environment["LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT"] == str((tmp_path / "runs").resolve())
        child.send_signal(signal.SIGINT)
        # communicate, not wait: the child keeps echoing the server's log to its stdout, and a pipe nobody reads
        # fills and blocks that echo (and then its "stopping" line), so it never reaches server.stop().
        rest, _ = child.communicate(timeout=60)
        assert child.returncode == 0, "".join(lines) + rest
        assert "stopping label-studio" in rest
    finally:
        if child.poll() is None:
            child.kill()
    with pytest.raises(OSError):
        ls._http_get(url + "/health", timeout=2)  # the server went with it


def test_a_missing_constraints_file_is_a_clear_error(tmp_path):
    with pytest.raises(ServerInstallError, match="missing"):
        ensure_server_venv(tmp_path / "cache", constraints=tmp_path / "nope.txt", install=FakeInstall(SERVING))
