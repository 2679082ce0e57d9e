"""Reader for the Background Challenge / ImageNet-9 (Xiao, Engstrom, Ilyas, Madry, "Noise or Signal:
The Role of Image Backgrounds in Object Recognition", 2020; docs/design.md#data-formats).

Layout of the public release (and of the synthetic world of harness/worlds/backgrounds_world.py):

    root/<variation>/<split>/<class folder>/<stem>.JPEG   variation in VARIATIONS, split "val" (and "train")
    root/fg_mask/<split>/<class folder>/<stem>.npy         2-D 0/1 foreground mask, same stem as the image
    root/scenes_<split>.jsonl                              synthetic worlds only: the scene graph per stem

Class folders are listed in sorted order and an image's label is its folder's index, as in torchvision's
ImageFolder (the release names them 00_dog ... 08_fish so that this order is the IN-9 index order).
A 1000-class ImageNet classifier is scored on IN-9 through the release's ``in_to_in9.json``
(ImageNet index -> IN-9 index, -1 for none): `load_in9_mapping`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from contracts.dataset_formats import DATASET_FORMATS, DatasetFormat
from harness.datasets.image_folder import scan_class_folders, verify_decodable
from harness.datasets.images import is_hidden, load_mask_for, read_image_size
from harness.datasets.problems import Problem, ProblemLog, format_problems
from harness.datasets.scene_records import read_scene_records
from texplain.errors import DatasetError
from texplain.registry import did_you_mean

# The canonical order of the eight variations of the paper (Table 1 / Figure 2).
VARIATIONS: tuple[str, ...] = (
    "original",
    "only_bg_b",
    "only_bg_t",
    "no_fg",
    "only_fg",
    "mixed_same",
    "mixed_rand",
    "mixed_next",
)
MASK_FOLDER = "fg_mask"
NUM_IN9_CLASSES = 9

_FIX_MASK = "regenerate the mask from the image it belongs to (a 2-D 0/1 array with the image's height and width)"


@dataclass(frozen=True)
class BGImage:
    path: Path
    label: int  # index of class_name in BackgroundsChallenge.classes
    class_name: str  # the class folder's name
    stem: str  # file name without extension; shared by the variations of one image and by its mask
    variation: str


@dataclass(frozen=True)
class BackgroundsChallenge:
    """One split of a Background Challenge tree; `read_backgrounds_challenge` builds it."""

    root: Path
    split: str
    classes: tuple[str, ...]  # sorted class folder names
    variations: tuple[str, ...]  # the variations present, in the order of VARIATIONS
    by_variation: Mapping[str, tuple[BGImage, ...]] = field(repr=False, compare=False)
    scene_graphs: Mapping[str, dict[str, Any]] | None = field(default=None, repr=False, compare=False)

    def items(self, variation: str) -> list[BGImage]:
        """Images of `variation`, sorted by (class, stem)."""
        if variation not in self.by_variation:
            hint = did_you_mean(variation, list(VARIATIONS))
            raise DatasetError(
                f"{self.root}: variation '{variation}' has no '{self.split}' folder here (present: {', '.join(self.variations)}).{hint} "
                f"Fix: add {self.root}/{variation}/{self.split}/<class>/<image> or pick a present variation"
            )
        return list(self.by_variation[variation])

    def mask_path(self, item: BGImage) -> Path:
        return self.root / MASK_FOLDER / self.split / item.class_name / f"{item.stem}.npy"

    def mask(self, item: BGImage) -> np.ndarray:
        """The (H, W) uint8 0/1 foreground mask of `item`, checked against the image's size."""
        path = self.mask_path(item)
        mask, problem = load_mask_for(path, item.path)
        if mask is None:
            fix = _FIX_MASK
            if not path.exists():
                fix = (f"add {MASK_FOLDER}/{self.split}/{item.class_name}/{item.stem}.npy (the public release has masks "
                       "for its val split only)")
            raise DatasetError(format_problems(path, [Problem(path, str(problem), fix)]))
        return mask  # (H, W)

    def scenes(self) -> dict[str, dict[str, Any]] | None:
        """The scene graph (ground truth) of every stem, for synthetic worlds; None for real data."""
        return None if self.scene_graphs is None else dict(self.scene_graphs)


