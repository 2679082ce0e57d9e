"""Readers of harness/datasets/ on tiny fixtures written in the real formats (docs/design.md#data-formats),
and every bad-input case a reader must report (missing files, malformed rows, images that do not decode), asserting on the messages (file, row, fix)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from harness.datasets.backgrounds_challenge import (
    load_in9_mapping,
    read_backgrounds_challenge,
    read_in9_classes,
)
from harness.datasets.coco_captions import (
    CaptionRecord,
    read_captions_jsonl,
    read_coco_captions,
)
from harness.datasets.image_folder import read_image_folder
from harness.datasets.images import load_image
from harness.datasets.waterbirds import COLUMNS, GROUP_NAMES, read_waterbirds
from texplain.errors import DatasetError, TExplainError

# The release's mapping files: the workplace's shared copy when present, else the same files kept in
# tests/data (data, unchanged, with their provenance in its README) so a clean clone tests them too.
SHARED_BG = Path(__file__).resolve().parents[2] / "shared" / "data" / "backgrounds_challenge"
if not (SHARED_BG / "in_to_in9.json").is_file():
    SHARED_BG = Path(__file__).resolve().parent / "data" / "backgrounds_challenge"
REAL_HEADER = "img_id,img_filename,y,split,place,place_filename"


def _image(path: Path, size: tuple[int, int] = (8, 6), fmt: str | None = None, color=(200, 30, 30)) -> Path:
    """A small solid image; size is (width, height) as PIL takes it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, color).save(path, format=fmt)
    return path


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


# --------------------------------------------------------------------------------------------------
# Waterbirds
# --------------------------------------------------------------------------------------------------

# Rows in the release's style: CUB species folders, Places paths; one row per group and split.
_WB_ROWS = [
    (1, "001.Black_footed_Albatross/Black_Footed_Albatross_0046_18.jpg", 1, 0, 1, "/o/ocean/00002178.jpg"),
    (2, "001.Black_footed_Albatross/Black_Footed_Albatross_0009_34.jpg", 1, 0, 0, "/b/bamboo_forest/00001205.jpg"),
    (3, "002.Laysan_Albatross/Laysan_Albatross_0002_1027.jpg", 1, 1, 1, "/l/lake/natural/00000065.jpg"),
    (4, "003.Sooty_Albatross/Sooty_Albatross_0031_1066.jpg", 1, 2, 0, "/f/forest/broadleaf/00003052.jpg"),
    (5, "010.Red_winged_Blackbird/Red_Winged_Blackbird_0017_583.jpg", 0, 0, 0, "/b/bamboo_forest/00000456.jpg"),
    (6, "010.Red_winged_Blackbird/Red_Winged_Blackbird_0038_4229.jpg", 0, 0, 0, "/f/forest/broadleaf/00001008.jpg"),
    (7, "011.Rusty_Blackbird/Rusty_Blackbird_0060_6908.jpg", 0, 1, 1, "/o/ocean/00000877.jpg"),
    (8, "011.Rusty_Blackbird/Rusty_Blackbird_0105_6885.jpg", 0, 2, 1, "/l/lake/natural/00004456.jpg"),
]


def _waterbirds(root: Path, header: str = REAL_HEADER, rows=None, images: bool = True) -> Path:
    rows = _WB_ROWS if rows is None else rows
    lines = [header] + [",".join(str(v) for v in row) for row in rows]
    root.mkdir(parents=True, exist_ok=True)
    (root / "metadata.csv").write_text("\n".join(lines) + "\n")
    if images:
        for row in rows:
            _image(root / str(row[1]), fmt="JPEG")
    return root


