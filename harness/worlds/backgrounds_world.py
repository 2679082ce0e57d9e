"""A synthetic Background Challenge (Xiao et al., "Noise or Signal: The Role of Image Backgrounds in
Object Recognition", 2020), written in the release's layout (harness/datasets/backgrounds_challenge.py).

Every class has a preferred background (class i -> backgrounds[i % len(backgrounds)], as in
harness/worlds/scene.py). The val split (`images_per_class` per class, backgrounds balanced by
default) is rendered in all eight variations from the same scenes, as the paper builds them:

    original     the scene
    only_bg_b    the scene with the object's bounding box blacked out
    only_bg_t    the object's region filled with the background texture of the same image (render_background)
    no_fg        the object's region black
    only_fg      the object on black
    mixed_same   the object on the only_bg_t background of another image of the same class
    mixed_rand   the object on the only_bg_t background of an image of a random other class
    mixed_next   the object on the only_bg_t background of an image of the next class (label order)

plus fg_mask/<split>/<class>/<stem>.npy (exact, aligned with the object in every variation). An optional
train split (`train_images_per_class` > 0; the release's ImageNet-9 also has one) holds original images
and masks with a planted class-background correlation (`train_correlation`, exact counts, see
planting.py). Class folders are the class words, so labels are indices in sorted word order. The scene
graph of every image, with its label, bounding box and the donors of the mixed variations, goes to
scenes_<split>.jsonl.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from tqdm import tqdm

from harness.worlds.caption_text import CAPTION_TEXT_VERSION
from harness.worlds.output import (
    check_common,
    check_correlation,
    check_count,
    check_words,
    claim_world_dir,
    finish_world_dir,
    save_mask,
    save_png,
    tuple_fields,
    write_jsonl,
)
from harness.worlds.planting import plant_backgrounds
from harness.worlds.rendering import render_background, render_scene
from harness.worlds.scene import Scene, scene_with
from harness.worlds.vocabulary import BACKGROUNDS, OBJECT_CLASSES

FORMAT = "backgrounds_challenge"
# Seeds of this world's scenes start with this tag, so they differ from other worlds' with the same seed.
_WORLD_TAG = 2
_SPLIT_CODES = {"train": 0, "val": 1}
_MIXED = ("mixed_same", "mixed_rand", "mixed_next")


@dataclass(frozen=True)
class BackgroundsWorldSpec:
    """Everything that determines a Background-Challenge world; equal specs give byte-identical files."""

    classes: tuple[str, ...] = OBJECT_CLASSES
    backgrounds: tuple[str, ...] = BACKGROUNDS
    images_per_class: int = 20  # val split, every variation
    train_images_per_class: int = 0  # 0: no train split
    # Share of a class's train images on its preferred background; None: backgrounds balanced.
    train_correlation: float | None = 0.95
    val_correlation: float | None = None
    image_size: int = 224
    seed: int = 0
    # The caption writer's version (caption_text.py): in the spec, so it is in the world's cache key.
    caption_text: int = CAPTION_TEXT_VERSION
    distractor_prob: float = 0.5

    def __post_init__(self) -> None:
        if self.caption_text != CAPTION_TEXT_VERSION:
            raise ValueError(f"BackgroundsWorldSpec.caption_text {self.caption_text}: this code writes captions of version {CAPTION_TEXT_VERSION} only; re-create the world")
        tuple_fields(self, "classes", "backgrounds")
        # Two classes at least: mixed_rand and mixed_next take backgrounds from another class.
        check_words("classes", self.classes, OBJECT_CLASSES, minimum=2)
        check_words("backgrounds", self.backgrounds, BACKGROUNDS)
        check_count("images_per_class", self.images_per_class, 1)
        check_count("train_images_per_class", self.train_images_per_class, 0)
        check_correlation("train_correlation", self.train_correlation, len(self.backgrounds))
        check_correlation("val_correlation", self.val_correlation, len(self.backgrounds))
        check_common(self)

    def preferred_background(self, object_class: str) -> str:
        return self.backgrounds[self.classes.index(object_class) % len(self.backgrounds)]

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class _Placed:
    """One image of a split: its label (index in sorted class order), stem and scene graph."""

    label: int
    stem: str
    scene: Scene


def make_backgrounds_world(spec: BackgroundsWorldSpec, out_dir: Path, progress: bool = True) -> Path:
    """Write the world of `spec` into `out_dir` (returned); a finished identical world is reused as is."""
    out_dir = Path(out_dir)
    description = {"format": FORMAT, "generator": "harness/worlds/backgrounds_world.py", "spec": spec.to_json()}
    if claim_world_dir(out_dir, description):
        return out_dir
    splits = [("val", spec.images_per_class, spec.val_correlation)]
    if spec.train_images_per_class > 0:
        splits.append(("train", spec.train_images_per_class, spec.train_correlation))
    for split, per_class, correlation in splits:
        placed = _place_scenes(spec, split, per_class, correlation)
        _write_split(spec, out_dir, split, placed, progress)
    finish_world_dir(out_dir, description)
    return out_dir


def _place_scenes(spec: BackgroundsWorldSpec, split: str, per_class: int, correlation: float | None) -> list[_Placed]:
    code = _SPLIT_CODES[split]
    placed = []
    for label, object_class in enumerate(sorted(spec.classes)):
        # Keyed by the class word, not its position, so a class's scenes do not move when others are added.
        class_code = OBJECT_CLASSES.index(object_class)
        rng = np.random.default_rng([spec.seed, _WORLD_TAG, code, class_code])
        backgrounds = plant_backgrounds(per_class, spec.preferred_background(object_class), spec.backgrounds, correlation, rng)
        for index, background in enumerate(backgrounds):
            stem = f"{split}_{object_class}_{index:05d}"
            key = (spec.seed, _WORLD_TAG, code, class_code, index, 1)
            placed.append(_Placed(label, stem, scene_with(stem, object_class, background, key, spec.distractor_prob)))
    return placed


def _write_split(spec: BackgroundsWorldSpec, out_dir: Path, split: str, placed: list[_Placed], progress: bool) -> None:
    variations = ("original",) if split == "train" else ("original", "only_bg_b", "only_bg_t", "no_fg", "only_fg")
    records = []
    for item in tqdm(placed, desc=f"rendering {split} of {out_dir}", disable=not progress):
        image, mask = render_scene(item.scene, spec.image_size)
        pixels = np.asarray(image)  # (H, W, 3)
        inside = mask.astype(bool)  # (H, W)
        bbox = _bounding_box(inside)
        for variation in variations:
            out = _edit(variation, pixels, inside, bbox, item.scene, spec.image_size)
            save_png(out, _image_path(out_dir, variation, split, item))
        save_mask(mask, out_dir / "fg_mask" / split / item.scene.object_class / f"{item.stem}.npy")
        records.append(_record(spec, split, item, bbox))

    if split != "train":
        # Second pass: the mixed variations paste each object onto another image's only_bg_t,
        # read back from the lossless PNGs just written (no re-rendering, no whole split in memory).
        donors = _choose_donors(spec, split, placed)
        by_stem = {item.stem: item for item in placed}
        for item, record in tqdm(list(zip(placed, records)), desc=f"mixing {split} of {out_dir}", disable=not progress):
            pixels = _read_rgb(_image_path(out_dir, "original", split, item))
            inside = np.load(out_dir / "fg_mask" / split / item.scene.object_class / f"{item.stem}.npy").astype(bool)
            record["mixed"] = {}
            for variation in _MIXED:
                donor = by_stem[donors[variation][item.stem]]
                background = _read_rgb(_image_path(out_dir, "only_bg_t", split, donor))
                save_png(np.where(inside[..., None], pixels, background), _image_path(out_dir, variation, split, item))
                record["mixed"][variation] = {"stem": donor.stem, "class_name": donor.scene.object_class, "background": donor.scene.background}
    write_jsonl(out_dir / f"scenes_{split}.jsonl", records)


def _edit(variation: str, pixels: np.ndarray, inside: np.ndarray, bbox: tuple[int, int, int, int], scene: Scene, size: int) -> np.ndarray:
    """One of the non-mixed variations of an image (pixels (H, W, 3), inside (H, W) object mask)."""
    if variation == "original":
        return pixels
    if variation == "only_bg_t":
        # Equal to the scene outside the mask (render_background's contract); inside it, the texture
        # the object covered, so no hole shape gives the object away.
        return np.asarray(render_background(scene, size))
    if variation == "no_fg":
        return np.where(inside[..., None], 0, pixels).astype(np.uint8)
    if variation == "only_fg":
        return np.where(inside[..., None], pixels, 0).astype(np.uint8)
    if variation == "only_bg_b":
        x0, y0, x1, y1 = bbox
        boxed = pixels.copy()
        boxed[y0:y1, x0:x1] = 0
        return boxed
    raise ValueError(f"unknown variation {variation}")


def _bounding_box(inside: np.ndarray) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) of the object, end-exclusive; the object is always drawn, so never empty."""
    ys, xs = np.nonzero(inside)
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def _choose_donors(spec: BackgroundsWorldSpec, split: str, placed: list[_Placed]) -> dict[str, dict[str, str]]:
    """variation -> (stem -> stem whose background it gets), drawn in a fixed order from the seed."""
    rng = np.random.default_rng([spec.seed, _WORLD_TAG, _SPLIT_CODES[split], 1000])
    stems_of: dict[int, list[str]] = {}
    for item in placed:
        stems_of.setdefault(item.label, []).append(item.stem)
    num_classes = len(stems_of)
    donors: dict[str, dict[str, str]] = {variation: {} for variation in _MIXED}
    for item in placed:
        # mixed_same: another image of the class; with a single image per class, its own background.
        same = [s for s in stems_of[item.label] if s != item.stem] or [item.stem]
        donors["mixed_same"][item.stem] = same[int(rng.integers(len(same)))]
        other = [c for c in range(num_classes) if c != item.label]
        rand_class = other[int(rng.integers(len(other)))]
        donors["mixed_rand"][item.stem] = stems_of[rand_class][int(rng.integers(len(stems_of[rand_class])))]
        next_class = (item.label + 1) % num_classes
        donors["mixed_next"][item.stem] = stems_of[next_class][int(rng.integers(len(stems_of[next_class])))]
    return donors


def _record(spec: BackgroundsWorldSpec, split: str, item: _Placed, bbox: tuple[int, int, int, int]) -> dict[str, Any]:
    return {
        **item.scene.to_json(),
        "stem": item.stem,
        "split": split,
        "label": item.label,
        "class_name": item.scene.object_class,
        "preferred_background": spec.preferred_background(item.scene.object_class),
        "bbox": list(bbox),
    }


def _image_path(out_dir: Path, variation: str, split: str, item: _Placed) -> Path:
    return out_dir / variation / split / item.scene.object_class / f"{item.stem}.png"


def _read_rgb(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))  # (H, W, 3)