def read_backgrounds_challenge(root: Path, split: str = "val", verify_images: bool = False) -> BackgroundsChallenge:
    """Read `split` of every variation present under `root`.

    Always checked: folder layout, class folders (the same in every variation, none empty), file types,
    duplicate stems, and that every variation holds the same stems per class as the first one present
    (original): suites pair an image's variations by stem, so a missing file would silently shorten
    every paired table. With `verify_images` also: every image decodes, every mask in fg_mask/<split>
    exists for the images, is 2-D 0/1 and has its image's size (what `texplain data check` runs).
    """
    root = Path(root)
    log = ProblemLog(root)
    variations = _present_variations(root, split, log)

    reference: tuple[str, ...] | None = None
    by_variation: dict[str, tuple[BGImage, ...]] = {}
    for variation in variations:
        folder = root / variation / split
        classes, images = scan_class_folders(folder, log)
        if reference is None:
            reference = classes
        elif classes != reference:
            missing = sorted(set(reference) - set(classes))
            extra = sorted(set(classes) - set(reference))
            log.add(
                folder,
                f"class folders differ from those of {variations[0]} (missing {missing}, extra {extra})",
                "give every variation the same class folders: labels are indices in sorted folder order",
            )
        items = [
            BGImage(path=image.path, label=image.label, class_name=image.class_name, stem=image.path.stem, variation=variation)
            for image in images
        ]
        items.sort(key=lambda item: (item.class_name, item.stem))
        _check_duplicate_stems(items, log)
        by_variation[variation] = tuple(items)
    assert reference is not None  # _present_variations is fatal when none is present
    _check_stems_across_variations(root, split, variations, by_variation, log)

    if verify_images:
        for variation in variations:
            verify_decodable([item.path for item in by_variation[variation]], log)
        _check_sizes_across_variations(by_variation, log)
        _check_masks(root, split, by_variation[variations[0]], log)

    scenes = read_scene_records(root / f"scenes_{split}.jsonl", "stem", log)
    log.raise_if_any()
    return BackgroundsChallenge(
        root=root, split=split, classes=reference, variations=variations, by_variation=by_variation, scene_graphs=scenes
    )


def _present_variations(root: Path, split: str, log: ProblemLog) -> tuple[str, ...]:
    if not root.is_dir():
        log.fatal(root, "folder not found", "pass the folder that holds original/, only_bg_t/, ... of the Background Challenge")
    present = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not is_hidden(p)):
        if folder.name in VARIATIONS:
            if (folder / split).is_dir():
                present.append(folder.name)
        elif folder.name != MASK_FOLDER and (folder / split).is_dir():
            # A misspelt variation would otherwise silently drop out of every table.
            log.add(
                folder,
                f"'{folder.name}' is not a Background Challenge variation.{did_you_mean(folder.name, list(VARIATIONS))}",
                f"rename it to one of {', '.join(VARIATIONS)} or move it out of {root}",
            )
    if not present:
        if root.name in VARIATIONS or (root / split).is_dir():
            log.fatal(root, "this looks like one variation folder, not the dataset root", f"pass its parent folder {root.parent}")
        splits = sorted({p.name for v in VARIATIONS if (root / v).is_dir() for p in (root / v).iterdir() if p.is_dir()})
        if splits:
            log.fatal(root, f"no variation has a '{split}' folder (splits present: {', '.join(splits)})", f"pass split= one of {', '.join(splits)}")
        log.fatal(
            root,
            f"no variation folders ({', '.join(VARIATIONS)})",
            f"pass the Background Challenge root, laid out as <root>/<variation>/{split}/<class>/<image>.JPEG",
        )
    return tuple(v for v in VARIATIONS if v in present)