def test_waterbirds_real_layout(tmp_path):
    root = _waterbirds(tmp_path / "waterbird_complete95_forest2water2")
    assert (root / "metadata.csv").read_text().splitlines()[0] == ",".join(COLUMNS)
    dataset = read_waterbirds(root)
    assert [item.img_id for item in dataset.items] == list(range(1, 9))
    first = dataset.items[0]
    assert first.path == root / _WB_ROWS[0][1] and first.path.is_file()
    assert (first.y, first.place, first.split, first.group, first.group_name) == (1, 1, "train", 3, "waterbird/water")
    assert first.place_filename == "/o/ocean/00002178.jpg"
    assert first.captions == ()
    assert dataset.group_counts("train") == {"landbird/land": 2, "landbird/water": 0, "waterbird/land": 1, "waterbird/water": 1}
    assert [i.img_id for i in dataset.split("val")] == [3, 7] == [i.img_id for i in dataset.split(1)]
    assert [i.img_id for i in dataset.split("test")] == [4, 8]
    assert {item.group_name for item in dataset.items} == set(GROUP_NAMES)
    assert dataset.scenes() is None  # real data: no truth
    with pytest.raises(DatasetError, match="unknown Waterbirds split 'dev'"):
        dataset.split("dev")


def test_waterbirds_columns_in_any_order_and_caption_sidecar(tmp_path):
    order = [5, 0, 2, 1, 4, 3]  # place_filename,img_id,y,img_filename,place,split
    header = ",".join(COLUMNS[i] for i in order)
    rows = [tuple(row[i] for i in order) for row in _WB_ROWS]
    root = _waterbirds(tmp_path, header=header, rows=rows, images=False)
    for row in _WB_ROWS:
        _image(tmp_path / row[1], fmt="JPEG")
    (root / "captions.jsonl").write_text(
        json.dumps({"image": _WB_ROWS[0][1], "caption": "an albatross over the ocean"}) + "\n"
        + json.dumps({"image": _WB_ROWS[0][1], "caption": "a seabird on the water"}) + "\n"
    )
    dataset = read_waterbirds(root)
    assert dataset.items[0].captions == ("an albatross over the ocean", "a seabird on the water")
    assert dataset.items[0].y == 1 and dataset.items[1].captions == ()


@pytest.mark.parametrize(
    "header, expected",
    [
        ("img_id,img_filename,y,split,place", r"missing column\(s\) \['place_filename'\]"),
        (REAL_HEADER + ",species", r"extra column\(s\) \['species'\]"),
        ("," + REAL_HEADER, r"an unnamed column: a saved pandas index\? write the file with index=False"),
    ],
)
def test_waterbirds_missing_or_extra_columns(tmp_path, header, expected):
    rows = [row + ("x",) if header.endswith("species") else (("0",) + row if header.startswith(",") else row[:5]) for row in _WB_ROWS]
    _waterbirds(tmp_path, header=header, rows=rows)
    with pytest.raises(DatasetError, match=expected) as info:
        read_waterbirds(tmp_path)
    message = str(info.value)
    assert str(tmp_path / "metadata.csv") in message and "(line 1)" in message
    assert "Fix: the header must be exactly img_id,img_filename,y,split,place,place_filename" in message


def test_waterbirds_bad_rows_are_all_reported(tmp_path):
    rows = list(_WB_ROWS)
    rows[2] = (3, rows[2][1], 1, 3, 1, rows[2][5])  # split code 3
    rows[4] = (5, rows[4][1], 2, 0, 0, rows[4][5])  # y = 2
    _waterbirds(tmp_path, rows=rows)
    (tmp_path / rows[6][1]).unlink()  # a missing image
    with pytest.raises(DatasetError) as info:
        read_waterbirds(tmp_path)
    message = str(info.value)
    assert message.startswith(f"3 problems in dataset {tmp_path}:")
    assert "metadata.csv (line 4): unknown split code 3. Fix: use 0 = train, 1 = val, 2 = test" in message
    assert "metadata.csv (line 6): unknown y value 2. Fix: use 0 = landbird, 1 = waterbird" in message
    assert f"metadata.csv (line 8): image {tmp_path / rows[6][1]} is missing. Fix: restore the image or remove its row" in message
    assert len(info.value.problems) == 3


