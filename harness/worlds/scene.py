"""Scene graphs with known ground truth, drawn from a seed (docs/design.md#synthetic-worlds).

No captioned data can be downloaded, and a faithfulness harness needs cases where the truth is known.
Each scene is a scene graph (object class, colour, size, position, background, distractors) with
the caption written from it (caption_text.py) and a seed its pixels are rendered from
(rendering.py). A knob plants a class-background correlation (e.g. 0.95 as in Waterbirds) so a
shortcut can be trained on purpose.

Two ways to get scenes: `sample_scenes(spec)` draws the whole default world of a `WorldSpec`
(default_world.py writes it), and `scene_with` lets a world that plants exact class-background
counts per split (waterbirds_world.py, backgrounds_world.py) pick those two itself.

Determinism: scene i draws its attributes from an RNG seeded by (spec.seed, i), and `Scene.render_seed`
is derived from (spec.seed, i) too. The same spec therefore gives the same scenes, and the first k
scenes of a world do not depend on `num_images`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from harness.worlds.caption_text import CAPTION_TEXT_VERSION, write_caption
from harness.worlds.vocabulary import BACKGROUNDS, COLORS, DISTRACTORS, OBJECT_CLASSES, POSITIONS, SIZES


@dataclass(frozen=True)
class WorldSpec:
    """Everything that determines a world; two equal specs give byte-identical worlds."""

    num_images: int = 600
    image_size: int = 224
    seed: int = 0
    # The caption writer's version (caption_text.py): in the spec, so it is in the world's cache key.
    caption_text: int = CAPTION_TEXT_VERSION
    classes: tuple[str, ...] = OBJECT_CLASSES
    backgrounds: tuple[str, ...] = BACKGROUNDS
    # None: background uniform. p: with probability p the class's preferred background
    # (class i -> backgrounds[i % len(backgrounds)]), otherwise uniform over the other backgrounds.
    class_background_correlation: float | None = None
    # Each distractor in DISTRACTORS is present independently with this probability.
    distractor_prob: float = 0.5

    def __post_init__(self) -> None:
        if self.caption_text != CAPTION_TEXT_VERSION:
            raise ValueError(f"WorldSpec.caption_text {self.caption_text}: this code writes captions of version {CAPTION_TEXT_VERSION} only; re-create the world")
        if self.num_images < 1:
            raise ValueError(f"WorldSpec.num_images must be >= 1, got {self.num_images}")
        if self.image_size < 32:
            raise ValueError(f"WorldSpec.image_size must be >= 32 pixels, got {self.image_size}")
        _check_vocabulary("classes", self.classes, OBJECT_CLASSES)
        _check_vocabulary("backgrounds", self.backgrounds, BACKGROUNDS)
        p = self.class_background_correlation
        if p is not None:
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"WorldSpec.class_background_correlation must be in [0, 1] or None, got {p}")
            if len(self.backgrounds) < 2 and p < 1.0:
                raise ValueError(
                    "WorldSpec.class_background_correlation < 1 needs at least two backgrounds "
                    f"to draw the non-preferred ones from, got {self.backgrounds}"
                )
        if not 0.0 <= self.distractor_prob <= 1.0:
            raise ValueError(f"WorldSpec.distractor_prob must be in [0, 1], got {self.distractor_prob}")

    def preferred_background(self, object_class: str) -> str:
        """The background planted for `object_class` by the correlation knob."""
        index = self.classes.index(object_class)
        return self.backgrounds[index % len(self.backgrounds)]

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _check_vocabulary(name: str, values: tuple[str, ...], known: tuple[str, ...]) -> None:
    # Only the known words have a renderer and caption phrases; an unknown one is an error, not a skip.
    if len(values) == 0:
        raise ValueError(f"WorldSpec.{name} must not be empty")
    unknown = [v for v in values if v not in known]
    if unknown:
        raise ValueError(f"WorldSpec.{name} has unknown entries {unknown}; choose from {known}")
    if len(set(values)) != len(values):
        raise ValueError(f"WorldSpec.{name} has duplicates: {values}")


@dataclass(frozen=True)
class Scene:
    """One scene graph, its caption, and the seed its pixels are rendered from."""

    image_id: str
    object_class: str
    color: str
    size: str
    position: str
    background: str
    distractors: tuple[str, ...]
    caption: str
    # Seeds the texture, jitter and layout of the rendering (derived from (spec.seed, index)).
    render_seed: int = 0

    def to_json(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["distractors"] = list(self.distractors)
        return d

    def caption_variants(self, count: int) -> list[str]:
        """`count` captions of this scene (COCO has five per image): its own caption first, then captions
        written from the same scene graph with other coins, seeded by the scene's render seed."""
        if count < 1:
            raise ValueError(f"count must be >= 1, got {count}")
        captions = [self.caption]
        for k in range(1, count):
            rng = np.random.default_rng([self.render_seed, 3, k])
            captions.append(write_caption(self.object_class, self.color, self.size, self.position, self.background, self.distractors, rng))
        return captions

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Scene:
        names = [f.name for f in dataclasses.fields(cls)]
        required = [f.name for f in dataclasses.fields(cls) if f.default is dataclasses.MISSING]
        missing = [n for n in required if n not in d]
        if missing:
            raise ValueError(f"scene record is missing keys {missing}: {d}")
        unknown = [k for k in d if k not in names]
        if unknown:
            raise ValueError(f"scene record has unknown keys {unknown}: {d}")
        values = dict(d)
        values["distractors"] = tuple(values["distractors"])
        return cls(**values)


