"""The Waterbirds data the suite reads (TExplain Section 4.4; Sagawa et al., ICLR 2020; docs/design.md#data-formats).

Either a synthetic world in the release's layout, rendered here with a planted class-place correlation
(harness/worlds/waterbirds_world.py), plus its balanced copy (same spec, balanced train split) for the
detection score; or the root of a real release. What the suite needs besides the rows: each class's words
(an image is selected when its dominant explanation word is none of them) and, on a synthetic world, the
words of each class's planted place family (the truth the detection score is checked against).

Images reach the classifier through ``ImageSet``: the original image, optionally a black mask applied
in the original's pixels, then the classifier's view (resize and centre crop, masks.py) and the model's
own normalisation (timm's data config: preprocessing travels with the weights).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from harness.datasets.waterbirds import METADATA_FILE, WaterbirdsDataset, WaterbirdsImage, read_waterbirds
from harness.worlds.waterbirds_world import WaterbirdsWorldSpec, make_waterbirds_world
from suites.waterbirds.config import WaterbirdsConfig
from suites.waterbirds.masks import ViewGeometry, apply_mask, classifier_view, view_geometry
from texplain.errors import TExplainError
from texplain.hashing import hash_json

CLASS_NAMES: tuple[str, ...] = ("landbird", "waterbird")  # index = y
# Real Waterbirds: both classes are birds (CUB species), so the class words are "bird" and its synonyms.
REAL_CLASS_WORDS: dict[str, list[str]] = {name: ["bird", "duck", "gull", "seabird", "waterbird", "landbird", "sparrow", "warbler"] for name in CLASS_NAMES}


@dataclass(frozen=True)
class WaterbirdsData:
    dataset: WaterbirdsDataset
    class_words: dict[str, tuple[str, ...]]  # class name -> words that count as the class
    planted_words: dict[str, tuple[str, ...]] | None  # class name -> its planted place family's words; None: unknown
    train_correlation: float | None  # planted share (synthetic); None for a real release or a balanced world
    identity: dict  # what the rows are, for stage keys
    balanced: WaterbirdsDataset | None = None  # synthetic: the same world with a balanced train split

    def split(self, name: str) -> list[WaterbirdsImage]:
        return self.dataset.split(name)

    def train_group_counts(self) -> list[int]:
        return list(self.dataset.group_counts("train").values())


def load_data(config: WaterbirdsConfig, cache_root: Path, progress: bool = False, main_first=None) -> WaterbirdsData:
    """The dataset of `config`: a rendered (or reused) synthetic world, or a release root; errors name the fix."""
    if config.synthetic:
        data = _synthetic(config, cache_root, progress, main_first)
    else:
        root = Path(config.dataset)
        dataset = read_waterbirds(root)
        metadata = (root / METADATA_FILE).read_bytes()
        data = WaterbirdsData(dataset, {}, None, None, {"root": str(root.resolve()), "metadata_sha256": hashlib.sha256(metadata).hexdigest()})
    for split in ("train", "val", "test"):
        if not data.split(split):
            code = {"train": 0, "val": 1, "test": 2}[split]
            raise TExplainError(
                f"{data.dataset.root / METADATA_FILE} has no {split} split (no row with split={code}); the Waterbirds suite "
                f"needs train, val (to pick the best ERM checkpoint) and test rows: add rows with split={code}"
            )
    words = _class_words(config, data)
    return replace(data, class_words=words)


def _synthetic(config: WaterbirdsConfig, cache_root: Path, progress: bool, main_first) -> WaterbirdsData:

    import contextlib

    spec = WaterbirdsWorldSpec(
        train_size=config.train_size, val_size=config.val_size, test_size=config.test_size,
        train_correlation=config.train_correlation, image_size=config.world_image_size, seed=config.world_seed,
    )
    balanced_spec = replace(spec, train_correlation=None)
    datasets = []
    for world in (spec, balanced_spec):
        root = cache_root / "worlds" / f"waterbirds-{hash_json(world.to_json())[:16]}"
        with (main_first() if main_first else contextlib.nullcontext()):  # one process renders, the others find it done
            make_waterbirds_world(world, root, progress=progress)
        datasets.append(read_waterbirds(root))
    planted = {CLASS_NAMES[y]: tuple(spec.backgrounds(y)) for y in (0, 1)}  # class y's own family is place y
    objects = {CLASS_NAMES[y]: tuple(spec.objects(y)) for y in (0, 1)}
    return WaterbirdsData(datasets[0], objects, planted, spec.train_correlation, {"world": spec.to_json()}, balanced=datasets[1])


def _class_words(config: WaterbirdsConfig, data: WaterbirdsData) -> dict[str, tuple[str, ...]]:
    """The configured class words, else the world's object words, else "bird" and synonyms (real data)."""
    unknown = [name for name in config.class_words if name not in CLASS_NAMES]
    if unknown:
        raise TExplainError(f"suites.waterbirds.class_words names unknown classes {unknown}; the classes are {', '.join(CLASS_NAMES)}")
    defaults = data.class_words or REAL_CLASS_WORDS
    words = {name: tuple(w.lower() for w in config.class_words.get(name, defaults.get(name, ()))) for name in CLASS_NAMES}
    empty = [name for name, w in words.items() if not w]
    if empty:
        raise TExplainError(
            f"class(es) {empty} have no class words, so no explanation can be told to be about its class; set "
            f"suites.waterbirds.class_words.{empty[0]}=[word, ...] (e.g. [bird] for real Waterbirds)"
        )
    return words


def require_planted(data: WaterbirdsData) -> dict[str, tuple[str, ...]]:
    """The planted place words per class, or an error: detection can only be scored where the truth is known."""
    if data.planted_words is None or data.train_correlation is None:
        raise TExplainError(
            f"{data.dataset.root}: detection is scored against a planted class-place correlation, and this dataset has none "
            "(a real release, or a world with a balanced train split); set suites.waterbirds.score_detection=false, "
            "or use dataset: synthetic with train_correlation > 0.5"
        )
    return data.planted_words


class ImageSet(torch.utils.data.Dataset):
    """(pixels (3, S, S), label, index) for rows, each with an optional mask in original pixels; `flip` for training."""

    def __init__(self, rows: list[WaterbirdsImage], image_size: int, crop_pct: float, mean, std,
                 masks: dict[int, np.ndarray] | None = None, flip: bool = False, seed: int = 0):
        self.rows, self.image_size, self.crop_pct = rows, image_size, crop_pct
        self.mean = torch.tensor(mean).view(3, 1, 1)
        self.std = torch.tensor(std).view(3, 1, 1)
        self.masks = masks or {}
        self.flip = flip
        self.seed = seed
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.rows)

    def original(self, index: int) -> Image.Image:
        with Image.open(self.rows[index].path) as image:
            image = image.convert("RGB")
        if index in self.masks:
            image = apply_mask(image, self.masks[index])
        return image

    def geometry(self, index: int) -> ViewGeometry:
        with Image.open(self.rows[index].path) as image:
            width, height = image.size
        return view_geometry((height, width), self.image_size, self.crop_pct)

    def view(self, index: int) -> Image.Image:
        image = self.original(index)
        return classifier_view(image, view_geometry((image.height, image.width), self.image_size, self.crop_pct))

    def __getitem__(self, index: int):
        pixels = torch.from_numpy(np.array(self.view(index), dtype=np.float32) / 255.0).permute(2, 0, 1)  # (3, S, S)
        if self.flip and np.random.default_rng([self.seed, self.epoch, index]).random() < 0.5:
            pixels = pixels.flip(-1)
        return (pixels - self.mean) / self.std, self.rows[index].y, index
