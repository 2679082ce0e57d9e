"""The Waterbirds world (harness/worlds/waterbirds_world.py) round-trips through its reader: metadata.csv
exactly as the release's, group counts, the planted train correlation measured on the written files
(metadata and pixels), balanced val/test, a caption per image, byte-identical files per seed."""

from __future__ import annotations

import json

import pytest
from world_checks import background_from_pixels, digests, read_rgb

from harness.cli.main import main
from harness.datasets.waterbirds import GROUP_NAMES, read_waterbirds
from harness.worlds.output import WorldSpecError
from harness.worlds.waterbirds_world import WaterbirdsWorldSpec, make_waterbirds_world

SPEC = WaterbirdsWorldSpec(train_size=200, val_size=40, test_size=40, image_size=32, seed=2)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return make_waterbirds_world(SPEC, tmp_path_factory.mktemp("wb") / "world", progress=False)


def test_metadata_is_the_release_format(world):
    lines = (world / "metadata.csv").read_text().splitlines()
    assert lines[0] == "img_id,img_filename,y,split,place,place_filename"
    assert lines[1] == "1,001.car/car_000001.png,0,0,0,/g/grass/00000001.jpg"  # y=0 (car), train, land
    assert len(lines) == 1 + 280
    dataset = read_waterbirds(world, verify_images=True)
    assert [item.img_id for item in dataset.items] == list(range(1, 281))
    assert {item.split for item in dataset.items} == {"train", "val", "test"}


def test_group_counts_and_planted_correlation(world):
    dataset = read_waterbirds(world)
    # 0.95 of each class on its own place, exactly, as in Waterbirds (3498 / 184 / 56 / 1057).
    assert dataset.group_counts("train") == {"landbird/land": 95, "landbird/water": 5, "waterbird/land": 5, "waterbird/water": 95}
    assert dataset.group_counts("val") == dict.fromkeys(GROUP_NAMES, 10)
    assert dataset.group_counts("test") == dict.fromkeys(GROUP_NAMES, 10)
    # The place read back from the pixels (outside the object) agrees with metadata.csv for every image.
    candidates = SPEC.land_backgrounds + SPEC.water_backgrounds
    for item in dataset.items:
        seen = background_from_pixels(read_rgb(item.path), dataset.mask(item), candidates)
        assert int(seen in SPEC.water_backgrounds) == item.place, item
    train = dataset.split("train")
    assert sum(item.y == item.place for item in train) / len(train) == pytest.approx(0.95)


def test_classes_have_distinct_words_and_every_image_a_caption(world):
    dataset = read_waterbirds(world)
    scenes = dataset.scenes()
    assert len(scenes) == len(dataset.items)
    for item in dataset.items:
        scene = scenes[item.img_filename]
        word = "boat" if item.y == 1 else "car"
        assert scene["object_class"] == word and scene["img_id"] == item.img_id
        assert scene["background"] in (SPEC.water_backgrounds if item.place == 1 else SPEC.land_backgrounds)
        assert len(item.captions) == 1 and word in item.captions[0].split() and scene["background"] in item.captions[0]
        assert item.place_filename == f"/{scene['background'][0]}/{scene['background']}/{item.img_id:08d}.jpg"
    # Both land backgrounds are used, about evenly.
    land = [scenes[i.img_filename]["background"] for i in dataset.items if i.place == 0]
    assert abs(land.count("forest") - land.count("grass")) <= 6
    world_json = json.loads((world / "world.json").read_text())
    assert world_json["class_words"] == {"0": ["car"], "1": ["boat"]}


@pytest.mark.parametrize("correlation", [0.5, 0.8])
def test_other_correlations(tmp_path, correlation):
    spec = WaterbirdsWorldSpec(train_size=40, val_size=4, test_size=4, train_correlation=correlation, image_size=32,
                               water_objects=("fish", "boat"), land_objects=("house",), land_backgrounds=("snow",))
    dataset = read_waterbirds(make_waterbirds_world(spec, tmp_path / "w", progress=False))
    train = dataset.split("train")
    assert sum(item.y == item.place for item in train) / len(train) == correlation
    water_objects = {dataset.scenes()[i.img_filename]["object_class"] for i in dataset.items if i.y == 1}
    assert water_objects == {"fish", "boat"}


def test_same_seed_gives_byte_identical_files(tmp_path):
    spec = WaterbirdsWorldSpec(train_size=6, val_size=2, test_size=2, image_size=32, seed=4)
    a = digests(make_waterbirds_world(spec, tmp_path / "a", progress=False))
    b = digests(make_waterbirds_world(spec, tmp_path / "b", progress=False))
    assert a == b and len(a) == 2 * 10 + 4  # images, masks, metadata.csv, captions.jsonl, scenes.jsonl, world.json
    c = digests(make_waterbirds_world(WaterbirdsWorldSpec(train_size=6, val_size=2, test_size=2, image_size=32, seed=5), tmp_path / "c", progress=False))
    assert c["metadata.csv"] != a["metadata.csv"] or c["captions.jsonl"] != a["captions.jsonl"]


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"water_objects": ("boat",), "land_objects": ("boat", "car")}, r"share \['boat'\]; the two classes need distinct object words"),
        ({"land_backgrounds": ("water",)}, "the two families need distinct backgrounds"),
        ({"train_size": 1}, "train_size must be >= 2"),
        ({"water_objects": ("whale",)}, r"water_objects has unknown entries \['whale'\]"),
    ],
)
def test_bad_specs(fields, message):
    with pytest.raises(WorldSpecError, match=message):
        WaterbirdsWorldSpec(**fields)


def test_cli(tmp_path, capsys):
    out = tmp_path / "cli"
    argv = ["world", "waterbirds", "--out", str(out), "--train-size", "20", "--val-size", "4", "--test-size", "4",
            "--correlation", "0.9", "--land-backgrounds", "sand,snow", "--image-size", "32", "--quiet"]
    assert main(argv) == 0
    dataset = read_waterbirds(out)
    assert dataset.group_counts("train") == {"landbird/land": 9, "landbird/water": 1, "waterbird/land": 1, "waterbird/water": 9}
    assert main(["data", "check", str(out)]) == 0
    assert "waterbirds: 28 images" in capsys.readouterr().out