def sample_scenes(spec: WorldSpec) -> list[Scene]:
    """The scene graphs and captions of the world; deterministic from `spec.seed`."""
    return [_sample_scene(spec, index) for index in range(spec.num_images)]


def _sample_scene(spec: WorldSpec, index: int) -> Scene:
    # One generator per scene, seeded by (seed, index): scene i is the same in any world size.
    rng = np.random.default_rng([spec.seed, index])
    object_class = spec.classes[int(rng.integers(len(spec.classes)))]
    background = _sample_background(spec, object_class, rng)
    render_seed = int(np.random.SeedSequence([spec.seed, index, 1]).generate_state(1)[0])
    return _draw_details(rng, f"img_{index:06d}", object_class, background, spec.distractor_prob, render_seed)


def _sample_background(spec: WorldSpec, object_class: str, rng: np.random.Generator) -> str:
    p = spec.class_background_correlation
    # Draw the coin even when p is None so the rest of the scene does not shift with the knob.
    coin = rng.random()
    if p is None:
        return spec.backgrounds[int(rng.integers(len(spec.backgrounds)))]
    preferred = spec.preferred_background(object_class)
    if coin < p:
        rng.integers(1)  # keep the number of draws fixed
        return preferred
    others = [b for b in spec.backgrounds if b != preferred]
    return others[int(rng.integers(len(others)))]


def scene_with(
    image_id: str, object_class: str, background: str, key: tuple[int, ...], distractor_prob: float = 0.5
) -> Scene:
    """A scene whose object class and background the caller chooses.

    The worlds of harness/worlds/ plant exact class-background counts per split, so they pick these
    two themselves; everything else (colour, size, position, distractors, caption, render seed) is
    drawn as in `sample_scenes`, from an RNG seeded by `key` (a tuple of non-negative ints).
    """
    if object_class not in OBJECT_CLASSES:
        raise ValueError(f"unknown object class {object_class!r}; choose from {OBJECT_CLASSES}")
    if background not in BACKGROUNDS:
        raise ValueError(f"unknown background {background!r}; choose from {BACKGROUNDS}")
    if not 0.0 <= distractor_prob <= 1.0:
        raise ValueError(f"distractor_prob must be in [0, 1], got {distractor_prob}")
    rng = np.random.default_rng(list(key))
    render_seed = int(np.random.SeedSequence([*key, 1]).generate_state(1)[0])
    return _draw_details(rng, image_id, object_class, background, distractor_prob, render_seed)


def _draw_details(
    rng: np.random.Generator, image_id: str, object_class: str, background: str, distractor_prob: float, render_seed: int
) -> Scene:
    # The draw order here is part of every world's identity: changing it changes every existing world.
    color = COLORS[int(rng.integers(len(COLORS)))]
    size = SIZES[int(rng.integers(len(SIZES)))]
    position = POSITIONS[int(rng.integers(len(POSITIONS)))]
    present = rng.random(len(DISTRACTORS)) < distractor_prob
    distractors = tuple(d for d, keep in zip(DISTRACTORS, present) if keep)
    caption = write_caption(object_class, color, size, position, background, distractors, rng)
    return Scene(
        image_id=image_id,
        object_class=object_class,
        color=color,
        size=size,
        position=position,
        background=background,
        distractors=distractors,
        caption=caption,
        render_seed=render_seed,
    )
