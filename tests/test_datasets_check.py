"""``texplain data check`` (harness/datasets/check.py): every problem of a folder in one report, exit 1
when there is any, format detection."""

from __future__ import annotations

import json

import numpy as np
import pytest

from harness.cli.main import main
from harness.datasets.check import check_dataset, detect_formats
from harness.worlds.backgrounds_world import (
    BackgroundsWorldSpec,
    make_backgrounds_world,
)
from harness.worlds.captions_world import CaptionsWorldSpec, make_captions_world
from harness.worlds.waterbirds_world import WaterbirdsWorldSpec, make_waterbirds_world


def _truncate(path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def test_backgrounds_check_lists_every_problem(tmp_path, capsys):
    spec = BackgroundsWorldSpec(classes=("boat", "car"), backgrounds=("water", "road"), images_per_class=2, image_size=32)
    root = make_backgrounds_world(spec, tmp_path / "bg", progress=False)
    truncated = root / "mixed_rand" / "val" / "car" / "val_car_00001.png"
    _truncate(truncated)
    bad_mask = root / "fg_mask" / "val" / "boat" / "val_boat_00000.npy"
    np.save(bad_mask, np.ones((16, 16), dtype=np.uint8))
    (root / "no_fg" / "val" / "fish").mkdir()  # an empty class folder, which no other variation has
    stray = root / "only_fg" / "val" / "boat" / "notes.txt"
    stray.write_text("x")

    code = main(["data", "check", str(root)])
    report = capsys.readouterr().out
    assert code == 1
    assert "backgrounds_challenge split val: 5 problem(s)" in report
    assert f"5 problems in dataset {root}:" in report
    assert f"{truncated}: image cannot be decoded" in report
    assert f"{bad_mask}: mask has shape (16, 16) but its image {root / 'original' / 'val' / 'boat' / 'val_boat_00000.png'} is 32x32" in report
    assert f"{root / 'no_fg' / 'val' / 'fish'}: class folder 'fish' holds no images" in report
    assert "class folders differ from those of original (missing [], extra ['fish'])" in report
    assert f"{stray}: '.txt' is not an image extension" in report


def test_waterbirds_check_lists_every_problem(tmp_path):
    root = make_waterbirds_world(WaterbirdsWorldSpec(train_size=4, val_size=2, test_size=2, image_size=32), tmp_path / "wb", progress=False)
    lines = (root / "metadata.csv").read_text().splitlines()
    fields = lines[2].split(",")
    fields[3] = "7"  # an unknown split code on line 3
    lines[2] = ",".join(fields)
    (root / "metadata.csv").write_text("\n".join(lines) + "\n")
    missing = root / lines[4].split(",")[1]
    missing.unlink()
    truncated = root / lines[5].split(",")[1]
    _truncate(truncated)
    with open(root / "captions.jsonl", "a") as stream:
        stream.write(json.dumps({"image": "009.ghost/ghost_000099.png", "caption": "nothing"}) + "\n")

    report = check_dataset(root)
    assert not report.ok and len(report.problems) == 4
    text = report.render()
    assert "(line 3): unknown split code 7" in text
    assert f"(line 5): image {missing} is missing" in text
    assert f"{truncated}: image cannot be decoded" in text
    assert "(line 9): caption refers to image '009.ghost/ghost_000099.png', which is not in metadata.csv" in text


def test_clean_folders_and_detection(tmp_path, capsys):
    coco = make_captions_world(CaptionsWorldSpec(train_size=2, val_size=1, captions_per_image=1, image_size=32), tmp_path / "coco", progress=False)
    assert detect_formats(coco) == ["coco_captions"]
    assert check_dataset(coco).ok
    assert detect_formats(tmp_path / "nowhere") == []

    folder = tmp_path / "mine"
    (folder / "cats").mkdir(parents=True)
    (folder / "cats" / "a.png").write_bytes((coco / "train2017" / "000000000001.png").read_bytes())
    assert detect_formats(folder) == ["image_folder"]
    assert main(["data", "check", str(folder)]) == 0
    assert "image_folder: 1 images in 1 classes (cats 1)" in capsys.readouterr().out

    jsonl = tmp_path / "mine" / "captions.jsonl"
    jsonl.write_text(json.dumps({"image": "cats/a.png", "caption": "a picture"}) + "\n" + json.dumps({"image": "cats/b.png", "caption": "gone"}) + "\n")
    assert detect_formats(jsonl) == ["captions_jsonl"]
    assert main(["data", "check", str(jsonl)]) == 1
    assert "(line 2): caption refers to image" in capsys.readouterr().out


def test_unknown_folder_is_an_error(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["data", "check", str(tmp_path / "empty")]) == 2
    assert "matches no known dataset format" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["data", "check", str(tmp_path), "--format", "imagenet"])


def test_backgrounds_check_reports_an_image_missing_from_one_variation(tmp_path, capsys):
    # The Only-BG suite pairs an image's variations by stem: one missing only_bg_t file would silently
    # shorten its tables by one pair, so it is a problem of the dataset, named with its file.
    spec = BackgroundsWorldSpec(classes=("boat", "car"), backgrounds=("water", "road"), images_per_class=2, image_size=32)
    root = make_backgrounds_world(spec, tmp_path / "bg", progress=False)
    missing = root / "only_bg_t" / "val" / "car" / "val_car_00001.png"
    missing.unlink()

    report = check_dataset(root)
    assert len(report.problems) == 1
    (problem,) = report.problems
    assert problem.file == missing
    assert "stem 'val_car_00001' of class 'car' exists in original" in problem.message and "not in only_bg_t" in problem.message

    assert main(["data", "check", str(root)]) == 1
    out = capsys.readouterr().out
    assert "backgrounds_challenge split val: 1 problem(s)" in out
    assert f"1 problem: {missing}: image is missing: stem 'val_car_00001' of class 'car' exists in original" in out
    assert "Fix: restore only_bg_t/val/car/val_car_00001.png" in out
    # Exactly that stem and variation: no other variation or stem is named.
    problem_lines = [line for line in out.splitlines() if "missing" in line]
    assert len(problem_lines) == 1 and "val_car_00000" not in out
