"""A synthetic Waterbirds (Sagawa et al., ICLR 2020), written in the release's layout
(harness/datasets/waterbirds.py): metadata.csv with the real columns in the real order, split codes
0/1/2, a planted class-place correlation in train and balanced places in val and test.

The two classes are object types with distinct words: y = 1 ("waterbird") are water-type objects
(default: boat), y = 0 ("landbird") land-type objects (default: car). The two background families are
water-like (place = 1; default: water) and land-like (place = 0; default: forest, grass, like the
bamboo forest and forest scenes of Places behind the real landbirds). In train, exactly
round(train_correlation * n) images of each class sit on their own family (default 0.95, as in
Waterbirds: group counts 3498 / 184 / 56 / 1057); in val and test each class is split evenly
between the families. Within a class the object words alternate, within a family the backgrounds.

Files besides metadata.csv: the images (``<NNN>.<object>/<object>_<img_id>.png``, like CUB's species
folders), captions.jsonl (one caption per image, the sidecar the reader picks up), scenes.jsonl (the
scene graphs) and fg_masks/ (exact object masks). place_filename follows the Places naming
(``/w/water/00000001.jpg``); no Places image is written, as the real one is only a provenance note.
"""

from __future__ import annotations

import csv
import dataclasses
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from harness.datasets.waterbirds import (
    CAPTIONS_FILE,
    COLUMNS,
    MASK_FOLDER,
    METADATA_FILE,
    SCENES_FILE,
    SPLITS,
)
from harness.worlds.caption_text import CAPTION_TEXT_VERSION
from harness.worlds.output import (
    WorldSpecError,
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
from harness.worlds.planting import plant_backgrounds, spread_evenly
from harness.worlds.rendering import render_scene
from harness.worlds.scene import Scene, scene_with
from harness.worlds.vocabulary import BACKGROUNDS, OBJECT_CLASSES

FORMAT = "waterbirds"
_WORLD_TAG = 1
_PLACES = ("land", "water")  # index = place code


@dataclass(frozen=True)
class WaterbirdsWorldSpec:
    """Everything that determines a Waterbirds world; equal specs give byte-identical files."""

    train_size: int = 1000
    val_size: int = 200
    test_size: int = 200
    # Share of each class's train images on its own background family (waterbird on water, landbird on land).
    train_correlation: float | None = 0.95  # None: balanced, like val and test
    water_objects: tuple[str, ...] = ("boat",)  # y = 1
    land_objects: tuple[str, ...] = ("car",)  # y = 0
    water_backgrounds: tuple[str, ...] = ("water",)  # place = 1
    land_backgrounds: tuple[str, ...] = ("forest", "grass")  # place = 0
    image_size: int = 224
    seed: int = 0
    # The caption writer's version (caption_text.py): in the spec, so it is in the world's cache key.
    caption_text: int = CAPTION_TEXT_VERSION
    distractor_prob: float = 0.5

    def __post_init__(self) -> None:
        if self.caption_text != CAPTION_TEXT_VERSION:
            raise ValueError(f"WaterbirdsWorldSpec.caption_text {self.caption_text}: this code writes captions of version {CAPTION_TEXT_VERSION} only; re-create the world")
        tuple_fields(self, "water_objects", "land_objects", "water_backgrounds", "land_backgrounds")
        for name in ("water_objects", "land_objects"):
            check_words(name, getattr(self, name), OBJECT_CLASSES)
        for name in ("water_backgrounds", "land_backgrounds"):
            check_words(name, getattr(self, name), BACKGROUNDS)
        # Distinct words per class and per family: otherwise the truth a suite scores against is ambiguous.
        shared = set(self.water_objects) & set(self.land_objects)
        if shared:
            raise WorldSpecError(f"water_objects and land_objects share {sorted(shared)}; the two classes need distinct object words")
        shared = set(self.water_backgrounds) & set(self.land_backgrounds)
        if shared:
            raise WorldSpecError(f"water_backgrounds and land_backgrounds share {sorted(shared)}; the two families need distinct backgrounds")
        # Two images per split at least, so both classes are present.
        for name in ("train_size", "val_size", "test_size"):
            check_count(name, getattr(self, name), 2)
        check_correlation("train_correlation", self.train_correlation, 2)
        check_common(self)

    def objects(self, y: int) -> tuple[str, ...]:
        return self.water_objects if y == 1 else self.land_objects

    def backgrounds(self, place: int) -> tuple[str, ...]:
        return self.water_backgrounds if place == 1 else self.land_backgrounds

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class _Row:
    img_id: int
    split: int
    y: int
    place: int
    scene: Scene
    img_filename: str
    place_filename: str


def make_waterbirds_world(spec: WaterbirdsWorldSpec, out_dir: Path, progress: bool = True) -> Path:
    """Write the world of `spec` into `out_dir` (returned); a finished identical world is reused as is."""
    out_dir = Path(out_dir)
    description = {
        "format": FORMAT,
        "generator": "harness/worlds/waterbirds_world.py",
        "spec": spec.to_json(),
        # What the suites score against: the words of each class (y) and place.
        "class_words": {"0": list(spec.land_objects), "1": list(spec.water_objects)},
        "place_words": {"0": list(spec.land_backgrounds), "1": list(spec.water_backgrounds)},
    }
    if claim_world_dir(out_dir, description):
        return out_dir
    rows = _plan_rows(spec)
    for row in tqdm(rows, desc=f"rendering {out_dir}", disable=not progress):
        image, mask = render_scene(row.scene, spec.image_size)
        save_png(image, out_dir / row.img_filename)
        save_mask(mask, out_dir / MASK_FOLDER / Path(row.img_filename).with_suffix(".npy"))
    (out_dir / METADATA_FILE).write_text(_metadata_csv(rows))
    write_jsonl(out_dir / CAPTIONS_FILE, [{"image": row.img_filename, "caption": row.scene.caption} for row in rows])
    write_jsonl(
        out_dir / SCENES_FILE,
        [
            {**row.scene.to_json(), "img_id": row.img_id, "img_filename": row.img_filename, "split": SPLITS[row.split],
             "y": row.y, "place": row.place, "group": 2 * row.y + row.place}
            for row in rows
        ],
    )
    finish_world_dir(out_dir, description)
    return out_dir


def _plan_rows(spec: WaterbirdsWorldSpec) -> list[_Row]:
    rows: list[_Row] = []
    folders = {word: f"{k + 1:03d}.{word}" for k, word in enumerate(spec.land_objects + spec.water_objects)}
    for split, size in enumerate((spec.train_size, spec.val_size, spec.test_size)):
        # Landbirds take the odd one out, as the real train split has more landbirds than waterbirds.
        for y, count in ((0, size - size // 2), (1, size // 2)):
            rng = np.random.default_rng([spec.seed, _WORLD_TAG, split, y])
            # Plant on place codes: "water"/"land" stand for the families here.
            correlation = spec.train_correlation if split == 0 else None
            places = plant_backgrounds(count, _PLACES[y], _PLACES, correlation, rng)
            objects = spread_evenly(count, spec.objects(y), rng)
            # Backgrounds alternate within each family, counted over that family's images only.
            family_cycle = {p: spread_evenly(count, spec.backgrounds(p), rng) for p in (0, 1)}
            used = {0: 0, 1: 0}
            for index, (place_word, object_word) in enumerate(zip(places, objects)):
                place = _PLACES.index(place_word)
                background = family_cycle[place][used[place]]
                used[place] += 1
                img_id = len(rows) + 1  # 1-based, as in the release
                key = (spec.seed, _WORLD_TAG, split, y, index, 1)
                stem = f"{object_word}_{img_id:06d}"
                rows.append(
                    _Row(
                        img_id=img_id,
                        split=split,
                        y=y,
                        place=place,
                        scene=scene_with(stem, object_word, background, key, spec.distractor_prob),
                        img_filename=f"{folders[object_word]}/{stem}.png",
                        place_filename=f"/{background[0]}/{background}/{img_id:08d}.jpg",
                    )
                )
    return rows


def _metadata_csv(rows: list[_Row]) -> str:
    buffer = io.StringIO()
    # "\n" line ends, as in the release (csv's default is "\r\n").
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow([row.img_id, row.img_filename, row.y, row.split, row.place, row.place_filename])
    return buffer.getvalue()
