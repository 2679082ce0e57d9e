"""How the images of study (a) (TExplain, Section 4.2, Figure 3 left) reach the Label Studio server.

One documented default, one fallback (human_eval/settings.py ImageSettings; README "Human rating studies"):

- ``local-files`` (default): the export copies each image into ``<run>/ratings/images/`` and the task
  refers to it as ``/data/local-files/?d=<path relative to the document root>``. The server serves it
  when started with ``LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED=true`` and
  ``LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT=<document root>`` and when the project has a local storage
  whose path holds the file; ``push`` attaches that storage (without it the server answers 403).
- ``base64``: the image inlined as a data URI. Works with any server, but every task then carries the
  whole image, which makes the labeling interface slow for large images (label-studio#6086).
"""

from __future__ import annotations

import base64
import mimetypes
import shutil
from pathlib import Path
from urllib.parse import quote

from texplain.errors import TExplainError

LOCAL_FILES_PREFIX = "/data/local-files/?d="


def stored_name(source: str, image_id: str, suffix: str) -> str:
    """A flat file name for an image id that may contain '/' (Only-BG ids are class/stem)."""
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in image_id.replace("/", "__"))
    return f"{source}__{safe}{suffix.lower()}"


def copy_image(source_path: Path, images_dir: Path, source: str, image_id: str) -> Path:
    images_dir.mkdir(parents=True, exist_ok=True)
    target = images_dir / stored_name(source, image_id, source_path.suffix or ".png")
    if not target.exists() or target.stat().st_size != source_path.stat().st_size:
        shutil.copyfile(source_path, target)
    return target


def document_root_for(run_dir: Path, document_root: str | None) -> Path:
    """The server's document root: the given folder, or the run directory's parent; it must hold the run."""
    run_dir = Path(run_dir).resolve()
    root = Path(document_root).resolve() if document_root else run_dir.parent
    try:
        run_dir.relative_to(root)
    except ValueError:
        raise TExplainError(f"ratings: the document root {root} does not contain the run directory {run_dir}; "
                            "the server can only serve files below LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT: pass --document-root "
                            "with a folder above the run") from None
    return root


def local_files_url(path: Path, document_root: Path) -> str:
    relative = Path(path).resolve().relative_to(document_root)
    return LOCAL_FILES_PREFIX + quote(relative.as_posix(), safe="/")


def data_uri(path: Path) -> str:
    mime = mimetypes.guess_type(Path(path).name)[0] or "image/png"
    return f"data:{mime};base64,{base64.b64encode(Path(path).read_bytes()).decode('ascii')}"
