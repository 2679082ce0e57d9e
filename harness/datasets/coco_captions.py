"""Readers for captioned images: COCO captions (Chen et al., "Microsoft COCO Captions", 2015) and a
plain ``captions.jsonl`` for a user's own data (docs/design.md#data-formats).

COCO layout (and that of harness/worlds/captions_world.py):

    root/annotations/captions_<split>.json   {"images": [{"id", "file_name", ...}],
                                              "annotations": [{"id", "image_id", "caption"}]}
    root/<split>/<file_name>                 the images (or root/images/<split>/<file_name>)
    root/scenes_<split>.jsonl                synthetic worlds only: the scene graph per file_name

Real COCO names its splits train2017 / val2017. ``captions.jsonl`` holds one
``{"image": path, "caption": text}`` object per line; a relative path is relative to the file's folder.
Both readers return `CaptionRecord`s (one per caption, so an image with five captions gives five) and
check that every referenced image exists.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any, NamedTuple

from contracts.dataset_formats import DATASET_FORMATS, CaptionedSource, DatasetFormat
from harness.datasets.image_folder import verify_decodable
from harness.datasets.json_lines import iter_json_lines
from harness.datasets.problems import ProblemLog
from harness.datasets.scene_records import read_scene_records
from texplain.hashing import hash_file


class CaptionRecord(NamedTuple):
    """One (image path, caption) pair; a NamedTuple so that ``for image, caption in records`` works."""

    image: Path
    caption: str


def read_coco_captions(root: Path, split: str, verify_images: bool = False) -> list[CaptionRecord]:
    """Captions of ``root/annotations/captions_<split>.json`` with their image paths, in annotation order."""
    root = Path(root)
    log = ProblemLog(root)
    annotation_file = root / "annotations" / f"captions_{split}.json"
    if not annotation_file.is_file():
        available = sorted(p.name[len("captions_"):-len(".json")] for p in (root / "annotations").glob("captions_*.json"))
        fix = f"pass split= one of {', '.join(available)}" if available else "pass the COCO root, which holds annotations/captions_<split>.json"
        log.fatal(annotation_file, "caption file not found", fix)
    image_dir = _image_folder(root, split, log)

    data = _load_json(annotation_file, log)
    images, annotations = data.get("images"), data.get("annotations")
    if not isinstance(images, list) or not isinstance(annotations, list):
        log.fatal(annotation_file, "expected a JSON object with the lists 'images' and 'annotations'", "use a COCO captions file (captions_<split>.json)")

    fix_entry = "correct or remove the entry"
    file_names: dict[int, tuple[str, int]] = {}  # image id -> (file_name, index in images[])
    for index, image in enumerate(images):
        where = f"images[{index}]"
        if not isinstance(image, dict) or not _is_int(image.get("id")) or not isinstance(image.get("file_name"), str) or not image["file_name"]:
            log.add(annotation_file, "an image entry needs an integer 'id' and a non-empty 'file_name'", fix_entry, where)
            continue
        if image["id"] in file_names:
            log.add(annotation_file, f"duplicate image id {image['id']}", "give every image its own id", where)
            continue
        file_names[image["id"]] = (image["file_name"], index)

    records: list[CaptionRecord] = []
    used: dict[int, Path] = {}
    for index, annotation in enumerate(annotations):
        where = f"annotations[{index}]"
        if not isinstance(annotation, dict) or "image_id" not in annotation or "caption" not in annotation:
            log.add(annotation_file, "a caption entry needs 'image_id' and 'caption'", fix_entry, where)
            continue
        caption, image_id = annotation["caption"], annotation["image_id"]
        if not isinstance(caption, str) or not caption.strip():
            log.add(annotation_file, f"caption is {caption!r}; it must be non-empty text", fix_entry, where)
            continue
        if image_id not in file_names:
            log.add(annotation_file, f"image_id {image_id!r} is not in 'images'", "add the image to 'images' or remove the caption", where)
            continue
        path = image_dir / file_names[image_id][0]
        used[image_id] = path
        records.append(CaptionRecord(path, caption.strip()))
    if not annotations:
        log.add(annotation_file, "no captions ('annotations' is empty)", "use a captions file that holds captions")

    # One problem per missing image (not per caption), pointing at its entry in images[].
    for image_id, path in used.items():
        if not path.is_file():
            log.add(annotation_file, f"captions refer to image {path} which is not there", f"put the image in {image_dir} or remove its entry and captions", f"images[{file_names[image_id][1]}]")
    if verify_images:
        verify_decodable([p for p in used.values() if p.is_file()], log)
    read_scene_records(root / f"scenes_{split}.jsonl", "file_name", log)  # validated when present
    log.raise_if_any()
    return records


def read_coco_scenes(root: Path, split: str) -> dict[str, dict[str, Any]] | None:
    """Scene graphs (truth) of a synthetic COCO-format world by file_name; None for real COCO."""
    log = ProblemLog(Path(root))
    scenes = read_scene_records(Path(root) / f"scenes_{split}.jsonl", "file_name", log)
    log.raise_if_any()
    return scenes


def read_captions_jsonl(path: Path, verify_images: bool = False) -> list[CaptionRecord]:
    """Captions of a ``{"image": path, "caption": text}`` JSON-lines file, in file order."""
    path = Path(path)
    log = ProblemLog(path)
    records = []
    for number, image, caption in parse_captions_jsonl(path, log):
        image_path = Path(image) if Path(image).is_absolute() else path.parent / image
        if not image_path.is_file():
            log.add(path, f"caption refers to image {image_path} which is not there", "add the image or remove the line (relative paths are relative to the file's folder)", f"line {number}")
            continue
        records.append(CaptionRecord(image_path, caption))
    if verify_images:
        verify_decodable(sorted({r.image for r in records}), log)
    log.raise_if_any()
    return records


def parse_captions_jsonl(path: Path, log: ProblemLog) -> list[tuple[int, str, str]]:
    """(line number, image field, caption) of every well-formed line; malformed lines go to `log`."""
    if not path.is_file():
        log.fatal(path, "caption file not found", 'pass a JSON-lines file of {"image": path, "caption": text} objects')
    rows = []
    fix = 'write each line as {"image": "<path>", "caption": "<text>"}'
    for number, row in iter_json_lines(path, log, fix):
        where = f"line {number}"
        if not isinstance(row, dict) or not isinstance(row.get("image"), str) or not isinstance(row.get("caption"), str):
            log.add(path, "a line needs the text fields 'image' and 'caption'", fix, where)
            continue
        if not row["caption"].strip() or not row["image"].strip():
            log.add(path, "empty 'image' or 'caption'", fix, where)
            continue
        rows.append((number, row["image"], row["caption"].strip()))
    if not rows and not log.problems:
        log.fatal(path, "no captions in the file", fix)
    return rows


def _image_folder(root: Path, split: str, log: ProblemLog) -> Path:
    # COCO's own zips unpack to root/<split>/; some mirrors use root/images/<split>/.
    for folder in (root / split, root / "images" / split):
        if folder.is_dir():
            return folder
    log.fatal(root / split, f"image folder of split '{split}' not found (also looked for {root / 'images' / split})", f"unpack the {split} images into {root / split}")


def _load_json(path: Path, log: ProblemLog) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        log.fatal(path, f"not valid JSON ({error})", "restore the file (a truncated download?)")
    if not isinstance(data, dict):
        log.fatal(path, "expected a JSON object", "use a COCO captions file (captions_<split>.json)")
    return data


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _captions_summary(records: list) -> str:
    per_image = Counter(record.image for record in records)
    return f"{len(records)} captions of {len(per_image)} images"


def _coco_splits(root: Path) -> list[str]:
    return sorted(p.name[len("captions_"):-len(".json")] for p in (root / "annotations").glob("captions_*.json")) or ["train2017"]


def _coco_source(root: Path, split: str) -> CaptionedSource:
    annotation = root / "annotations" / f"captions_{split}.json"
    records = read_coco_captions(root, split)
    identity = {"source": "coco", "annotations": str(annotation), "annotations_hash": hash_file(annotation)}
    return CaptionedSource(records, read_coco_scenes(root, split), identity, f"COCO-format captions {annotation}", root)


def _jsonl_path(root: Path) -> Path:
    return root if root.is_file() else root / "captions.jsonl"


def _jsonl_source(root: Path, split: str) -> CaptionedSource:
    records = read_captions_jsonl(root)
    identity = {"source": "captions_jsonl", "file": str(root), "hash": hash_file(root)}
    return CaptionedSource(records, None, identity, f"captioned images of {root}", root.parent)


DATASET_FORMATS.add(DatasetFormat(
    name="coco_captions",
    description="a COCO root (annotations/captions_<split>.json)",
    looks_like=lambda root: Path(root).is_dir() and any((Path(root) / "annotations").glob("captions_*.json")),
    check_readers=lambda root: [(f"coco_captions split {split}", lambda split=split: _captions_summary(read_coco_captions(Path(root), split, verify_images=True)))
                                for split in _coco_splits(Path(root))],
    priority=30,
    source="coco",
    captioned=_coco_source,
))

DATASET_FORMATS.add(DatasetFormat(
    name="captions_jsonl",
    description="a captions.jsonl ({\"image\", \"caption\"} per line), or a folder holding one",
    looks_like=lambda root: (Path(root).is_file() and Path(root).suffix == ".jsonl") or (Path(root) / "captions.jsonl").is_file(),
    check_readers=lambda root: [("captions_jsonl", lambda: _captions_summary(read_captions_jsonl(_jsonl_path(Path(root)), verify_images=True)))],
    priority=40,
    source="captions_jsonl",
    captioned=_jsonl_source,
))