def test_waterbirds_truncated_image(tmp_path):
    _waterbirds(tmp_path)
    bad = tmp_path / _WB_ROWS[1][1]
    _truncate(bad)
    read_waterbirds(tmp_path)  # headers only: reading the metadata does not decode images
    with pytest.raises(DatasetError, match="image cannot be decoded .*probably truncated") as info:
        read_waterbirds(tmp_path, verify_images=True)
    assert str(bad) in str(info.value) and "Fix: replace the file with an intact copy" in str(info.value)
    with pytest.raises(DatasetError, match=r"probably truncated.*Fix: replace the file with an intact copy"):
        load_image(bad)


def test_waterbirds_caption_file_refers_to_missing_images(tmp_path):
    _waterbirds(tmp_path)
    (tmp_path / "captions.jsonl").write_text(
        json.dumps({"image": _WB_ROWS[0][1], "caption": "fine"}) + "\n"
        + json.dumps({"image": "999.Dodo/Dodo_0001.jpg", "caption": "a dodo"}) + "\n"
    )
    with pytest.raises(DatasetError) as info:
        read_waterbirds(tmp_path)
    assert str(info.value) == (
        f"{tmp_path / 'captions.jsonl'} (line 2): caption refers to image '999.Dodo/Dodo_0001.jpg', which is not in "
        "metadata.csv. Fix: use an img_filename of metadata.csv or remove the line"
    )


def test_waterbirds_missing_metadata(tmp_path):
    with pytest.raises(DatasetError, match=r"metadata.csv: metadata file not found. Fix: pass the Waterbirds root"):
        read_waterbirds(tmp_path)


# --------------------------------------------------------------------------------------------------
# Background Challenge
# --------------------------------------------------------------------------------------------------

_IN9 = ("00_dog", "01_bird", "02_vehicle")


def _stem(class_index: int, k: int) -> str:
    return f"n0{class_index}0{k}_{1000 + k}"  # like ImageNet's n02085620_10074


def _bg_tree(root: Path, variations=("original", "mixed_rand"), per_class: int = 2, masks: bool = True) -> Path:
    """A release-style tree: ImageNet stems, .JPEG files, numbered class folders, masks for val."""
    for c, class_name in enumerate(_IN9):
        for k in range(per_class):
            stem = _stem(c, k)
            for variation in variations:
                _image(root / variation / "val" / class_name / f"{stem}.JPEG", size=(10, 7), fmt="JPEG")
            if masks:
                mask = np.zeros((7, 10), dtype=np.uint8)
                mask[2:5, 3:7] = 1
                (root / "fg_mask" / "val" / class_name).mkdir(parents=True, exist_ok=True)
                np.save(root / "fg_mask" / "val" / class_name / f"{stem}.npy", mask)
    return root


def test_backgrounds_challenge_two_variations(tmp_path):
    root = _bg_tree(tmp_path / "bg_challenge")
    dataset = read_backgrounds_challenge(root)
    assert dataset.classes == _IN9 and dataset.split == "val"
    assert dataset.variations == ("original", "mixed_rand")  # canonical order, not alphabetical
    items = dataset.items("mixed_rand")
    assert [(i.class_name, i.label) for i in items] == [(c, k) for k, c in enumerate(_IN9) for _ in range(2)]
    assert items[0].stem == _stem(0, 0) and items[0].path.suffix == ".JPEG" and items[0].variation == "mixed_rand"
    assert items == sorted(items, key=lambda i: (i.class_name, i.stem))
    mask = dataset.mask(dataset.items("original")[3])
    assert mask.shape == (7, 10) and mask.dtype == np.uint8 and mask.sum() == 12
    assert dataset.scenes() is None
    with pytest.raises(DatasetError, match=r"variation 'only_bg_t' has no 'val' folder here \(present: original, mixed_rand\)"):
        dataset.items("only_bg_t")
    # The full check (decode every image, compare every mask) passes too.
    read_backgrounds_challenge(root, verify_images=True)


