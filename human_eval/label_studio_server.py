"""Install and run the Label Studio server that the rating studies are pushed to (server.py).

label-studio 1.23.2 pins Django, pytz, numpy and others strictly, so it lives in a virtual environment
of its own, never in the project's: ``<cache>/label-studio-1.23.2`` with <cache> = $TEXPLAIN_CACHE or
~/.cache/texplain. It is installed with the pins of ``label-studio-constraints.txt`` beside this file,
because a fresh resolve of its open ranges can pick releases that stop the server at start.

``ensure_server_venv`` creates or reuses that environment. It counts as ready only once a server
started from it has answered GET /health; the ready marker records the constraints file's hash, so a
changed file makes it rebuild and check again. An environment that is not ready, or whose server does
not come up, is wiped and rebuilt once; if that fails too, ``ServerInstallError`` says why, with the
server's log and the fix.

``server_environment`` is the environment ``label-studio start`` needs to run offline and serve the
exported images: the latest-version check (a request to pypi.org at every start), usage analytics and
error reporting (Sentry, on by default, also in the browser) off, local-file serving on with the
document root, and none of the caller's variables that the server would read instead of ours.

``LabelStudioServer`` runs one server on 127.0.0.1 (start, wait for /health, stop by process id; a
context manager), and ``personal_access_token`` gets a token the way a user does in the browser.

    python -m human_eval.label_studio_server --document-root runs --port 8080

installs the environment if needed and runs a server in the foreground until Ctrl-C.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

from texplain.errors import TExplainError

VERSION = "1.23.2"
PACKAGE = f"label-studio=={VERSION}"
CONSTRAINTS = Path(__file__).with_name("label-studio-constraints.txt")
READY_MARKER = ".texplain-ready"
STARTUP_TIMEOUT = 300.0  # a first start migrates a new database: 30-40 s on 2 cores
INSTALL_TIMEOUT = 1800.0
STOP_TIMEOUT = 30.0
LOG_TAIL = 4000

# Every setting below is read by the server as LABEL_STUDIO_<NAME>, then HEARTEX_<NAME>, then bare
# <NAME> (label_studio/core/utils/params.py get_env), so ours carry the prefix that wins.
OFFLINE_SETTINGS = {
    # label_studio/core/utils/common.py asks pypi.org for the latest release whenever it is imported.
    "LABEL_STUDIO_LATEST_VERSION_CHECK": "false",
    # The server's settings default to Label Studio's public Sentry project; an empty DSN skips
    # sentry_sdk.init() (core/utils/sentry.py), and the empty frontend DSN keeps the pages from
    # loading Sentry in the raters' browsers.
    "LABEL_STUDIO_SENTRY_DSN": "",
    "LABEL_STUDIO_FRONTEND_SENTRY_DSN": "",
    "LABEL_STUDIO_COLLECT_ANALYTICS": "false",
}
# The server takes these bare names too (PORT over its own default, USERNAME with PASSWORD creates a
# user), so a shell's own USERNAME or PORT would change what starts.
STRAY_NAMES = ("PORT", "HOST", "USERNAME", "PASSWORD", "USER_TOKEN")
STRAY_PREFIXES = ("LABEL_STUDIO_", "HEARTEX_")
PORT_LINE = re.compile(r"Starting development server at http://[^\s/]+:(\d+)/")


class LabelStudioError(TExplainError):
    """The Label Studio server could not be installed, started or logged into."""


class ServerStartError(LabelStudioError):
    """A label-studio process that exited or did not answer /health in time."""


class ServerInstallError(LabelStudioError):
    """The server's virtual environment could not be made to start a working server."""


def cache_root() -> Path:
    root = os.environ.get("TEXPLAIN_CACHE")
    return Path(root) if root else Path.home() / ".cache" / "texplain"


def venv_path(root: Path | str | None = None) -> Path:
    return Path(root or cache_root()) / f"label-studio-{VERSION}"


def default_data_dir() -> Path:
    """Where `label-studio start` keeps its database when not told otherwise (appdirs' user data dir)."""
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "label-studio"
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "label-studio"


