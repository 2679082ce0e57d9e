"""``texplain data check DIR``: find which dataset format(s) a folder holds and report every problem.

The check runs the very readers the suites use, with `verify_images=True` (every image decoded, every
mask compared with its image), and gathers their problems instead of stopping at the first one. A
folder is read as Waterbirds when it holds metadata.csv, as the Background Challenge when it holds
variation folders, as COCO when it holds annotations/captions_<split>.json, as captions JSON lines
when it holds captions.jsonl (or is such a file), and otherwise as an image folder with class folders.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from harness.datasets.backgrounds_challenge import (
    VARIATIONS,
    read_backgrounds_challenge,
)
from harness.datasets.coco_captions import read_captions_jsonl, read_coco_captions
from harness.datasets.image_folder import read_image_folder
from harness.datasets.problems import Problem, format_problems
from harness.datasets.waterbirds import METADATA_FILE, read_waterbirds
from texplain.errors import DatasetError

FORMATS: tuple[str, ...] = ("waterbirds", "backgrounds_challenge", "coco_captions", "captions_jsonl", "image_folder")


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


def detect_formats(root: Path) -> list[str]:
    """The formats `root` looks like, most specific first; [] when it is none of them."""
    root = Path(root)
    if root.is_file():
        return ["captions_jsonl"] if root.suffix == ".jsonl" else []
    if not root.is_dir():
        return []
    if (root / METADATA_FILE).is_file():
        return ["waterbirds"]  # its captions.jsonl sidecar is checked by the Waterbirds reader
    if any((root / variation).is_dir() for variation in VARIATIONS):
        return ["backgrounds_challenge"]
    found = []
    if any((root / "annotations").glob("captions_*.json")):
        found.append("coco_captions")
    if (root / "captions.jsonl").is_file():
        found.append("captions_jsonl")
    if not found and any(p.is_dir() and not p.name.startswith(".") for p in root.iterdir()):
        found.append("image_folder")
    return found


def check_dataset(root: Path, dataset_format: str | None = None) -> CheckReport:
    """Read `root` as `dataset_format` (detected when None) and collect every problem found."""
    root = Path(root)
    if dataset_format is not None and dataset_format not in FORMATS:
        raise DatasetError(f"unknown dataset format '{dataset_format}'; choose one of {', '.join(FORMATS)}")
    formats = [dataset_format] if dataset_format else detect_formats(root)
    if not formats:
        what = "does not exist" if not root.exists() else "matches no known dataset format"
        raise DatasetError(
            f"{root} {what}. Fix: pass a Waterbirds root (metadata.csv), a Background Challenge root (original/, only_bg_t/, ...), "
            "a COCO root (annotations/captions_<split>.json), a captions.jsonl, or a folder with one sub-folder per class"
        )
    summaries: list[str] = []
    problems: list[Problem] = []
    for name in formats:
        for label, read in _readers(root, name):
            try:
                summaries.append(f"{label}: {read()}")
            except DatasetError as error:
                found = error.problems or [Problem(root, str(error), "see the message")]
                problems.extend(found)
                summaries.append(f"{label}: {len(found)} problem(s)")
    return CheckReport(root=root, summaries=tuple(summaries), problems=tuple(problems))


def _readers(root: Path, name: str) -> list[tuple[str, Callable[[], str]]]:
    """(label, zero-argument function returning a one-line summary) per split of format `name`."""
    if name == "waterbirds":
        return [("waterbirds", lambda: _summarize_waterbirds(root))]
    if name == "backgrounds_challenge":
        splits = sorted({p.name for v in VARIATIONS if (root / v).is_dir() for p in (root / v).iterdir() if p.is_dir()}) or ["val"]
        return [(f"backgrounds_challenge split {split}", lambda split=split: _summarize_backgrounds(root, split)) for split in splits]
    if name == "coco_captions":
        splits = sorted(p.name[len("captions_"):-len(".json")] for p in (root / "annotations").glob("captions_*.json")) or ["train2017"]
        return [(f"coco_captions split {split}", lambda split=split: _summarize_captions(read_coco_captions(root, split, verify_images=True))) for split in splits]
    if name == "captions_jsonl":
        path = root if root.is_file() else root / "captions.jsonl"
        return [("captions_jsonl", lambda: _summarize_captions(read_captions_jsonl(path, verify_images=True)))]
    return [("image_folder", lambda: _summarize_folder(root))]


def _summarize_waterbirds(root: Path) -> str:
    dataset = read_waterbirds(root, verify_images=True)
    parts = []
    for split in ("train", "val", "test"):
        counts = dataset.group_counts(split)
        groups = ", ".join(f"{name} {count}" for name, count in counts.items())
        parts.append(f"{split} {sum(counts.values())} ({groups})")
    captioned = sum(1 for item in dataset.items if item.captions)
    return f"{len(dataset.items)} images; {'; '.join(parts)}; {captioned} with captions"


def _summarize_backgrounds(root: Path, split: str) -> str:
    dataset = read_backgrounds_challenge(root, split, verify_images=True)
    counts = ", ".join(f"{v} {len(dataset.items(v))}" for v in dataset.variations)
    return f"{len(dataset.classes)} classes; images per variation: {counts}"


def _summarize_captions(records: list) -> str:
    per_image = Counter(record.image for record in records)
    return f"{len(records)} captions of {len(per_image)} images"


def _summarize_folder(root: Path) -> str:
    folder = read_image_folder(root, verify_images=True)
    counts = Counter(item.class_name for item in folder.items)
    return f"{len(folder.items)} images in {len(folder.classes)} classes ({', '.join(f'{c} {counts[c]}' for c in folder.classes)})"
