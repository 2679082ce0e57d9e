"""Problems found while reading a dataset, collected so that one pass reports all of them.

Every reader in this package writes what it finds wrong into a `ProblemLog` instead of stopping at
the first bad row: the reader then raises one `DatasetError` listing them, and `texplain data check`
prints the whole list (docs/design.md#house-style: a short, clear error rather than a silent correction).
Each problem names its file, the row inside it (a CSV line, a JSON index, a JSONL line) and the fix.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

from texplain.errors import DatasetError

# A reader's exception lists this many problems; `texplain data check` lists all of them.
_MAX_IN_MESSAGE = 20


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a dataset: where it is, what it is and how to fix it."""

    file: Path
    message: str
    fix: str
    # The row inside `file` ("line 7", "annotations[12]"); None when the problem is the file itself.
    where: str | None = None

    def __str__(self) -> str:
        location = f"{self.file} ({self.where})" if self.where else f"{self.file}"
        return f"{location}: {self.message}. Fix: {self.fix}"


class ProblemLog:
    """Collects problems of one dataset; `fatal` for those after which reading cannot go on."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.problems: list[Problem] = []

    def add(self, file: Path, message: str, fix: str, where: str | None = None) -> None:
        self.problems.append(Problem(Path(file), message, fix, where))

    def fatal(self, file: Path, message: str, fix: str, where: str | None = None) -> NoReturn:
        self.add(file, message, fix, where)
        raise self.error()

    def error(self) -> DatasetError:
        return DatasetError(format_problems(self.root, self.problems), self.problems)

    def raise_if_any(self) -> None:
        if self.problems:
            raise self.error()


def format_problems(root: Path, problems: list[Problem], limit: int | None = _MAX_IN_MESSAGE) -> str:
    """One problem as one line; several as a numbered list under a header naming the dataset."""
    if len(problems) == 1:
        return str(problems[0])
    shown = problems if limit is None else problems[:limit]
    lines = [f"{len(problems)} problems in dataset {root}:"]
    lines += [f"  {k}. {problem}" for k, problem in enumerate(shown, start=1)]
    if len(shown) < len(problems):
        lines.append(f"  ... and {len(problems) - len(shown)} more; `texplain data check {root}` lists all of them")
    return "\n".join(lines)
