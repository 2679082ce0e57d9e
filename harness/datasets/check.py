"""``texplain data check DIR``: find which dataset format(s) a folder holds and report every problem.

The check runs the very readers the suites use (each format registered by its reader module in
contracts/dataset_formats.py's ``DATASET_FORMATS``), with `verify_images=True` (every image decoded, every
mask compared with its image), and gathers their problems instead of stopping at the first one. A
folder is read as Waterbirds when it holds metadata.csv, as the Background Challenge when it holds
variation folders, as COCO when it holds annotations/captions_<split>.json, as captions JSON lines
when it holds captions.jsonl (or is such a file), and otherwise as an image folder with class folders.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from contracts.dataset_formats import DATASET_FORMATS
from harness.datasets.problems import Problem, format_problems
from texplain.errors import DatasetError


@dataclass(frozen=True)
class CheckReport:
    root: Path
    summaries: tuple[str, ...]  # one line per format and split read
    problems: tuple[Problem, ...]

    @property
    def ok(self) -> bool:
        return not self.problems

    def render(self) -> str:
        lines = [f"checked {self.root}:"] + [f"  {line}" for line in self.summaries]
        if self.ok:
            lines.append("no problems found")
        else:
            lines.append(format_problems(self.root, list(self.problems), limit=None) if len(self.problems) > 1 else f"1 problem: {self.problems[0]}")
        return "\n".join(lines)


def format_names() -> list[str]:
    """The registered formats, in detection order."""
    return [f.name for f in DATASET_FORMATS.in_detection_order()]


def detect_formats(root: Path) -> list[str]:
    """The formats `root` looks like, most specific first; [] when it is none of them."""
    root = Path(root)
    if not root.exists():
        return []
    return DATASET_FORMATS.detect(root)


def check_dataset(root: Path, dataset_format: str | None = None) -> CheckReport:
    """Read `root` as `dataset_format` (detected when None) and collect every problem found."""
    root = Path(root)
    if dataset_format is not None and dataset_format not in DATASET_FORMATS:
        raise DatasetError(f"unknown dataset format '{dataset_format}'; choose one of {', '.join(format_names())}")
    formats = [dataset_format] if dataset_format else detect_formats(root)
    if not formats:
        what = "does not exist" if not root.exists() else "matches no known dataset format"
        choices = ", ".join(f.description for f in DATASET_FORMATS.in_detection_order())
        raise DatasetError(f"{root} {what}. Fix: pass {choices}")
    summaries: list[str] = []
    problems: list[Problem] = []
    for name in formats:
        readers: list[tuple[str, Callable[[], str]]] = DATASET_FORMATS.get(name).check_readers(root)
        for label, read in readers:
            try:
                summaries.append(f"{label}: {read()}")
            except DatasetError as error:
                found = error.problems or [Problem(root, str(error), "see the message")]
                problems.extend(found)
                summaries.append(f"{label}: {len(found)} problem(s)")
    return CheckReport(root=root, summaries=tuple(summaries), problems=tuple(problems))
