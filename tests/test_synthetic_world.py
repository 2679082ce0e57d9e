"""Tests of the scenes and the default world (harness/worlds/: vocabulary, scene graph, caption text,
rendering, default_world; docs/design.md#synthetic-worlds)."""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from harness.worlds.default_world import load_scenes, make_world
from harness.worlds.rendering import render_background, render_scene
from harness.worlds.scene import Scene, WorldSpec, sample_scenes
from harness.worlds.vocabulary import BACKGROUNDS, COLORS, DISTRACTORS, OBJECT_CLASSES, POSITIONS, SIZES
from texplain.words import STOP_WORDS, lemma

SMALL = 64


def _tokens(caption: str) -> list[str]:
    return re.findall(r"[a-z]+", caption)


def _digests(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def scenes_2000() -> list[Scene]:
    return sample_scenes(WorldSpec(num_images=2000, seed=7))


def test_vocabulary_words_are_their_own_lemma():
    # Word counting lemmatizes; a class or background word that changed would never be found.
    for word in OBJECT_CLASSES + BACKGROUNDS + COLORS + SIZES + POSITIONS + DISTRACTORS:
        assert word == word.lower() and word.isalpha()
        assert lemma(word) == word, word
        assert word not in STOP_WORDS, word


def test_same_spec_gives_byte_identical_world(tmp_path):
    spec = WorldSpec(num_images=6, image_size=SMALL, seed=3)
    make_world(spec, tmp_path / "a", progress=False)
    make_world(spec, tmp_path / "b", progress=False)
    a, b = _digests(tmp_path / "a"), _digests(tmp_path / "b")
    assert len(a) == 2 * 6 + 3  # images, masks, scenes.jsonl, captions.jsonl, world.json
    assert a == b
    # A different seed gives a different world.
    make_world(WorldSpec(num_images=6, image_size=SMALL, seed=4), tmp_path / "c", progress=False)
    c = _digests(tmp_path / "c")
    assert c["images/img_000000.png"] != a["images/img_000000.png"]


def test_world_files_and_counts(tmp_path):
    spec = WorldSpec(num_images=5, image_size=SMALL, seed=1)
    scenes = make_world(spec, tmp_path, progress=False)
    assert len(scenes) == 5
    assert sorted(p.name for p in (tmp_path / "images").iterdir()) == [f"img_{i:06d}.png" for i in range(5)]
    assert sorted(p.name for p in (tmp_path / "masks").iterdir()) == [f"img_{i:06d}.npy" for i in range(5)]
    assert load_scenes(tmp_path) == scenes
    captions = [json.loads(line) for line in (tmp_path / "captions.jsonl").read_text().splitlines()]
    assert captions == [{"image": f"images/{s.image_id}.png", "caption": s.caption} for s in scenes]
    assert json.loads((tmp_path / "world.json").read_text())["num_images"] == 5
    from PIL import Image

    for s in scenes:
        with Image.open(tmp_path / "images" / f"{s.image_id}.png") as image:
            assert image.mode == "RGB" and image.size == (SMALL, SMALL)
        mask = np.load(tmp_path / "masks" / f"{s.image_id}.npy")
        assert mask.shape == (SMALL, SMALL) and mask.dtype == np.uint8
        assert set(np.unique(mask)) <= {0, 1}


def test_make_world_refuses_a_directory_holding_another_world(tmp_path):
    make_world(WorldSpec(num_images=2, image_size=SMALL, seed=0), tmp_path, progress=False)
    with pytest.raises(FileExistsError, match="world.json"):
        make_world(WorldSpec(num_images=2, image_size=SMALL, seed=1), tmp_path, progress=False)


def test_scenes_are_prefix_stable():
    # Scene i depends on (seed, i) only, not on how many scenes the world has.
    assert sample_scenes(WorldSpec(num_images=10, seed=2)) == sample_scenes(WorldSpec(num_images=30, seed=2))[:10]


def test_every_caption_names_object_and_background(scenes_2000):
    for s in scenes_2000:
        tokens = _tokens(s.caption)
        # Twice where the closing sentence fitted in 30 words (caption_text.py, version 3), which names it again.
        assert tokens.count(s.object_class) == (2 if "easy to spot" in s.caption or "stands out clearly" in s.caption else 1), s.caption
        assert 1 <= tokens.count(s.background) <= 2, s.caption
        assert 20 <= len(s.caption.split()) <= 30, s.caption  # the sampler's 20-30 words at paper parity
        assert s.caption == s.caption.lower() and s.caption.endswith(".")
        # No other class or background is named.
        assert not (set(tokens) & (set(OBJECT_CLASSES) - {s.object_class})), s.caption
        assert not (set(tokens) & (set(BACKGROUNDS) - {s.background})), s.caption
        # Distractors that are not in the picture are never mentioned.
        for d in DISTRACTORS:
            if d not in s.distractors:
                assert d not in tokens, s.caption


def test_caption_attribute_rates_and_lengths(scenes_2000):
    n = len(scenes_2000)
    color = np.mean([s.color in _tokens(s.caption) for s in scenes_2000])
    size = np.mean([s.size in _tokens(s.caption) for s in scenes_2000])
    position = np.mean([s.position in _tokens(s.caption) for s in scenes_2000])
    assert abs(color - 0.7) < 0.05 and abs(size - 0.5) < 0.05 and abs(position - 0.5) < 0.05
    for d in DISTRACTORS:
        present = [s for s in scenes_2000 if d in s.distractors]
        assert abs(np.mean([d in _tokens(s.caption) for s in present]) - 0.6) < 0.05
    lengths = np.array([len(s.caption.split()) for s in scenes_2000])
    assert lengths.min() >= 20 and lengths.max() <= 30 and 24 <= np.median(lengths) <= 29
    # Version 3: the object's closing sentence in most captions (where it fits in 30 words).
    assert 0.5 < np.mean(["easy to spot" in s.caption or "stands out clearly" in s.caption for s in scenes_2000]) < 1.0
    assert len({s.caption for s in scenes_2000}) > 0.9 * n
    # No filler content word is in (nearly) every caption: it would dominate every word cloud.
    truth = set(OBJECT_CLASSES + BACKGROUNDS)
    doc_counts = Counter(w for s in scenes_2000 for w in set(_tokens(s.caption)) if w not in STOP_WORDS)
    fillers = {w: c / n for w, c in doc_counts.items() if w not in truth}
    assert max(fillers.values()) < 0.5, sorted(fillers.items(), key=lambda kv: -kv[1])[:5]


def test_attributes_are_spread(scenes_2000):
    for attribute, values in (
        ("object_class", OBJECT_CLASSES),
        ("color", COLORS),
        ("size", SIZES),
        ("position", POSITIONS),
        ("background", BACKGROUNDS),
    ):
        counts = Counter(getattr(s, attribute) for s in scenes_2000)
        assert set(counts) == set(values)
        assert min(counts.values()) > 0.6 * len(scenes_2000) / len(values), (attribute, counts)
    for d in DISTRACTORS:
        assert abs(np.mean([d in s.distractors for s in scenes_2000]) - 0.5) < 0.05


def test_class_background_correlation_knob():
    spec = WorldSpec(num_images=2000, seed=11, class_background_correlation=0.95)
    scenes = sample_scenes(spec)
    preferred = np.mean([s.background == spec.preferred_background(s.object_class) for s in scenes])
    assert abs(preferred - 0.95) <= 0.02
    assert [spec.preferred_background(c) for c in OBJECT_CLASSES] == list(BACKGROUNDS)
    # The remaining 5 % spread over the other backgrounds.
    off = Counter(s.background for s in scenes if s.background != spec.preferred_background(s.object_class))
    assert set(off) == set(BACKGROUNDS)

    uniform = sample_scenes(WorldSpec(num_images=2000, seed=11))
    share = np.mean([s.background == spec.preferred_background(s.object_class) for s in uniform])
    assert abs(share - 1 / len(BACKGROUNDS)) < 0.03
    counts = Counter(s.background for s in uniform)
    assert max(counts.values()) / min(counts.values()) < 1.35


def test_preferred_background_wraps_when_fewer_backgrounds():
    spec = WorldSpec(num_images=500, backgrounds=("water", "grass"), class_background_correlation=1.0)
    assert all(s.background == ("water", "grass")[OBJECT_CLASSES.index(s.object_class) % 2] for s in sample_scenes(spec))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"class_background_correlation": 1.5},
        {"classes": ("boat", "unicorn")},
        {"backgrounds": ("water", "indoor")},
        {"classes": ("boat", "boat")},
        {"num_images": 0},
        {"distractor_prob": -0.1},
        {"backgrounds": ("water",), "class_background_correlation": 0.9},
    ],
)
def test_bad_spec_is_an_error(kwargs):
    with pytest.raises(ValueError):
        WorldSpec(**kwargs)


