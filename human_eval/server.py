"""Push the two rating studies (TExplain, Section 4.2, Figure 3) to a Label Studio server and pull the
ratings back, through label-studio-sdk 2.x (``LabelStudio(base_url=..., api_key=...)``, which takes a
personal access token, refreshed through /api/token/refresh; Label Studio 1.23 refuses legacy tokens
unless the organization enables them, so every message asks for a personal access token).

Push is idempotent: a run's project of each study is found again by its title (export.project_title),
and only tasks whose ``task_id`` the project does not hold yet are imported, so pushing twice creates
no second project and no duplicate task. A project of that title whose labeling config differs from
the study's is refused rather than mixed with ours. In local-files mode push attaches a local storage
on <run>/ratings/images to the project (it is never synced: that would add one task per file); the
server only serves files of a project that has one.

Pull reads each project's JSON export with every task, rated or not (Community edition's
``download_sync(download_all_tasks=True)``, which the SDK's ``projects.exports.as_json`` calls), and
keeps a copy in <run>/ratings/pulled/, written once both projects are read (each file atomically). A
rater is named by user id, as in a manual export from the web UI; where the token may list users, the
email is added beside the id (annotations.py keys raters by id either way, so both paths name them alike).

The errors a user meets name the server and the fix: unreachable server (with the full command that
starts one able to serve the export's images), a token the server refuses (401), a project missing or
with another labeling config, a server without local-file serving, a manual export of one study only.
"""

from __future__ import annotations

import contextvars
import json
import shlex
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from contracts.files import atomic_write_text, write_json
from human_eval.export import Export
from human_eval.label_configs import SPECS, STUDIES, same_config
from texplain.errors import TExplainError

IMPORT_BATCH = 500
PULLED_DIR = "pulled"


class ServerError(TExplainError):
    """The Label Studio server could not be used (unreachable, token refused, project mismatch)."""


# The export being pushed or pulled, so that an error deep in a call can say how to start a server
# that serves its images (set by `for_export`: pull sets it itself, the CLI around push).
_EXPORT: contextvars.ContextVar[Export | None] = contextvars.ContextVar("texplain_export", default=None)

TOKEN_ADVICE = ("create a personal access token on the server under Account & Settings > Personal Access Token "
                "and pass it with --token or $LABEL_STUDIO_API_KEY")


@contextmanager
def for_export(export: Export):
    """Within it, a server that cannot be reached is answered with the start command for `export`."""
    token = _EXPORT.set(export)
    try:
        yield
    finally:
        _EXPORT.reset(token)


def _port(url: str) -> int:
    parts = urlsplit(url)
    return parts.port or (443 if parts.scheme == "https" else 80)


def start_commands(url: str, export: Export | None = None) -> str:
    """How to start a server at `url` that serves `export`'s images: Label Studio's own command with
    local-file serving on the export's document root (and the version check and error reporting off,
    which otherwise wait on the network), and the harness's helper that does the same."""
    port = _port(url)
    # The LABEL_STUDIO_ names, which the server reads before bare ones: the version check, server and browser
    # error reporting and analytics would otherwise reach the internet (human_eval/label_studio_server.py).
    plain = ("LABEL_STUDIO_LATEST_VERSION_CHECK=false LABEL_STUDIO_SENTRY_DSN= LABEL_STUDIO_FRONTEND_SENTRY_DSN= "
             f"LABEL_STUDIO_COLLECT_ANALYTICS=false label-studio start --internal-host 127.0.0.1 --port {port} --no-browser")
    if export is not None and export.manifest.get("images_mode") == "base64":
        return f"`{plain}`"  # images inlined in the tasks: no file serving needed
    root = shlex.quote(str(export.document_root)) if export is not None and export.document_root else "<the export's document root>"
    return (f"`LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED=true LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT={root} {plain}` "
            f"(or `python -m human_eval.label_studio_server --document-root {root} --port {port}`)")


def _explain(error: Exception, url: str, doing: str) -> ServerError:
    """A ServerError for an exception of the SDK or of httpx below it, saying what to do."""
    import httpx
    from label_studio_sdk.core.api_error import ApiError

    if isinstance(error, httpx.TransportError):
        return ServerError(f"cannot reach the Label Studio server at {url} while {doing} ({type(error).__name__}: {error}); "
                           f"is it running? Start it with {start_commands(url, _EXPORT.get())}, or fix --url")
    if isinstance(error, ApiError):
        detail = error.body.get("detail") if isinstance(error.body, dict) else error.body
        if error.status_code == 401:
            # Label Studio 1.23 shows a legacy token on the same page but refuses it by default, so only a
            # personal access token is suggested.
            return ServerError(f"the Label Studio server at {url} refused the token while {doing} (401: {detail}): the token is wrong, "
                               f"expired or revoked, or not a personal access token; {TOKEN_ADVICE}")
        if error.status_code == 403:
            return ServerError(f"the Label Studio server at {url} forbids {doing} (403: {detail}); use a token of a user of the project's organization")
        return ServerError(f"the Label Studio server at {url} answered {error.status_code} while {doing}: {str(detail)[:400]}")
    return ServerError(f"Label Studio at {url}: {doing} failed ({type(error).__name__}: {error})")


