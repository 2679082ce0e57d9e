"""Reading a JSON-lines file line by line, reporting each malformed line (by its number) instead of stopping."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from harness.datasets.problems import ProblemLog


def iter_json_lines(path: Path, log: ProblemLog, fix: str) -> Iterator[tuple[int, Any]]:
    """(1-based line number, parsed value) of every line that is valid JSON; blank lines are skipped
    and invalid ones go to `log` with `fix`."""
    with open(path) as stream:
        for number, line in enumerate(stream, start=1):
            if not line.strip():
                continue
            try:
                yield number, json.loads(line)
            except json.JSONDecodeError as error:
                log.add(path, f"not valid JSON ({error.msg})", fix, f"line {number}")