def server_environment(data_dir: Path | str, document_root: Path | str, admin: tuple[str, str] | None = None,
                       base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for `label-studio start`: `base` (default os.environ) without the variables the
    server would take for its own, plus the offline settings, local-file serving on `document_root`,
    the database in `data_dir`, and `admin` = (email, password) created at start if it does not exist."""
    env = {k: v for k, v in (os.environ if base is None else base).items()
           if k not in STRAY_NAMES and not k.startswith(STRAY_PREFIXES)}
    env.update(OFFLINE_SETTINGS)
    env.update({
        "LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED": "true",
        "LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT": str(Path(document_root).resolve()),
        "LABEL_STUDIO_BASE_DATA_DIR": str(Path(data_dir).resolve()),
        # The port is read from the log while the server runs; a block-buffered stdout would hold it back.
        "PYTHONUNBUFFERED": "1",
    })
    if admin is not None:
        env["LABEL_STUDIO_USERNAME"], env["LABEL_STUDIO_PASSWORD"] = admin
    return env


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def _http_get(url: str, timeout: float) -> int:
    # No proxy: a proxy from the environment cannot reach our 127.0.0.1.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=timeout) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


class LabelStudioServer:
    """One `label-studio start` process on 127.0.0.1; `stop` ends exactly it, by its process id.

    The requested port (default: a free one) is only a wish: label-studio moves on to the next port
    when one is busy, so the port it took is read from its log. The log is appended to, so that a
    restart on the same data directory keeps the earlier log."""

    def __init__(self, venv: Path | str, data_dir: Path | str, document_root: Path | str, admin: tuple[str, str] | None = None,
                 port: int | None = None, host: str = "127.0.0.1", log_path: Path | str | None = None,
                 startup_timeout: float = STARTUP_TIMEOUT):
        self.venv, self.data_dir, self.document_root = Path(venv), Path(data_dir), Path(document_root)
        self.admin, self.requested_port, self.host, self.startup_timeout = admin, port, host, startup_timeout
        self.log_path = Path(log_path) if log_path else self.data_dir.parent / f"{self.data_dir.name}.label-studio.log"
        self.process: subprocess.Popen | None = None
        self.port: int | None = None
        self.started_command: list[str] = []
        self.startup_seconds: float | None = None
        self._log_start = 0

    @property
    def url(self) -> str:
        if self.port is None:
            raise LabelStudioError("the Label Studio server is not started")
        # A server listening on every address answers on the loopback one too.
        return f"http://{'127.0.0.1' if self.host in ('0.0.0.0', '::', '') else self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def command(self, port: int) -> list[str]:
        return [str(self.venv / "bin" / "label-studio"), "start", "--no-browser", "--internal-host", self.host,
                "--port", str(port), "--data-dir", str(self.data_dir)]

    def start(self) -> LabelStudioServer:
        """Start the server and return once /health answers 200; ServerStartError (with the log) otherwise."""
        if self.running:
            return self
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        self._log_start = self.log_path.stat().st_size if self.log_path.exists() else 0
        requested = self.requested_port or free_port()
        self.started_command = self.command(requested)
        with open(self.log_path, "a") as log:
            # Its own session: a Ctrl-C meant for the caller does not reach it half-way; stop() ends it.
            self.process = subprocess.Popen(self.started_command, env=server_environment(self.data_dir, self.document_root, self.admin),
                                            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            self.port = self._wait_for_port(requested, started)
            self._wait_healthy(started)
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = round(time.perf_counter() - started, 1)
        return self

    def log_tail(self, chars: int = LOG_TAIL) -> str:
        if not self.log_path.exists():
            return "(no log)"
        with open(self.log_path, errors="replace") as log:
            log.seek(self._log_start)
            return log.read()[-chars:]

    def _failed(self, what: str) -> ServerStartError:
        return ServerStartError(f"label-studio {what} (command: {' '.join(self.started_command)}; "
                                f"log {self.log_path}):\n{self.log_tail()}")

    def _wait_for_port(self, requested: int, started: float) -> int:
        while time.perf_counter() - started < self.startup_timeout:
            match = PORT_LINE.search(self.log_tail(chars=1 << 30))
            if match:
                return int(match.group(1))
            if self.process.poll() is not None:
                raise self._failed(f"exited with {self.process.returncode} before serving")
            time.sleep(0.25)
        raise self._failed(f"did not start within {self.startup_timeout:.0f} s (requested port {requested})")

    def _wait_healthy(self, started: float) -> None:
        while time.perf_counter() - started < self.startup_timeout:
            try:
                if _http_get(f"{self.url}/health", timeout=5) == 200:
                    return
            except (OSError, urllib.error.URLError):
                pass
            if self.process.poll() is not None:
                raise self._failed(f"exited with {self.process.returncode} on port {self.port}")
            time.sleep(0.25)
        raise self._failed(f"did not answer {self.url}/health within {self.startup_timeout:.0f} s")

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """SIGTERM, then SIGKILL after `timeout` seconds; only this process, by its id."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=timeout)

    def __enter__(self) -> LabelStudioServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def personal_access_token(url: str, email: str, password: str, sign_up: bool = False, revoke_existing: bool = False) -> str:
    """What a user does in the browser: sign up (or log in) through the CSRF-protected form, then
    create a personal access token (POST /api/token/). Label Studio 1.23 refuses legacy tokens unless
    the organization enables them, although /api/current-user/token still hands one out.

    A user holds one personal access token at a time and the server shows it only when it is created;
    with `revoke_existing` the ones the user has are revoked first (as on the Account & Settings page),
    else a second request is an error."""
    import httpx

    with httpx.Client(base_url=url, follow_redirects=False, timeout=60, trust_env=False) as browser:
        page = "/user/signup/" if sign_up else "/user/login/"
        browser.get(page)
        answer = browser.post(page, data={"email": email, "password": password, "csrfmiddlewaretoken": browser.cookies.get("csrftoken")},
                              headers={"Referer": url + page})
        if answer.status_code != 302:  # the form answers 200 with the page again when it refuses
            raise LabelStudioError(f"{url}{page} as {email} gave {answer.status_code} instead of a redirect: "
                                   + ("the email may be taken" if sign_up else "wrong email or password"))
        form = {"X-CSRFToken": browser.cookies.get("csrftoken"), "Referer": url + "/"}
        token = browser.post("/api/token/", headers=form)
        if token.status_code == 409 and revoke_existing:
            # The list gives each token without its signature, which is what the blacklist takes.
            for existing in browser.get("/api/token/", headers=form).json():
                browser.post("/api/token/blacklist/", json={"refresh": existing["token"]}, headers=form)
            token = browser.post("/api/token/", headers=form)
        if token.status_code == 409:
            raise LabelStudioError(f"{email} already has a personal access token on {url}, and the server shows it only once: use it, "
                                   "or revoke it under Account & Settings > Personal Access Token and create another")
        if token.status_code != 201:
            raise LabelStudioError(f"{url}/api/token/ as {email} gave {token.status_code}: {token.text[:400]}")
        return token.json()["token"]


def constraints_hash(constraints: Path = CONSTRAINTS) -> str:
    return hashlib.sha256(Path(constraints).read_bytes()).hexdigest()


def pip_install(venv: Path, constraints: Path, log: Path) -> None:
    """Create `venv` with this Python and install label-studio into it with the constraints; the output
    goes to `log`. Raises CalledProcessError when a step fails."""
    with open(log, "a") as out:
        subprocess.run([sys.executable, "-m", "venv", str(venv)], stdout=out, stderr=subprocess.STDOUT, check=True)
        subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--disable-pip-version-check", PACKAGE, "-c", str(constraints)],
                       stdout=out, stderr=subprocess.STDOUT, check=True, timeout=INSTALL_TIMEOUT)


