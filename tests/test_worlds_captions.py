"""The COCO-format captions world (harness/worlds/captions_world.py) round-trips through the COCO reader:
image and caption counts, captions written from the saved scene graphs, the correlation knob, byte-identical files."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from PIL import Image
from world_checks import digests

from harness.cli.main import main
from harness.datasets.coco_captions import read_coco_captions, read_coco_scenes
from harness.worlds.captions_world import CaptionsWorldSpec, make_captions_world
from harness.worlds.output import WorldSpecError


def test_round_trip(tmp_path):
    spec = CaptionsWorldSpec(train_size=12, val_size=4, captions_per_image=3, image_size=32, seed=1)
    root = make_captions_world(spec, tmp_path / "coco", progress=False)
    train = read_coco_captions(root, "train2017", verify_images=True)
    val = read_coco_captions(root, "val2017", verify_images=True)
    assert len(train) == 36 and len(val) == 12
    assert set(Counter(image for image, _ in train).values()) == {3}
    assert not {r.image for r in train} & {r.image for r in val}
    scenes = read_coco_scenes(root, "train2017")
    assert len(scenes) == 12
    with Image.open(train[0].image) as image:
        assert image.size == (32, 32)
    for image, caption in train:
        scene = scenes[image.name]
        assert scene["object_class"] in caption.split() and scene["background"] in caption
    # The first caption of each image is the scene's own; the others are different wordings of it.
    first = {}
    for image, caption in train:
        first.setdefault(image.name, caption)
    assert all(first[name] == scene["caption"] for name, scene in scenes.items())
    assert len({caption for _, caption in train}) > 24
    coco = json.loads((root / "annotations" / "captions_train2017.json").read_text())
    assert coco["images"][0] == {"id": 1, "file_name": "000000000001.png", "width": 32, "height": 32}
    assert [a["id"] for a in coco["annotations"]][:4] == [1, 2, 3, 4]


def test_correlation_knob(tmp_path):
    spec = CaptionsWorldSpec(train_size=30, val_size=0, captions_per_image=1, classes=("boat", "car"),
                             backgrounds=("water", "road"), correlation=1.0, image_size=32, train_split="train")
    root = make_captions_world(spec, tmp_path / "w", progress=False)
    assert not (root / "annotations" / "captions_val2017.json").exists()
    scenes = read_coco_scenes(root, "train").values()
    assert {(s["object_class"], s["background"]) for s in scenes} == {("boat", "water"), ("car", "road")}


def test_same_seed_gives_byte_identical_files(tmp_path):
    spec = CaptionsWorldSpec(train_size=3, val_size=2, image_size=32, seed=9)
    a = digests(make_captions_world(spec, tmp_path / "a", progress=False))
    assert a == digests(make_captions_world(spec, tmp_path / "b", progress=False))
    assert len(a) == 5 + 2 + 2 + 1  # images, annotation files, scene files, world.json


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"captions_per_image": 0}, "captions_per_image must be >= 1"),
        ({"train_split": "x", "val_split": "x"}, "train_split and val_split must differ"),
        ({"val_split": "../up"}, "val_split must be a plain folder name"),
    ],
)
def test_bad_specs(fields, message):
    with pytest.raises(WorldSpecError, match=message):
        CaptionsWorldSpec(**fields)


def test_cli(tmp_path, capsys):
    out = tmp_path / "cli"
    assert main(["world", "captions", "--out", str(out), "--train-size", "4", "--val-size", "2", "--captions-per-image", "2",
                 "--image-size", "32", "--correlation", "none", "--quiet"]) == 0
    assert len(read_coco_captions(out, "train2017")) == 8
    assert main(["data", "check", str(out)]) == 0
    report = capsys.readouterr().out
    assert "coco_captions split train2017: 8 captions of 4 images" in report and "coco_captions split val2017: 4 captions of 2 images" in report