def _check_duplicate_stems(items: list[BGImage], log: ProblemLog) -> None:
    # Masks and scene graphs are found by stem, so two files with one stem (a.png, a.JPEG) are ambiguous.
    seen: dict[tuple[str, str], Path] = {}
    for item in items:
        key = (item.class_name, item.stem)
        if key in seen:
            log.add(item.path, f"same stem as {seen[key].name}", "keep one file per stem in each class folder")
        else:
            seen[key] = item.path


def _check_stems_across_variations(
    root: Path, split: str, variations: tuple[str, ...], by_variation: Mapping[str, tuple[BGImage, ...]], log: ProblemLog
) -> None:
    # The variations of one stem are edits of one photo; the Only-BG suite pairs original with
    # only_bg_t (and every other variation) by (class, stem). One problem per missing file, naming it.
    first = variations[0]
    reference = {(item.class_name, item.stem): item for item in by_variation[first]}
    reference_classes = {item.class_name for item in by_variation[first]}
    for variation in variations[1:]:
        present = {(item.class_name, item.stem): item for item in by_variation[variation]}
        classes = {item.class_name for item in by_variation[variation]}
        # A class folder missing from one side is already reported as "class folders differ".
        for key, item in reference.items():
            if key not in present and key[0] in classes:
                missing = root / variation / split / item.class_name / item.path.name
                log.add(
                    missing,
                    f"image is missing: stem '{item.stem}' of class '{item.class_name}' exists in {first} ({item.path}) but not in {variation}",
                    f"restore {variation}/{split}/{item.class_name}/{item.path.name}, or remove the stem from every variation "
                    "(the variations of one image are paired by stem)",
                )
        for key, item in present.items():
            if key not in reference and key[0] in reference_classes:
                log.add(
                    item.path,
                    f"stem '{item.stem}' of class '{item.class_name}' exists in {variation} but not in {first}",
                    f"restore {first}/{split}/{item.class_name}/{item.stem}<ext>, or remove this file "
                    "(the variations of one image are paired by stem)",
                )


def _check_sizes_across_variations(by_variation: Mapping[str, tuple[BGImage, ...]], log: ProblemLog) -> None:
    # The variations of one stem are edits of one photo, so they share its size (and its mask).
    sizes: dict[tuple[str, str], tuple[tuple[int, int], Path]] = {}
    for items in by_variation.values():
        for item in items:
            size = read_image_size(item.path)
            if size is None:
                continue  # already logged as undecodable
            key = (item.class_name, item.stem)
            if key not in sizes:
                sizes[key] = (size, item.path)
            elif sizes[key][0] != size:
                log.add(
                    item.path,
                    f"image is {size[0]}x{size[1]} but {sizes[key][1]} (same stem) is {sizes[key][0][0]}x{sizes[key][0][1]}",
                    "regenerate the variation from the original image so both have one size",
                )


def _check_masks(root: Path, split: str, reference: tuple[BGImage, ...], log: ProblemLog) -> None:
    mask_root = root / MASK_FOLDER / split
    if not mask_root.is_dir():
        return  # masks are optional (the release has none for train)
    expected = set()
    for item in reference:
        path = mask_root / item.class_name / f"{item.stem}.npy"
        expected.add(path)
        mask, problem = load_mask_for(path, item.path)
        if mask is None:
            log.add(path, str(problem), _FIX_MASK)
    for path in sorted(mask_root.rglob("*.npy")):
        if path not in expected:
            log.add(path, f"mask has no image of the same stem in {reference[0].variation if reference else 'the dataset'}", "delete the mask or restore its image")


