"""The dataset-format registry: every on-disk format the harness reads, with how to recognise a folder of
it, how `texplain data check` reads it (every image decoded, every problem collected), and, where it holds
captioned images, how a run trains on it (``data.source``).

A format registers itself in its reader's own module (harness/datasets/<format>.py), so a new format is
one new reader file plus a test: `data check`, its ``--format`` choices and the run config's
``data.source`` choices all read this registry.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from texplain.registry import Registry


@dataclass(frozen=True)
class CaptionedSource:
    """What a run trains on from a captioned format: (image path, caption) pairs and what identifies them."""

    records: list  # (image path, caption) pairs, several per image allowed
    scenes: dict | None  # image file name or stem -> scene truth {"object_class", "background", "color"}, where known
    identity: dict  # everything that determines the pairs (enters the translator's cache key)
    description: str  # one sentence for metrics.json and the report
    folder: Path  # where relative image paths in records are resolved


@dataclass(frozen=True)
class DatasetFormat:
    name: str
    description: str  # what a folder of this format holds, for `data check` and its errors
    looks_like: Callable[[Path], bool]  # a cheap test of a folder (or file)
    # (label, zero-argument reader returning a one-line summary) per split, each reading with every image verified.
    check_readers: Callable[[Path], list[tuple[str, Callable[[], str]]]]
    priority: int = 50  # detection order, lowest first
    claims_folder: bool = False  # a match ends detection (the folder's other files belong to this format)
    fallback: bool = False  # tried only when no other format matched
    source: str | None = None  # the run config's data.source name when a run can train on it
    captioned: Callable[[Path, str], CaptionedSource] | None = None  # (root, split) -> training pairs


class DatasetFormatRegistry(Registry[DatasetFormat]):
    def add(self, dataset_format: DatasetFormat) -> DatasetFormat:
        return self.register(dataset_format.name)(dataset_format)

    def in_detection_order(self) -> list[DatasetFormat]:
        return sorted((self.get(name) for name in self.names()), key=lambda f: (f.priority, f.name))

    def detect(self, root: Path) -> list[str]:
        """The formats `root` looks like, most specific first; [] when it is none of them."""
        found = []
        for dataset_format in [f for f in self.in_detection_order() if not f.fallback]:
            if dataset_format.looks_like(root):
                if dataset_format.claims_folder:
                    return [dataset_format.name]
                found.append(dataset_format.name)
        if not found:
            found = [f.name for f in self.in_detection_order() if f.fallback and f.looks_like(root)]
        return found

    def sources(self) -> dict[str, DatasetFormat]:
        """data.source name -> the format a run trains on under that name."""
        return {f.source: f for f in self.in_detection_order() if f.source and f.captioned}


DATASET_FORMATS = DatasetFormatRegistry("dataset format")