def test_mask_is_exactly_the_object():
    scenes = sample_scenes(WorldSpec(num_images=60, seed=5))
    areas = {"small": [], "large": []}
    size = 96
    for s in scenes:
        image, mask = render_scene(s, size)
        assert mask.shape == (size, size) and mask.dtype == np.uint8 and mask.sum() > 0
        pixels = np.asarray(image).astype(int)  # (H, W, 3)
        background = np.asarray(render_background(s, size)).astype(int)  # (H, W, 3)
        inside = mask.astype(bool)
        # Outside the mask the image is the background (distractors included), pixel for pixel.
        assert np.array_equal(pixels[~inside], background[~inside])
        # Inside the mask the object has replaced (almost all of) the background.
        changed = np.any(pixels[inside] != background[inside], axis=-1).mean()
        assert changed > 0.9, (s, changed)
        areas[s.size].append(inside.mean())
        # Horizontal position: the mask's bounding-box centre is on the named side.
        columns = np.flatnonzero(inside.any(axis=0))
        centre = (columns[0] + columns[-1]) / 2 / size
        if s.position == "left":
            assert centre < 0.45, (s, centre)
        elif s.position == "right":
            assert centre > 0.55, (s, centre)
        else:
            assert 0.4 < centre < 0.6, (s, centre)
        # The object stays inside the central 85 % (the classifier centre-crops 87.5 %).
        rows = np.flatnonzero(inside.any(axis=1))
        margin = int(0.07 * size)
        assert columns[0] >= margin and columns[-1] < size - margin
        assert rows[0] >= margin and rows[-1] < size - margin
    assert np.mean(areas["large"]) > 2 * np.mean(areas["small"])