def _call(url: str, doing: str, fn, *args, **kwargs):
    import httpx
    from label_studio_sdk.core.api_error import ApiError

    try:
        return fn(*args, **kwargs)
    except (httpx.TransportError, ApiError) as error:
        raise _explain(error, url, doing) from error


def connect(url: str, token: str, timeout: float = 60.0):
    """A client that has been checked against the server (GET /api/current-user/whoami)."""
    from label_studio_sdk import LabelStudio

    if not token:
        raise ServerError(f"no token for {url}: {TOKEN_ADVICE}")
    client = _call(url, "reading the token", LabelStudio, base_url=url.rstrip("/"), api_key=token, timeout=timeout)
    _call(url, "checking the token (whoami)", client.users.whoami)
    return client


def find_project(client, url: str, title: str):
    for project in _call(url, "listing projects", lambda: list(client.projects.list(page_size=100))):
        if project.title == title:
            return project
    return None


def _checked(project, study: str, url: str, export: Export):
    if not same_config(export.configs[study], project.label_config):
        raise ServerError(f"project {project.id} '{project.title}' on {url} has a labeling config that differs from study ({study})'s "
                          f"({export.folder / f'study_{study}.config.xml'}); it was changed on the server or made by another version. "
                          "Restore the config from that file (Settings > Labeling Interface), or rename or delete the project and push again")
    return project


def task_ids_on_server(client, url: str, project_id: int) -> dict[str, int]:
    """task_id (ours, in the task data) -> the server's task id, for every task of the project."""
    out = {}
    pager = _call(url, "listing tasks", client.tasks.list, project=project_id, fields="all", page_size=500)
    for task in _call(url, "listing tasks", lambda: list(pager)):
        ours = (task.data or {}).get("task_id")
        if ours is not None:
            out[ours] = task.id
    return out


@dataclass
class PushResult:
    projects: dict[str, int] = field(default_factory=dict)
    created: dict[str, bool] = field(default_factory=dict)
    imported: dict[str, int] = field(default_factory=dict)
    already_there: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


def _attach_local_storage(client, url: str, project_id: int, export: Export) -> None:
    images = str(export.images_dir.resolve())
    for storage in _call(url, "listing local storages", client.import_storage.local.list, project=project_id):
        if storage.path == images:
            return
    try:
        client.import_storage.local.create(project=project_id, path=images, title="texplain study images",
                                           use_blob_urls=False, recursive_scan=False)
    except Exception as error:
        raise ServerError(
            f"could not attach the local storage {images} to project {project_id} on {url} ({_explain(error, url, 'attaching it')}). "
            f"In local-files mode the server must run with LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED=true and "
            f"LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT={export.document_root} (the folder the export used), on a machine that sees "
            "that folder; or export with --images base64"
        ) from error


def push(export: Export, url: str, token: str, client=None, batch_size: int = IMPORT_BATCH) -> PushResult:
    """Create (or find) both projects and import the tasks they do not hold yet (run it inside
    `for_export(export)` for error messages that name the export's document root)."""
    started = time.perf_counter()
    client = client or connect(url, token)
    result = PushResult()
    for study in STUDIES:
        title = export.title(study)
        project = find_project(client, url, title)
        if project is None:
            project = _call(url, f"creating project '{title}'", client.projects.create, title=title,
                            description=export.manifest["projects"][study].get("description", ""), label_config=export.configs[study])
            result.created[study] = True
        else:
            _checked(project, study, url, export)
            result.created[study] = False
        result.projects[study] = project.id
        if study == "a" and export.manifest.get("images_mode") == "local-files":
            _attach_local_storage(client, url, project.id, export)
        present = task_ids_on_server(client, url, project.id)
        missing = [task for task in export.tasks[study] if task["data"]["task_id"] not in present]
        for start in range(0, len(missing), batch_size):
            batch = missing[start : start + batch_size]
            _call(url, f"importing tasks into project {project.id}", client.projects.import_tasks, id=project.id, request=batch)
        result.imported[study] = len(missing)
        result.already_there[study] = len(export.tasks[study]) - len(missing)
    result.seconds = round(time.perf_counter() - started, 3)
    write_json(export.folder / "server.json", {"url": url, "projects": result.projects})
    return result