def _marker(venv: Path) -> dict | None:
    try:
        return json.loads((venv / READY_MARKER).read_text())
    except (OSError, ValueError):
        return None


def is_ready(venv: Path, constraints: Path = CONSTRAINTS) -> bool:
    """Checked with these constraints, and its programs are still there (a marker survives a deleted interpreter)."""
    marker = _marker(venv)
    if not isinstance(marker, dict) or marker.get("label_studio") != VERSION or marker.get("constraints_sha256") != constraints_hash(constraints):
        return False
    python, program = venv / "bin" / "python", venv / "bin" / "label-studio"
    if not (os.access(python, os.X_OK) and os.access(program, os.X_OK)):
        return False
    try:
        check = subprocess.run([str(python), "-c", f"import label_studio, sys; sys.exit(label_studio.__version__ != {VERSION!r})"],
                               capture_output=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return check.returncode == 0


def check_server(venv: Path, log: Path, startup_timeout: float = STARTUP_TIMEOUT) -> float:
    """Start a server from `venv` on a temporary database and stop it once /health answers; its seconds to /health."""
    with tempfile.TemporaryDirectory(prefix="texplain-ls-check-") as scratch:
        root = Path(scratch)
        (root / "documents").mkdir()
        server = LabelStudioServer(venv, root / "data", root / "documents", log_path=log, startup_timeout=startup_timeout)
        with server:
            return server.startup_seconds


@contextmanager
def _locked(path: Path):
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as lock:
        # Two processes sharing a cache once installed into one venv at the same time and pip failed on
        # the other's temporary files; the lock is released when the file closes.
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def ensure_server_venv(root: Path | str | None = None, *, constraints: Path | str = CONSTRAINTS,
                       install: Callable[[Path, Path, Path], None] = pip_install,
                       startup_timeout: float = STARTUP_TIMEOUT) -> Path:
    """The server's virtual environment under `root` (default $TEXPLAIN_CACHE or ~/.cache/texplain),
    installed if needed and known to start a server.

    `install(venv, constraints, log)` creates the venv and installs label-studio (default: pip_install);
    tests pass their own. A venv is marked ready only after its server answered /health; one that is not
    ready is wiped and installed again, and once more if its server fails, then ServerInstallError."""
    venv, constraints = venv_path(root), Path(constraints)
    if not constraints.is_file():
        raise ServerInstallError(f"{constraints} is missing: the server's venv is installed with its pins. Run from a checkout of the "
                                 "project (pip install -e .), or pass constraints= a copy of that file")
    install_log, check_log = venv.with_name(venv.name + ".install.log"), venv.with_name(venv.name + ".check.log")
    with _locked(venv.with_name(venv.name + ".lock")):
        if is_ready(venv, constraints):
            return venv
        failures = []
        for attempt in (1, 2):
            if venv.exists():
                _say(f"label-studio: removing {venv} (not checked with {constraints.name}, or its server failed)")
                shutil.rmtree(venv)
            install_log.write_text("")
            check_log.write_text("")
            _say(f"label-studio: installing {PACKAGE} into {venv} with {constraints} (attempt {attempt} of 2; 1-2 minutes)")
            started = time.perf_counter()
            try:
                install(venv, constraints, install_log)
            except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as error:
                failures.append(f"attempt {attempt}: the install failed ({error}); pip's output, {install_log}:\n"
                                + install_log.read_text(errors="replace")[-LOG_TAIL:])
                continue
            installed = time.perf_counter() - started
            _say(f"label-studio: installed in {installed:.0f} s; checking that its server starts (about a minute)")
            try:
                health = check_server(venv, check_log, startup_timeout)
            except (ServerStartError, OSError) as error:
                failures.append(f"attempt {attempt}: {error}")
                continue
            marker = {"label_studio": VERSION, "constraints_sha256": constraints_hash(constraints), "constraints": str(constraints),
                      "python": sys.version.split()[0], "install_s": round(installed, 1), "health_s": health,
                      "checked": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
            (venv / READY_MARKER).write_text(json.dumps(marker, indent=2) + "\n")
            _say(f"label-studio: its server answered /health after {health} s; {venv} is ready")
            return venv
        raise ServerInstallError(
            f"{PACKAGE} in {venv} does not give a working server, after a rebuild:\n\n" + "\n\n".join(failures)
            + f"\n\nFix: a new release of one of its dependencies probably breaks it. Find the package in the traceback above, "
            f"pin it below that release in {constraints} (one line, e.g. `somepackage<3`, with a comment saying why) and run "
            "again: the changed file makes the venv rebuild. If the install itself failed, check the connection to the package "
            f"index. The venv was left as it is for a look ({venv / 'bin' / 'label-studio'} start)."
        )


def _print_help(server: LabelStudioServer, admin: tuple[str, str] | None) -> None:
    url = server.url
    who = f"log in as {admin[0]}" if admin else "sign up with an email and a password"
    print(f"\nLabel Studio {VERSION} at {url} (database {server.data_dir}; local files served from {server.document_root.resolve()})\n"
          f"Token: open {url}, {who}, then Account & Settings > Personal Access Token > Create (shown once; one per user), and pass it:\n"
          f"  texplain ratings push runs/<run> --url {url} --token TOKEN   (or export LABEL_STUDIO_API_KEY=TOKEN)\n"
          "The legacy token on that page is refused: Label Studio 1.23 has legacy tokens off. Raters sign up at "
          f"{url}/user/signup/.\nCtrl-C stops the server.", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m human_eval.label_studio_server",
        description=f"Install label-studio {VERSION} into its own venv if needed, and run it in the foreground, offline "
                    "(no version check, no error reporting, no analytics), serving the exported images. "
                    "LABEL_STUDIO_USERNAME (an email) and LABEL_STUDIO_PASSWORD, when set, create that admin at the first start.")
    parser.add_argument("--document-root", required=True, help="the folder the images are served from: the one holding the runs (e.g. runs)")
    parser.add_argument("--port", type=int, default=8080, help="default 8080; the server moves to the next free port when it is busy")
    parser.add_argument("--data-dir", type=Path, default=default_data_dir(),
                        help="the server's database and uploads (default: label-studio's own, %(default)s)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1; 0.0.0.0 lets raters on other machines in)")
    parser.add_argument("--cache", type=Path, help="where the venv lives (default $TEXPLAIN_CACHE or ~/.cache/texplain)")
    args = parser.parse_args(argv)
    document_root = Path(args.document_root)
    email, password = os.environ.get("LABEL_STUDIO_USERNAME"), os.environ.get("LABEL_STUDIO_PASSWORD")
    admin = (email, password) if email and password else None
    server = LabelStudioServer(venv_path(args.cache), args.data_dir, document_root, admin=admin, port=args.port, host=args.host,
                               log_path=args.data_dir / "texplain-label-studio.log")
    try:
        if not document_root.is_dir():
            raise LabelStudioError(f"--document-root {document_root} is not a folder; pass the folder that holds the runs (e.g. runs)")
        server.venv = ensure_server_venv(args.cache)
        print(f"starting label-studio {VERSION} (a new database takes about a minute; log {server.log_path})", flush=True)
        server.start()
        _print_help(server, admin)
        shown = server.log_path.stat().st_size
        while server.process.poll() is None:
            time.sleep(0.5)
            shown = _follow(server.log_path, shown)
        print(f"label-studio exited with {server.process.returncode}:\n{server.log_tail()}", file=sys.stderr)
        return 1
    except LabelStudioError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\nstopping label-studio", flush=True)
        return 0
    finally:
        server.stop()


def _follow(log: Path, shown: int) -> int:
    """Print what the server wrote since `shown` bytes: a server in the foreground shows its requests."""
    with open(log, "rb") as file:
        file.seek(shown)
        new = file.read()
    if new:
        sys.stdout.write(new.decode(errors="replace"))
        sys.stdout.flush()
    return shown + len(new)


if __name__ == "__main__":
    sys.exit(main())