def test_backgrounds_look_different():
    # Mean colour per background: every pair is clearly apart, so the background is visible evidence.
    means = {}
    for bg in BACKGROUNDS:
        scene = Scene("img_x", "boat", "red", "small", "left", bg, (), "a boat on the " + bg + ".", render_seed=3)
        means[bg] = np.asarray(render_background(scene, SMALL)).reshape(-1, 3).mean(axis=0)
    for a in BACKGROUNDS:
        for b in BACKGROUNDS:
            if a < b:
                assert np.abs(means[a] - means[b]).max() > 20, (a, b, means[a], means[b])


def test_render_is_deterministic_and_varies_between_scenes():
    a, b = sample_scenes(WorldSpec(num_images=2, seed=0))
    image_1, mask_1 = render_scene(a, SMALL)
    image_2, mask_2 = render_scene(a, SMALL)
    assert np.array_equal(np.asarray(image_1), np.asarray(image_2)) and np.array_equal(mask_1, mask_2)
    twin = Scene(**{**a.to_json(), "distractors": a.distractors, "render_seed": a.render_seed + 1})
    assert not np.array_equal(np.asarray(render_background(a, SMALL)), np.asarray(render_background(twin, SMALL)))


def test_scene_json_round_trip():
    for s in sample_scenes(WorldSpec(num_images=20, seed=9)):
        assert Scene.from_json(json.loads(json.dumps(s.to_json()))) == s
    with pytest.raises(ValueError, match="missing keys"):
        Scene.from_json({"image_id": "img_000000"})


def test_load_scenes_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path / "scenes.jsonl"))):
        load_scenes(tmp_path)
    (tmp_path / "scenes.jsonl").write_text('{"image_id": "img_000000"}\n')
    with pytest.raises(ValueError, match=re.escape(str(tmp_path / "scenes.jsonl")) + ":1"):
        load_scenes(tmp_path)
    (tmp_path / "scenes.jsonl").write_text("not json\n")
    with pytest.raises(ValueError, match="scenes.jsonl:1"):
        load_scenes(tmp_path)


def test_captions_per_image_gives_each_training_image_its_variants_and_a_new_identity(tmp_path):
    """world.captions_per_image (harness/pipeline/training_data.py): n captions per image, the scene's own first,
    written from its scene graph; the data identity (the translator's key) changes with n, except at 1."""
    from harness.config import ConfigError, load_config
    from harness.pipeline.training_data import load_training_data

    one = load_training_data(load_config("quickstart", ["world.num_images=6", "world.image_size=32"]), tmp_path, False)
    three = load_training_data(load_config("quickstart", ["world.num_images=6", "world.image_size=32", "world.captions_per_image=3"]), tmp_path, False)
    assert all(len(image.captions) == 1 for image in one.images) and "captions_per_image" not in one.identity
    for a, b in zip(one.images, three.images):
        assert len(b.captions) == 3 and b.captions[0] == a.captions[0] and len(set(b.captions)) > 1
        assert all(a.truth["object"] in caption for caption in b.captions)
    assert three.identity != one.identity
    with pytest.raises(ConfigError, match="captions_per_image"):
        load_config("quickstart", ["world.captions_per_image=0"])


def test_a_second_run_reuses_the_cached_world_without_writing(tmp_path, monkeypatch):
    # A rerun of `texplain run` must read the world back: world.json holds lists where the spec holds
    # tuples, and a comparison of parsed values once re-rendered the whole world on every run.
    import harness.worlds.default_world as default_world
    from harness.config import load_config
    from harness.pipeline.training_data import synthetic_world

    config = load_config("quickstart", ["world.num_images=4", "world.image_size=64"])
    first = synthetic_world(config, tmp_path, progress=False)
    files = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*") if p.is_file()}
    assert len(files) == 2 * 4 + 3

    def must_not_render(*args, **kwargs):
        raise AssertionError("the cached world was rendered again")

    monkeypatch.setattr(default_world, "render_scene", must_not_render)
    second = synthetic_world(config, tmp_path, progress=False)
    assert second.images == first.images and second.identity == first.identity
    assert {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*") if p.is_file()} == files  # nothing rewritten