def pull(export: Export, url: str, token: str, client=None) -> dict[str, list[dict]]:
    """{study: the project's exported tasks (all of them, with their annotations)}, also saved under pulled/
    once both projects are read (a failure on the second leaves the earlier copies as they were)."""
    with for_export(export):
        exported = _pull(export, url, token, client)
    folder = export.folder / PULLED_DIR
    for study, tasks in exported.items():
        atomic_write_text(folder / f"study_{study}.export.json", json.dumps(tasks))
    return exported


def _pull(export: Export, url: str, token: str, client=None) -> dict[str, list[dict]]:
    client = client or connect(url, token)
    exported = {}
    for study in STUDIES:
        title = export.title(study)
        project = find_project(client, url, title)
        if project is None:
            raise ServerError(f"{url} has no project '{title}': push the studies first (`texplain ratings push {export.run_dir} --url {url} --token ...`)")
        _checked(project, study, url, export)
        tasks = _call(url, f"exporting project {project.id}", client.projects.exports.as_json, project.id)
        if not isinstance(tasks, list):
            raise ServerError(f"{url}: the export of project {project.id} is not a list of tasks ({type(tasks).__name__})")
        _name_raters(client, tasks)
        exported[study] = tasks
    return exported


def _name_raters(client, tasks: list[dict]) -> None:
    """The export names a rater by user id; where the token may list users, add their email beside it
    ({"id", "email"}), so that per-rater summaries show who. annotations.py keys the rater by the id in
    either form, so a pull from the server and one from a manual export name raters alike."""
    try:
        emails = {user.id: user.email for user in client.users.list()}
    except Exception:  # a token that may not list users: ids stay ids
        return
    for task in tasks:
        for annotation in task.get("annotations") or []:
            who = annotation.get("completed_by")
            if isinstance(who, int) and emails.get(who):
                annotation["completed_by"] = {"id": who, "email": emails[who]}


def read_export_files(paths: list[Path]) -> dict[str, list[dict]]:
    """Manual Label Studio JSON exports (one per project, or several): {study: tasks}, by each task's data.study."""
    out: dict[str, list[dict]] = {study: [] for study in STUDIES}
    for path in paths:
        path = Path(path)
        if not path.is_file():
            raise TExplainError(f"{path} is missing; pass the JSON file Label Studio's Export (JSON) gave you")
        try:
            tasks = json.loads(path.read_text())
        except json.JSONDecodeError as error:
            raise TExplainError(f"{path} is not JSON ({error}); export the project again as JSON (not JSON-MIN or CSV)") from error
        if not isinstance(tasks, list):
            raise TExplainError(f"{path}: expected a list of tasks (Label Studio's JSON export), got {type(tasks).__name__}")
        for number, task in enumerate(tasks):
            study = ((task or {}).get("data") or {}).get("study") if isinstance(task, dict) else None
            if study not in SPECS:
                raise TExplainError(f"{path}: task {number} has no data.study of 'a' or 'b': it was not made by `texplain ratings export` "
                                    "(export JSON, not JSON-MIN, from the projects push created)")
            out[study].append(task)
    return out


def require_both_studies(pulled: dict[str, list[dict]], export: Export, paths: list[Path]) -> None:
    """A manual pull must hold both studies: analysing one would report the other as entirely lost and
    overwrite the earlier results with that."""
    missing = [study for study in STUDIES if not pulled.get(study)]
    if not missing:
        return
    files = ", ".join(str(p) for p in paths)
    named = " and ".join(f"study ({s}) (project '{export.title(s)}')" for s in missing)
    present = [s for s in STUDIES if s not in missing]
    holds = f"only study ({present[0]})'s tasks" if present else "no tasks"
    fix = "that project too" if present else "both projects"
    given = str(paths[0]) if len(paths) == 1 else "..."
    raise TExplainError(
        f"ratings pull: {files} {'holds' if len(paths) == 1 else 'hold'} {holds}; {named} {'is' if len(missing) == 1 else 'are'} missing. "
        f"Export {fix} from Label Studio (the project's Export > JSON) and pass both files: "
        f"--file {'STUDY_A.json' if 'a' in missing else given} --file {'STUDY_B.json' if 'b' in missing else given}. "
        "Nothing was written; the earlier results and report are kept"
    )