def test_backgrounds_challenge_empty_class_folder(tmp_path):
    root = _bg_tree(tmp_path)
    (root / "original" / "val" / "03_reptile").mkdir()
    with pytest.raises(DatasetError) as info:
        read_backgrounds_challenge(root)
    message = str(info.value)
    assert "03_reptile: class folder '03_reptile' holds no images (.jpeg/.jpg/.png)" in message
    assert "Fix: add its images or delete the folder" in message
    # The other variation now lacks that class: labels would disagree, which is reported as well.
    assert "class folders differ from those of original (missing ['03_reptile'], extra [])" in message


def test_backgrounds_challenge_mask_shape_mismatch(tmp_path):
    root = _bg_tree(tmp_path)
    item_stem = _stem(1, 0)
    bad = root / "fg_mask" / "val" / "01_bird" / f"{item_stem}.npy"
    np.save(bad, np.ones((10, 7), dtype=np.uint8))  # transposed
    dataset = read_backgrounds_challenge(root)
    item = next(i for i in dataset.items("original") if i.stem == item_stem)
    expected = f"{bad}: mask has shape (10, 7) but its image {item.path} is 7x10 (height x width). Fix: regenerate the mask"
    with pytest.raises(DatasetError) as info:
        dataset.mask(item)
    assert str(info.value).startswith(expected)
    with pytest.raises(DatasetError) as info:
        read_backgrounds_challenge(root, verify_images=True)
    assert str(info.value).startswith(expected)


def test_backgrounds_challenge_unreadable_image_and_misspelt_variation(tmp_path):
    root = _bg_tree(tmp_path)
    bad = root / "original" / "val" / "02_vehicle" / f"{_stem(2, 0)}.JPEG"
    bad.write_bytes(b"not a jpeg at all")
    (root / "mixed-same" / "val" / "00_dog").mkdir(parents=True)
    with pytest.raises(DatasetError) as info:
        read_backgrounds_challenge(root, verify_images=True)
    message = str(info.value)
    assert "'mixed-same' is not a Background Challenge variation. Did you mean 'mixed_same'?" in message
    assert f"{bad}: not a readable image (unknown or corrupt format)" in message


def test_backgrounds_challenge_wrong_root(tmp_path):
    root = _bg_tree(tmp_path)
    with pytest.raises(DatasetError, match=f"this looks like one variation folder, not the dataset root. Fix: pass its parent folder {root}"):
        read_backgrounds_challenge(root / "original")
    with pytest.raises(DatasetError, match=r"no variation has a 'train' folder \(splits present: val\). Fix: pass split= one of val"):
        read_backgrounds_challenge(root, split="train")


def test_in9_mapping_from_the_release():
    mapping = load_in9_mapping(SHARED_BG / "in_to_in9.json")
    assert mapping.shape == (1000,) and mapping.dtype == np.int64
    assert set(np.unique(mapping).tolist()) == set(range(-1, 9))
    assert mapping[151] == 0  # 151 (Chihuahua) is a dog
    assert mapping[0] == 8  # 0 (tench) is a fish
    assert read_in9_classes(SHARED_BG / "in9_classes.txt") == (
        "dog", "bird", "vehicle", "reptile", "carnivore", "insect", "instrument", "primate", "fish",
    )


def test_in9_mapping_bad_values(tmp_path):
    path = tmp_path / "in_to_in9.json"
    data = {str(i): i % 9 for i in range(1000)}
    data["7"] = 9
    del data["500"]
    path.write_text(json.dumps(data))
    with pytest.raises(DatasetError) as info:
        load_in9_mapping(path)
    message = str(info.value)
    assert f"{path} (key '7'): value 9 is not an IN-9 index. Fix: use an integer in -1..8" in message
    assert "ImageNet indices [500] are missing (keys must be 0..999 without gaps)" in message
    with pytest.raises(DatasetError, match="mapping file not found"):
        load_in9_mapping(tmp_path / "nope.json")


