"""The scene-graph sidecar of a synthetic world: one JSON object per line, keyed by one of its fields.

Real datasets have no such file; the worlds of harness/worlds/ write one per split so that a suite can
score an explanation against the truth (docs/design.md#synthetic-worlds). Readers return None when it is absent.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.datasets.json_lines import iter_json_lines
from harness.datasets.problems import ProblemLog


def read_scene_records(path: Path, key: str, log: ProblemLog) -> dict[str, dict[str, Any]] | None:
    """Records of `path` by their `key` field, or None when there is no such file; bad lines go to `log`."""
    path = Path(path)
    if not path.is_file():
        return None
    fix = "rebuild the world with `texplain world ...` (this file is written by the world generator)"
    records: dict[str, dict[str, Any]] = {}
    for number, record in iter_json_lines(path, log, fix):
        if not isinstance(record, dict) or key not in record:
            log.add(path, f"a scene record must be a JSON object with a '{key}' field", fix, f"line {number}")
            continue
        name = str(record[key])
        if name in records:
            log.add(path, f"duplicate {key} '{name}'", fix, f"line {number}")
            continue
        records[name] = record
    return records
