"""The captioned images of a run: what its translator trains on and which held-out images it explains.

Three sources (``data.source`` in the config): the synthetic world (the default: truth known, so
explanations are scored against it), COCO captions (``data.root``/annotations/captions_<split>.json,
the paper's setting), or a user's ``captions.jsonl``. Readers live in harness/datasets; this file only
groups captions by image and says what identifies the data for the stage keys.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from contracts.dataset_formats import DATASET_FORMATS
from harness.config import RunConfig
from harness.worlds.default_world import make_world
from harness.worlds.scene import WorldSpec
from texplain.hashing import hash_json


@dataclass(frozen=True)
class CaptionedImage:
    image_id: str
    path: Path
    captions: tuple[str, ...]
    # Ground truth for scoring, when known: {"object", "background", "color", "caption"}; None for real data.
    truth: dict | None = None


@dataclass(frozen=True)
class TrainingData:
    images: list[CaptionedImage]
    identity: dict  # everything that determines the images and captions (enters the translator's key)
    description: str  # one sentence for metrics.json and the report
    folder: Path  # where relative image paths in records are resolved (the report shows the images)
    synthetic: bool


def synthetic_world(config: RunConfig, cache_root: Path, progress: bool) -> TrainingData:
    spec = WorldSpec(
        num_images=config.world.num_images,
        image_size=config.world.image_size,
        seed=config.world.seed,
        class_background_correlation=config.world.class_background_correlation,
    )
    world_dir = cache_root / "worlds" / hash_json(spec.to_json())[:16]
    scenes = make_world(spec, world_dir, progress=progress)  # reads a finished world back without writing
    count = config.world.captions_per_image
    images = [
        CaptionedImage(
            s.image_id, world_dir / "images" / f"{s.image_id}.png", tuple(s.caption_variants(count)),
            {"object": s.object_class, "background": s.background, "color": s.color, "caption": s.caption},
        )
        for s in scenes
    ]
    # The variants are written from the scenes, so the spec and their count say what the captions are; 1 keeps
    # the identity (and so the stage keys) of runs made before the setting existed.
    identity = {"world": spec.to_json(), **({"captions_per_image": count} if count != 1 else {})}
    return TrainingData(images, identity, "synthetic world (harness/worlds/default_world.py), not real images", world_dir, True)


def _group_by_image(records, scenes: dict | None) -> list[CaptionedImage]:
    captions: dict[Path, list[str]] = {}
    for image, caption in records:
        captions.setdefault(Path(image), []).append(caption)
    images = []
    for path, texts in captions.items():
        scene = (scenes or {}).get(path.name) or (scenes or {}).get(path.stem)
        truth = None
        if scene:
            truth = {"object": scene.get("object_class"), "background": scene.get("background"), "color": scene.get("color"), "caption": texts[0]}
        images.append(CaptionedImage(path.stem, path, tuple(texts), truth))
    return images


def captioned_dataset(config: RunConfig) -> TrainingData:
    """The run's captioned images from the registered dataset format named by data.source."""
    source = DATASET_FORMATS.sources()[config.data.source].captioned(Path(config.data.root), config.data.split)
    return TrainingData(_group_by_image(source.records, source.scenes), source.identity, source.description, source.folder, False)


def load_training_data(config: RunConfig, cache_root: Path, progress: bool) -> TrainingData:
    if config.data.source == "synthetic":
        return synthetic_world(config, cache_root, progress)
    return captioned_dataset(config)
