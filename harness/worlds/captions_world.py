"""A synthetic COCO-captions set for training translators (Chen et al., "Microsoft COCO Captions",
2015), written in COCO's layout (harness/datasets/coco_captions.py):

    annotations/captions_<split>.json   {"info", "licenses", "images": [{"id", "file_name", "width",
                                          "height"}], "annotations": [{"id", "image_id", "caption"}]}
    <split>/<id:012d>.png                the images, named like COCO's
    scenes_<split>.jsonl                 the scene graph of every image (by file_name)

Scenes are drawn by harness/worlds/scene.py's `sample_scenes` (random class, colour, size, position,
distractors; background uniform or planted with `correlation`); the train split is the first
`train_size` scenes and the val split the next `val_size`. Each image gets `captions_per_image`
captions (COCO has five) written from its scene graph with different templates and coins.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from harness.worlds.caption_text import CAPTION_TEXT_VERSION
from harness.worlds.output import (
    WorldSpecError,
    check_common,
    check_correlation,
    check_count,
    check_words,
    claim_world_dir,
    finish_world_dir,
    save_png,
    tuple_fields,
    write_jsonl,
)
from harness.worlds.rendering import render_scene
from harness.worlds.scene import WorldSpec, sample_scenes
from harness.worlds.vocabulary import BACKGROUNDS, OBJECT_CLASSES

FORMAT = "coco_captions"


@dataclass(frozen=True)
class CaptionsWorldSpec:
    """Everything that determines a COCO-format world; equal specs give byte-identical files."""

    train_size: int = 1000
    val_size: int = 100  # 0: no val split
    captions_per_image: int = 5
    classes: tuple[str, ...] = OBJECT_CLASSES
    backgrounds: tuple[str, ...] = BACKGROUNDS
    correlation: float | None = None  # class-background correlation of both splits; None: uniform
    train_split: str = "train2017"  # COCO's split names, so configs written for COCO work unchanged
    val_split: str = "val2017"
    image_size: int = 224
    seed: int = 0
    # The caption writer's version (caption_text.py): in the spec, so it is in the world's cache key.
    caption_text: int = CAPTION_TEXT_VERSION
    distractor_prob: float = 0.5

    def __post_init__(self) -> None:
        if self.caption_text != CAPTION_TEXT_VERSION:
            raise ValueError(f"CaptionsWorldSpec.caption_text {self.caption_text}: this code writes captions of version {CAPTION_TEXT_VERSION} only; re-create the world")
        tuple_fields(self, "classes", "backgrounds")
        check_words("classes", self.classes, OBJECT_CLASSES)
        check_words("backgrounds", self.backgrounds, BACKGROUNDS)
        check_count("train_size", self.train_size, 1)
        check_count("val_size", self.val_size, 0)
        check_count("captions_per_image", self.captions_per_image, 1)
        check_correlation("correlation", self.correlation, len(self.backgrounds))
        check_common(self)
        for name in ("train_split", "val_split"):
            value = getattr(self, name)
            if not value or "/" in value or value.startswith("."):
                raise WorldSpecError(f"{name} must be a plain folder name, got {value!r}")
        if self.train_split == self.val_split:
            raise WorldSpecError(f"train_split and val_split must differ, both are {self.train_split!r}")

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def make_captions_world(spec: CaptionsWorldSpec, out_dir: Path, progress: bool = True) -> Path:
    """Write the world of `spec` into `out_dir` (returned); a finished identical world is reused as is."""
    out_dir = Path(out_dir)
    description = {"format": FORMAT, "generator": "harness/worlds/captions_world.py", "spec": spec.to_json()}
    if claim_world_dir(out_dir, description):
        return out_dir
    scenes = sample_scenes(
        WorldSpec(
            num_images=spec.train_size + spec.val_size,
            image_size=spec.image_size,
            seed=spec.seed,
            classes=spec.classes,
            backgrounds=spec.backgrounds,
            class_background_correlation=spec.correlation,
            distractor_prob=spec.distractor_prob,
        )
    )
    splits = [(spec.train_split, 0, spec.train_size), (spec.val_split, spec.train_size, spec.train_size + spec.val_size)]
    annotation_id = 0
    for split, start, stop in splits:
        if start == stop:
            continue
        images, annotations, records = [], [], []
        for index in tqdm(range(start, stop), desc=f"rendering {split} of {out_dir}", disable=not progress):
            image_id = index + 1  # COCO ids are positive
            file_name = f"{image_id:012d}.png"
            scene = dataclasses.replace(scenes[index], image_id=f"{image_id:012d}")
            image, _ = render_scene(scene, spec.image_size)
            save_png(image, out_dir / split / file_name)
            images.append({"id": image_id, "file_name": file_name, "width": spec.image_size, "height": spec.image_size})
            for caption in scene.caption_variants(spec.captions_per_image):
                annotation_id += 1
                annotations.append({"id": annotation_id, "image_id": image_id, "caption": caption})
            records.append({**scene.to_json(), "file_name": file_name, "id": image_id, "split": split})
        coco = {
            "info": {"description": "synthetic captions world (harness/worlds/captions_world.py)", "version": "1.0"},
            "licenses": [],
            "images": images,
            "annotations": annotations,
        }
        annotation_file = out_dir / "annotations" / f"captions_{split}.json"
        annotation_file.parent.mkdir(parents=True, exist_ok=True)
        annotation_file.write_text(json.dumps(coco, sort_keys=True) + "\n")
        write_jsonl(out_dir / f"scenes_{split}.jsonl", records)
    finish_world_dir(out_dir, description)
    return out_dir