# --------------------------------------------------------------------------------------------------
# COCO captions and captions.jsonl
# --------------------------------------------------------------------------------------------------


def _coco(root: Path, split: str = "train2017") -> Path:
    images = [{"id": 9, "file_name": "000000000009.jpg", "width": 8, "height": 6},
              {"id": 25, "file_name": "000000000025.jpg", "width": 8, "height": 6}]
    annotations = [{"id": 1, "image_id": 9, "caption": "A plate of food on a table. "},
                   {"id": 2, "image_id": 25, "caption": "A giraffe eating leaves."},
                   {"id": 3, "image_id": 9, "caption": "Broccoli and bread in a bowl."}]
    (root / "annotations").mkdir(parents=True, exist_ok=True)
    (root / "annotations" / f"captions_{split}.json").write_text(
        json.dumps({"info": {}, "licenses": [], "images": images, "annotations": annotations})
    )
    for image in images:
        _image(root / split / image["file_name"], fmt="JPEG")
    return root


def test_coco_captions(tmp_path):
    root = _coco(tmp_path / "coco")
    records = read_coco_captions(root, "train2017", verify_images=True)
    assert records == [
        CaptionRecord(root / "train2017" / "000000000009.jpg", "A plate of food on a table."),
        CaptionRecord(root / "train2017" / "000000000025.jpg", "A giraffe eating leaves."),
        CaptionRecord(root / "train2017" / "000000000009.jpg", "Broccoli and bread in a bowl."),
    ]
    image, caption = records[1]  # records unpack as (image path, caption)
    assert image.name == "000000000025.jpg" and caption.startswith("A giraffe")
    with pytest.raises(DatasetError, match=r"caption file not found. Fix: pass split= one of train2017"):
        read_coco_captions(root, "val2017")


def test_coco_caption_file_refers_to_missing_images(tmp_path):
    root = _coco(tmp_path)
    (root / "train2017" / "000000000025.jpg").unlink()
    data = json.loads((root / "annotations" / "captions_train2017.json").read_text())
    data["annotations"].append({"id": 4, "image_id": 77, "caption": "orphan"})
    (root / "annotations" / "captions_train2017.json").write_text(json.dumps(data))
    with pytest.raises(DatasetError) as info:
        read_coco_captions(root, "train2017")
    message = str(info.value)
    annotation_file = root / "annotations" / "captions_train2017.json"
    assert f"{annotation_file} (annotations[3]): image_id 77 is not in 'images'" in message
    assert f"{annotation_file} (images[1]): captions refer to image {root / 'train2017' / '000000000025.jpg'} which is not there" in message


def test_captions_jsonl(tmp_path):
    _image(tmp_path / "photos" / "a.png")
    _image(tmp_path / "photos" / "b.jpeg", fmt="JPEG")
    path = tmp_path / "captions.jsonl"
    path.write_text(
        json.dumps({"image": "photos/a.png", "caption": "a red square"}) + "\n\n"
        + json.dumps({"image": str(tmp_path / "photos" / "b.jpeg"), "caption": "another red square", "id": 7}) + "\n"
    )
    assert read_captions_jsonl(path) == [
        CaptionRecord(tmp_path / "photos" / "a.png", "a red square"),
        CaptionRecord(tmp_path / "photos" / "b.jpeg", "another red square"),
    ]


def test_captions_jsonl_bad_lines(tmp_path):
    _image(tmp_path / "a.png")
    path = tmp_path / "captions.jsonl"
    path.write_text(
        json.dumps({"image": "a.png", "caption": "ok"}) + "\n"
        + json.dumps({"image": "gone.png", "caption": "missing image"}) + "\n"
        + "{not json\n"
        + json.dumps({"img": "a.png", "text": "wrong keys"}) + "\n"
    )
    with pytest.raises(DatasetError) as info:
        read_captions_jsonl(path)
    message = str(info.value)
    assert f"{path} (line 2): caption refers to image {tmp_path / 'gone.png'} which is not there" in message
    assert f"{path} (line 3): not valid JSON" in message
    assert f"{path} (line 4): a line needs the text fields 'image' and 'caption'" in message
    assert len(info.value.problems) == 3


