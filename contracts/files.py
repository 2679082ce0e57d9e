"""Files a run writes, written so that a reader never sees half of one: atomic replacement for whole
files, and one complete, fsynced line per append for JSONL that grows while a run works (a killed run
resumes from its last complete line). Plug-ins (suites) and the harness write through these.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any, Iterable

log = logging.getLogger(__name__)


def atomic_write_text(path: Path, text: str) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(handle, "w") as stream:
        stream.write(text)
    # mkstemp creates the file 0600; results are meant to be read by others (the umask still applies).
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(temp, 0o666 & ~umask)
    os.replace(temp, path)


def write_json(path: Path, value: Any) -> None:
    atomic_write_text(path, json.dumps(value, indent=2, sort_keys=True, default=str) + "\n")


def write_jsonl(path: Path, rows: Iterable[dict]) -> None:
    atomic_write_text(path, "".join(json.dumps(row, sort_keys=True) + "\n" for row in rows))


def read_jsonl_prefix(path: Path) -> list[dict]:
    """Complete lines of a JSONL file; a truncated last line (a killed append) is dropped and cut off."""
    path = Path(path)
    if not path.exists():
        return []
    rows, good_bytes = [], 0
    with open(path, "rb") as stream:
        for line in stream:
            if not line.endswith(b"\n"):
                break
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as error:
                raise ValueError(f"{path}: line {len(rows) + 1} is not JSON ({error}); delete the run directory to start over") from error
            good_bytes += len(line)
    if good_bytes != path.stat().st_size:
        log.warning("%s ends with a partial line (interrupted write); dropping it", path)
        with open(path, "r+b") as stream:
            stream.truncate(good_bytes)
    return rows


def append_jsonl(path: Path, row: dict) -> None:
    with open(path, "a") as stream:
        stream.write(json.dumps(row, sort_keys=True) + "\n")
        stream.flush()
        os.fsync(stream.fileno())
