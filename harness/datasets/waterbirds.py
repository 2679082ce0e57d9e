"""Reader for Waterbirds (Sagawa, Koh, Hashimoto, Liang, "Distributionally Robust Neural Networks for
Group Shifts", ICLR 2020; docs/design.md#data-formats).

Layout of the release (and of the synthetic world of harness/worlds/waterbirds_world.py):

    root/metadata.csv     img_id,img_filename,y,split,place,place_filename
    root/<img_filename>   the image (CUB bird pasted onto a Places background)
    root/captions.jsonl   optional sidecar: {"image": <img_filename>, "caption": text} lines
    root/scenes.jsonl     synthetic worlds only: the scene graph per img_filename
    root/fg_masks/<img_filename stem>.npy   synthetic worlds only: the exact object mask

y = 1 is a waterbird, place = 1 a water background, split 0/1/2 = train/val/test, and the group of an
image is 2*y + place: landbird/land, landbird/water, waterbird/land, waterbird/water (group DRO's order).
"""

from __future__ import annotations

import csv
import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from contracts.dataset_formats import DATASET_FORMATS, DatasetFormat
from harness.datasets.coco_captions import parse_captions_jsonl
from harness.datasets.image_folder import verify_decodable
from harness.datasets.images import load_mask_for
from harness.datasets.problems import Problem, ProblemLog, format_problems
from harness.datasets.scene_records import read_scene_records
from texplain.errors import DatasetError

COLUMNS: tuple[str, ...] = ("img_id", "img_filename", "y", "split", "place", "place_filename")
SPLITS: tuple[str, ...] = ("train", "val", "test")  # index = the split code of metadata.csv
GROUP_NAMES: tuple[str, ...] = ("landbird/land", "landbird/water", "waterbird/land", "waterbird/water")
METADATA_FILE = "metadata.csv"
CAPTIONS_FILE = "captions.jsonl"
SCENES_FILE = "scenes.jsonl"
MASK_FOLDER = "fg_masks"


@dataclass(frozen=True)
class WaterbirdsImage:
    """One row of metadata.csv (plus its captions from the sidecar, when there is one)."""

    img_id: int
    img_filename: str  # as written in metadata.csv, relative to the root
    path: Path
    y: int  # 1 = waterbird
    split: str  # "train", "val" or "test"
    place: int  # 1 = water background
    place_filename: str
    captions: tuple[str, ...] = ()

    @property
    def group(self) -> int:
        return 2 * self.y + self.place

    @property
    def group_name(self) -> str:
        return GROUP_NAMES[self.group]


@dataclass(frozen=True)
class WaterbirdsDataset:
    root: Path
    items: tuple[WaterbirdsImage, ...]  # in metadata.csv order
    scene_graphs: Mapping[str, dict[str, Any]] | None = field(default=None, repr=False, compare=False)

    def split(self, name: str | int) -> list[WaterbirdsImage]:
        """Rows of one split, by name ("train", "val", "test") or code (0, 1, 2)."""
        if isinstance(name, int) and 0 <= name < len(SPLITS):
            name = SPLITS[name]
        if name not in SPLITS:
            raise DatasetError(f"unknown Waterbirds split {name!r}; use one of {', '.join(SPLITS)} (or the codes 0, 1, 2)")
        return [item for item in self.items if item.split == name]

    def group_counts(self, split: str | int) -> dict[str, int]:
        """Number of images per group name in `split` (every group listed, zeros included)."""
        counts = {name: 0 for name in GROUP_NAMES}
        for item in self.split(split):
            counts[item.group_name] += 1
        return counts

    def scenes(self) -> dict[str, dict[str, Any]] | None:
        """Scene graph (truth) per img_filename for synthetic worlds; None for the real dataset."""
        return None if self.scene_graphs is None else dict(self.scene_graphs)

    def mask_path(self, item: WaterbirdsImage) -> Path:
        return self.root / MASK_FOLDER / Path(item.img_filename).with_suffix(".npy")

    def mask(self, item: WaterbirdsImage) -> np.ndarray:
        """The exact (H, W) 0/1 object mask; synthetic worlds only (the release has no masks)."""
        path = self.mask_path(item)
        mask, problem = load_mask_for(path, item.path)
        if mask is None:
            fix = "masks exist for synthetic worlds only (texplain world waterbirds); the real release has none"
            raise DatasetError(format_problems(path, [Problem(path, str(problem), fix)]))
        return mask  # (H, W)


def read_waterbirds(root: Path, verify_images: bool = False) -> WaterbirdsDataset:
    """Read ``root/metadata.csv``, its images and the caption sidecar; `verify_images` decodes every image."""
    root = Path(root)
    log = ProblemLog(root)
    metadata = root / METADATA_FILE
    if not metadata.is_file():
        log.fatal(metadata, "metadata file not found", f"pass the Waterbirds root (the folder that holds {METADATA_FILE} and the image folders)")
    with open(metadata, newline="") as stream:
        reader = csv.reader(stream)
        header = next(reader, None)
        if header is None:
            log.fatal(metadata, "file is empty", f"restore it; its first line is {','.join(COLUMNS)}")
        index = _column_index([name.strip() for name in header], metadata, log)
        rows = [(reader.line_num, row) for row in reader]
    items = [item for line, row in rows if (item := _parse_row(row, line, index, root, metadata, log)) is not None]
    # Every listed file name, bad rows included, so a bad row is reported once and not again by its caption.
    listed = {row[index["img_filename"]].strip() for _, row in rows if len(row) == len(index)}
    if not items and not log.problems:
        log.fatal(metadata, "no rows after the header", "restore the file")
    _check_unique(items, metadata, log)
    if verify_images:
        verify_decodable([item.path for item in items if item.path.is_file()], log)
    items = _attach_captions(root, items, listed, log)
    scenes = read_scene_records(root / SCENES_FILE, "img_filename", log)
    log.raise_if_any()
    return WaterbirdsDataset(root=root, items=tuple(items), scene_graphs=scenes)