# --------------------------------------------------------------------------------------------------
# Image folder
# --------------------------------------------------------------------------------------------------


def test_image_folder(tmp_path):
    _image(tmp_path / "cats" / "1.jpg", fmt="JPEG")
    _image(tmp_path / "cats" / "nested" / "2.PNG", fmt="PNG")
    _image(tmp_path / "dogs" / "1.JPEG", fmt="JPEG")
    (tmp_path / "dogs" / ".DS_Store").write_bytes(b"\0")
    (tmp_path / "README.md").write_text("my photos")
    folder = read_image_folder(tmp_path, verify_images=True)
    assert folder.classes == ("cats", "dogs")
    assert [(i.path.relative_to(tmp_path).as_posix(), i.label) for i in folder.items] == [
        ("cats/1.jpg", 0), ("cats/nested/2.PNG", 0), ("dogs/1.JPEG", 1),
    ]


def test_image_folder_problems(tmp_path):
    _image(tmp_path / "cats" / "1.jpg", fmt="JPEG")
    (tmp_path / "cats" / "notes.txt").write_text("x")
    (tmp_path / "dogs").mkdir()
    _image(tmp_path / "loose.png")
    with pytest.raises(DatasetError) as info:
        read_image_folder(tmp_path)
    message = str(info.value)
    assert "1 image(s) lie directly in the folder instead of in a class sub-folder (e.g. loose.png)" in message
    assert f"{tmp_path / 'cats' / 'notes.txt'}: '.txt' is not an image extension" in message
    assert f"{tmp_path / 'dogs'}: class folder 'dogs' holds no images" in message
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DatasetError, match="no class sub-folders. Fix: put the images in one sub-folder per class"):
        read_image_folder(empty)


def test_dataset_error_is_a_user_error():
    # The CLI prints TExplainError messages instead of a traceback.
    assert issubclass(DatasetError, TExplainError)


def test_broken_scene_file_of_a_world(tmp_path):
    root = _bg_tree(tmp_path)
    (root / "scenes_val.jsonl").write_text('{"stem": "a", "background": "water"}\n{"stem": "a"}\n[1, 2]\n{oops\n')
    with pytest.raises(DatasetError) as info:
        read_backgrounds_challenge(root)
    message = str(info.value)
    scenes = root / "scenes_val.jsonl"
    assert f"{scenes} (line 2): duplicate stem 'a'. Fix: rebuild the world with `texplain world ...`" in message
    assert f"{scenes} (line 3): a scene record must be a JSON object with a 'stem' field" in message
    assert f"{scenes} (line 4): not valid JSON" in message


def test_backgrounds_challenge_variations_must_hold_the_same_stems(tmp_path):
    root = _bg_tree(tmp_path / "bg", variations=("original", "only_bg_t", "mixed_rand"))
    gone = root / "only_bg_t" / "val" / "01_bird" / f"{_stem(1, 1)}.JPEG"
    gone.unlink()
    stray = root / "mixed_rand" / "val" / "00_dog" / "n0000_9999.JPEG"
    stray.write_bytes((root / "mixed_rand" / "val" / "00_dog" / f"{_stem(0, 0)}.JPEG").read_bytes())
    with pytest.raises(DatasetError) as info:
        read_backgrounds_challenge(root)  # checked without verify_images: readers of the suites refuse too
    problems = info.value.problems
    assert [p.file for p in problems] == [gone, stray]
    assert f"stem '{_stem(1, 1)}' of class '01_bird' exists in original" in problems[0].message
    assert "stem 'n0000_9999' of class '00_dog' exists in mixed_rand but not in original" in problems[1].message