def load_in9_mapping(path: Path) -> np.ndarray:
    """ImageNet class index -> IN-9 class index (-1 for none) from a JSON object like the release's
    ``in_to_in9.json``; returns an int64 array of shape (num_imagenet_classes,), normally (1000,).

    Keys must be the indices 0..N-1 as strings, values integers in [-1, 8], and every IN-9 class must be
    reached by at least one ImageNet class (otherwise it could never be predicted).
    """
    path = Path(path)
    log = ProblemLog(path)
    fix_source = "use in_to_in9.json from the Background Challenge repository (MadryLab/backgrounds_challenge)"
    if not path.is_file():
        log.fatal(path, "mapping file not found", f"pass its path; {fix_source}")
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        log.fatal(path, f"not valid JSON ({error})", fix_source)
    if not isinstance(data, dict) or not data:
        log.fatal(path, "expected a non-empty JSON object {\"<imagenet index>\": <in9 index>}", fix_source)

    values: dict[int, int] = {}
    for key, value in data.items():
        where = f"key {key!r}"
        if not (isinstance(key, str) and key.isdigit()):
            log.add(path, "keys must be ImageNet class indices written as strings (\"0\" ... \"999\")", "fix or remove the key", where)
            continue
        # bool is an int in Python; true/false in the file is a mistake, not 1/0.
        if isinstance(value, bool) or not isinstance(value, int) or not -1 <= value < NUM_IN9_CLASSES:
            log.add(path, f"value {value!r} is not an IN-9 index", f"use an integer in -1..{NUM_IN9_CLASSES - 1} (-1: no IN-9 class)", where)
            continue
        values[int(key)] = value
    keys = {int(k) for k in data if isinstance(k, str) and k.isdigit()}
    size = max(keys, default=-1) + 1
    missing = sorted(set(range(size)) - keys)
    if missing:
        shown = f"{missing[:10]}{'...' if len(missing) > 10 else ''}"
        log.add(path, f"ImageNet indices {shown} are missing (keys must be 0..{size - 1} without gaps)", fix_source)
    unreached = sorted(set(range(NUM_IN9_CLASSES)) - set(values.values()))
    if unreached and not log.problems:
        log.add(path, f"IN-9 classes {unreached} are not the target of any ImageNet class", fix_source)
    log.raise_if_any()
    mapping = np.full(size, -1, dtype=np.int64)  # (num_imagenet_classes,)
    for index, target in values.items():
        mapping[index] = target
    return mapping


def read_in9_classes(path: Path) -> tuple[str, ...]:
    """The nine IN-9 class names in index order from the release's ``in9_classes.txt`` ("Dog  n02084071" lines)."""
    path = Path(path)
    log = ProblemLog(path)
    if not path.is_file():
        log.fatal(path, "class list not found", "pass the path of in9_classes.txt from the Background Challenge repository")
    names = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 2 or not parts[1].startswith("n"):
            log.add(path, f"expected '<name> <wordnet id>', got {line!r}", "restore the original file", f"line {number}")
            continue
        names.append(parts[0].lower())
    if len(names) != NUM_IN9_CLASSES and not log.problems:
        log.add(path, f"{len(names)} classes listed, IN-9 has {NUM_IN9_CLASSES}", "restore the original file")
    log.raise_if_any()
    return tuple(names)


def _check_summary(root: Path, split: str) -> str:
    dataset = read_backgrounds_challenge(root, split, verify_images=True)
    counts = ", ".join(f"{v} {len(dataset.items(v))}" for v in dataset.variations)
    return f"{len(dataset.classes)} classes; images per variation: {counts}"


def _check_readers(root: Path) -> list:
    splits = sorted({p.name for v in VARIATIONS if (root / v).is_dir() for p in (root / v).iterdir() if p.is_dir()}) or ["val"]
    return [(f"backgrounds_challenge split {split}", lambda split=split: _check_summary(root, split)) for split in splits]


DATASET_FORMATS.add(DatasetFormat(
    name="backgrounds_challenge",
    description="a Background Challenge root (original/, only_bg_t/, ...)",
    looks_like=lambda root: Path(root).is_dir() and any((Path(root) / variation).is_dir() for variation in VARIATIONS),
    check_readers=lambda root: _check_readers(Path(root)),
    priority=20,
    claims_folder=True,
))
