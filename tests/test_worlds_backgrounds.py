"""The Background-Challenge world (harness/worlds/backgrounds_world.py) round-trips through its reader:
counts per class and variation, the planted correlation measured on the written files, masks aligned
with the object, the variations built as the paper builds them, byte-identical files per seed."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest
from world_checks import background_from_pixels, digests, read_rgb

from harness.cli.main import main
from harness.datasets.backgrounds_challenge import (
    VARIATIONS,
    read_backgrounds_challenge,
)
from harness.worlds.backgrounds_world import (
    BackgroundsWorldSpec,
    make_backgrounds_world,
)
from harness.worlds.output import WorldSpecError
from harness.worlds.rendering import render_background, render_scene
from harness.worlds.scene import Scene
from texplain.errors import DatasetError

SPEC = BackgroundsWorldSpec(
    classes=("boat", "car", "bird"),
    backgrounds=("water", "grass", "sand", "snow"),
    images_per_class=4,
    train_images_per_class=60,
    train_correlation=0.9,
    val_correlation=None,
    image_size=32,
    seed=5,
)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return make_backgrounds_world(SPEC, tmp_path_factory.mktemp("bg") / "world", progress=False)


def _scene(record: dict) -> Scene:
    fields = {k: record[k] for k in ("image_id", "object_class", "color", "size", "position", "background", "caption", "render_seed")}
    return Scene(distractors=tuple(record["distractors"]), **fields)


def test_counts_per_class_and_variation(world):
    val = read_backgrounds_challenge(world, "val", verify_images=True)
    assert val.classes == ("bird", "boat", "car")  # class words, sorted: label = index
    assert val.variations == VARIATIONS
    for variation in VARIATIONS:
        items = val.items(variation)
        assert Counter(item.class_name for item in items) == {"bird": 4, "boat": 4, "car": 4}
        assert all(item.label == val.classes.index(item.class_name) for item in items)
        assert all(item.path.suffix == ".png" and item.variation == variation for item in items)
    # Every variation has the same stems, and every stem has its scene graph.
    stems = [item.stem for item in val.items("original")]
    assert all([item.stem for item in val.items(v)] == stems for v in VARIATIONS)
    scenes = val.scenes()
    assert sorted(scenes) == sorted(stems)
    assert all(scenes[item.stem]["object_class"] == item.class_name == scenes[item.stem]["class_name"] for item in val.items("original"))

    train = read_backgrounds_challenge(world, "train", verify_images=True)
    assert train.variations == ("original",) and train.classes == val.classes
    assert Counter(item.class_name for item in train.items("original")) == {"bird": 60, "boat": 60, "car": 60}


def test_planted_correlation_measured_on_the_written_files(world):
    train = read_backgrounds_challenge(world, "train")
    scenes = train.scenes()
    on_preferred, agree = Counter(), 0
    items = train.items("original")
    for item in items:
        # The background is read back from the pixels (outside the exact mask), not only from the sidecar.
        seen = background_from_pixels(read_rgb(item.path), train.mask(item), SPEC.backgrounds)
        agree += seen == scenes[item.stem]["background"]
        on_preferred[item.class_name] += seen == SPEC.preferred_background(item.class_name)
    assert agree == len(items)
    assert {c: n / 60 for c, n in on_preferred.items()} == {"bird": 0.9, "boat": 0.9, "car": 0.9}

    # val: balanced, each class spread evenly over the backgrounds (4 images, 4 backgrounds).
    val = read_backgrounds_challenge(world, "val")
    by_class = Counter((r["class_name"], r["background"]) for r in val.scenes().values())
    assert set(by_class.values()) == {1} and len(by_class) == 12


def test_masks_align_and_variations_are_built_from_the_same_scene(world):
    val = read_backgrounds_challenge(world, "val")
    scenes = val.scenes()
    image = {v: {item.stem: item for item in val.items(v)} for v in VARIATIONS}
    labels = {item.stem: item.label for item in val.items("original")}
    for stem, original_item in image["original"].items():
        record = scenes[stem]
        original = read_rgb(original_item.path)
        mask = val.mask(original_item)
        inside = mask.astype(bool)
        # The mask is the object: the scene re-rendered from its graph gives the same pixels and mask.
        rendered, rendered_mask = render_scene(_scene(record), SPEC.image_size)
        assert np.array_equal(np.asarray(rendered), original) and np.array_equal(rendered_mask, mask)
        assert inside.sum() > 0

        only_bg_t = read_rgb(image["only_bg_t"][stem].path)
        assert np.array_equal(only_bg_t[~inside], original[~inside])
        assert np.array_equal(only_bg_t, np.asarray(render_background(_scene(record), SPEC.image_size)))
        # The foreground is absent: most object pixels now show background texture, none is black.
        assert (only_bg_t[inside] != original[inside]).any(axis=1).mean() > 0.5
        assert only_bg_t[inside].max(axis=1).min() > 0

        no_fg, only_fg = read_rgb(image["no_fg"][stem].path), read_rgb(image["only_fg"][stem].path)
        assert (no_fg[inside] == 0).all() and np.array_equal(no_fg[~inside], original[~inside])
        assert (only_fg[~inside] == 0).all() and np.array_equal(only_fg[inside], original[inside])

        x0, y0, x1, y1 = record["bbox"]
        only_bg_b = read_rgb(image["only_bg_b"][stem].path)
        box = np.zeros_like(inside)
        box[y0:y1, x0:x1] = True
        assert (box | ~inside).all()  # the box covers the object
        assert (only_bg_b[box] == 0).all() and np.array_equal(only_bg_b[~box], original[~box])

        for variation in ("mixed_same", "mixed_rand", "mixed_next"):
            donor = record["mixed"][variation]["stem"]
            mixed = read_rgb(image[variation][stem].path)
            donor_background = read_rgb(image["only_bg_t"][donor].path)
            assert np.array_equal(mixed[inside], original[inside])
            assert np.array_equal(mixed[~inside], donor_background[~inside])
        mixed = record["mixed"]
        assert labels[mixed["mixed_same"]["stem"]] == labels[stem] and mixed["mixed_same"]["stem"] != stem
        assert labels[mixed["mixed_rand"]["stem"]] != labels[stem]
        assert labels[mixed["mixed_next"]["stem"]] == (labels[stem] + 1) % 3


def test_same_seed_gives_byte_identical_files(tmp_path):
    spec = BackgroundsWorldSpec(classes=("fish", "house"), images_per_class=2, train_images_per_class=3, image_size=32, seed=1)
    a = make_backgrounds_world(spec, tmp_path / "a", progress=False)
    b = make_backgrounds_world(spec, tmp_path / "b", progress=False)
    assert digests(a) == digests(b)
    assert len(digests(a)) == 8 * 4 + 4 + 2 * 6 + 2 + 1  # val images, val masks, train images and masks, scenes x2, world.json
    c = make_backgrounds_world(BackgroundsWorldSpec(classes=("fish", "house"), images_per_class=2, train_images_per_class=3, image_size=32, seed=2), tmp_path / "c", progress=False)
    assert digests(c)["original/val/fish/val_fish_00000.png"] != digests(a)["original/val/fish/val_fish_00000.png"]

    # Asking again for the same world reuses it; another world in the same folder is an error.
    before = {p: p.stat().st_mtime_ns for p in a.rglob("*.png")}
    make_backgrounds_world(spec, a, progress=False)
    assert {p: p.stat().st_mtime_ns for p in a.rglob("*.png")} == before
    with pytest.raises(DatasetError, match="describes a different world. Fix: pick another --out folder"):
        make_backgrounds_world(BackgroundsWorldSpec(classes=("fish", "house"), images_per_class=3, image_size=32), a, progress=False)
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "notes.txt").write_text("mine")
    with pytest.raises(DatasetError, match="is not empty and holds no world"):
        make_backgrounds_world(spec, tmp_path / "full", progress=False)


def test_one_image_per_class_is_allowed(tmp_path):
    # mixed_same then falls back to the image's own background (there is no other image of the class).
    spec = BackgroundsWorldSpec(classes=("boat", "car"), backgrounds=("water", "road"), images_per_class=1, image_size=32)
    val = read_backgrounds_challenge(make_backgrounds_world(spec, tmp_path / "w", progress=False))
    for record in val.scenes().values():
        assert record["mixed"]["mixed_same"]["stem"] == record["stem"]


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"classes": ("boat",)}, r"classes needs at least 2 entries, got \['boat'\]"),
        ({"classes": ("boat", "zebra")}, r"classes has unknown entries \['zebra'\]"),
        ({"train_correlation": 1.5}, r"train_correlation must be in \[0, 1\] or None"),
        ({"backgrounds": ("water",), "val_correlation": 0.5}, "needs at least two backgrounds"),
        ({"image_size": 16}, "image_size must be >= 32 pixels"),
    ],
)
def test_bad_specs(fields, message):
    with pytest.raises(WorldSpecError, match=message):
        BackgroundsWorldSpec(**fields)


def test_cli(tmp_path, capsys):
    out = tmp_path / "cli"
    argv = ["world", "backgrounds", "--out", str(out), "--classes", "boat,car", "--backgrounds", "water,road",
            "--images-per-class", "2", "--train-images-per-class", "4", "--train-correlation", "0.75",
            "--image-size", "32", "--seed", "3", "--quiet"]
    assert main(argv) == 0
    spec = json.loads((out / "world.json").read_text())["spec"]
    assert spec["classes"] == ["boat", "car"] and spec["train_correlation"] == 0.75 and spec["val_correlation"] is None
    train = read_backgrounds_challenge(out, "train")
    assert sum(r["background"] == r["preferred_background"] for r in train.scenes().values()) == 6  # 0.75 * 4 per class
    assert main(["data", "check", str(out)]) == 0
    assert "no problems found" in capsys.readouterr().out
    assert main(["world", "backgrounds", "--out", str(tmp_path / "bad"), "--classes", "boat"]) == 2
    assert "classes needs at least 2 entries" in capsys.readouterr().err