def _column_index(header: list[str], metadata: Path, log: ProblemLog) -> dict[str, int]:
    missing = [c for c in COLUMNS if c not in header]
    extra = [c for c in header if c not in COLUMNS]
    duplicated = sorted({c for c in header if header.count(c) > 1})
    fix = f"the header must be exactly {','.join(COLUMNS)}"
    if missing:
        log.add(metadata, f"missing column(s) {missing}", fix, "line 1")
    if extra:
        note = " (an unnamed column: a saved pandas index? write the file with index=False)" if "" in extra else ""
        log.add(metadata, f"extra column(s) {extra}{note}", fix, "line 1")
    if duplicated:
        log.add(metadata, f"duplicated column(s) {duplicated}", fix, "line 1")
    if missing or extra or duplicated:
        raise log.error()  # rows cannot be read without a usable header
    return {name: header.index(name) for name in COLUMNS}


def _parse_row(row: list[str], line: int, index: dict[str, int], root: Path, metadata: Path, log: ProblemLog) -> WaterbirdsImage | None:
    where = f"line {line}"
    if not row or all(not value.strip() for value in row):
        return None  # a blank line, e.g. at the end of the file
    if len(row) != len(index):
        log.add(metadata, f"{len(row)} fields but the header has {len(index)}", "give every row one value per column", where)
        return None
    value = {name: row[i].strip() for name, i in index.items()}
    codes = {}
    for name, allowed, meaning in (
        ("img_id", None, "an integer id"),
        ("y", (0, 1), "0 = landbird, 1 = waterbird"),
        ("split", (0, 1, 2), "0 = train, 1 = val, 2 = test"),
        ("place", (0, 1), "0 = land, 1 = water"),
    ):
        try:
            codes[name] = int(value[name])
        except ValueError:
            log.add(metadata, f"{name} is {value[name]!r}, not an integer", f"write {meaning}", where)
            continue
        if allowed is not None and codes[name] not in allowed:
            label = "unknown split code" if name == "split" else f"unknown {name} value"
            log.add(metadata, f"{label} {codes[name]}", f"use {meaning}", where)
            del codes[name]
    if not value["img_filename"]:
        log.add(metadata, "img_filename is empty", "write the image path relative to the root", where)
        return None
    path = root / value["img_filename"]
    if not path.is_file():
        log.add(metadata, f"image {path} is missing", "restore the image or remove its row", where)
    if len(codes) < 4:
        return None
    return WaterbirdsImage(
        img_id=codes["img_id"],
        img_filename=value["img_filename"],
        path=path,
        y=codes["y"],
        split=SPLITS[codes["split"]],
        place=codes["place"],
        place_filename=value["place_filename"],
    )


def _check_unique(items: list[WaterbirdsImage], metadata: Path, log: ProblemLog) -> None:
    seen_ids: set[int] = set()
    seen_files: set[str] = set()
    for item in items:
        if item.img_id in seen_ids:
            log.add(metadata, f"duplicate img_id {item.img_id}", "give every row its own img_id", f"img_id {item.img_id}")
        if item.img_filename in seen_files:
            log.add(metadata, f"duplicate img_filename {item.img_filename}", "list every image once", f"img_id {item.img_id}")
        seen_ids.add(item.img_id)
        seen_files.add(item.img_filename)


def _attach_captions(root: Path, items: list[WaterbirdsImage], listed: set[str], log: ProblemLog) -> list[WaterbirdsImage]:
    path = root / CAPTIONS_FILE
    if not path.is_file():
        return items
    captions: dict[str, list[str]] = {name: [] for name in listed}
    for number, image, caption in parse_captions_jsonl(path, log):
        if image not in captions:
            log.add(path, f"caption refers to image {image!r}, which is not in {METADATA_FILE}", f"use an img_filename of {METADATA_FILE} or remove the line", f"line {number}")
            continue
        captions[image].append(caption)
    return [dataclasses.replace(item, captions=tuple(captions[item.img_filename])) for item in items]


def _check_summary(root: Path) -> str:
    dataset = read_waterbirds(root, verify_images=True)
    parts = []
    for split in ("train", "val", "test"):
        counts = dataset.group_counts(split)
        groups = ", ".join(f"{name} {count}" for name, count in counts.items())
        parts.append(f"{split} {sum(counts.values())} ({groups})")
    captioned = sum(1 for item in dataset.items if item.captions)
    return f"{len(dataset.items)} images; {'; '.join(parts)}; {captioned} with captions"


DATASET_FORMATS.add(DatasetFormat(
    name="waterbirds",
    description="a Waterbirds root (metadata.csv)",
    looks_like=lambda root: (Path(root) / METADATA_FILE).is_file(),
    check_readers=lambda root: [("waterbirds", lambda: _check_summary(root))],
    priority=10,
    claims_folder=True,  # its captions.jsonl sidecar is checked by the Waterbirds reader
))
