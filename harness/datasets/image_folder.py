"""Reader for an image folder with one sub-folder per class, for explaining a user's own images.

The layout is torchvision's ImageFolder: ``root/<class>/<image>`` (images may sit in nested folders
below their class folder); classes are the sub-folder names in sorted order and an image's label is
its class's index in that order. The Background Challenge reader uses the same scan for each
``<variation>/<split>`` folder, so both agree on labels.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from contracts.dataset_formats import DATASET_FORMATS, DatasetFormat
from harness.datasets.images import (
    IMAGE_EXTENSIONS,
    decode_problem,
    is_hidden,
    is_image_file,
)
from harness.datasets.problems import ProblemLog

_EXTENSIONS = "/".join(IMAGE_EXTENSIONS)


@dataclass(frozen=True)
class FolderImage:
    path: Path
    label: int
    class_name: str


@dataclass(frozen=True)
class ImageFolder:
    root: Path
    classes: tuple[str, ...]  # sorted sub-folder names; label i is classes[i]
    items: tuple[FolderImage, ...]  # sorted by (class, path)


def scan_class_folders(folder: Path, log: ProblemLog) -> tuple[tuple[str, ...], list[FolderImage]]:
    """Classes and images of `folder`; bad entries go to `log`. No class folder at all is fatal."""
    folder = Path(folder)
    if not folder.is_dir():
        log.fatal(folder, "folder not found", "pass the folder that holds one sub-folder per class")
    entries = sorted(p for p in folder.iterdir() if not is_hidden(p))
    classes = tuple(p.name for p in entries if p.is_dir())
    loose = [p for p in entries if p.is_file() and is_image_file(p)]
    if loose:
        log.add(
            folder,
            f"{len(loose)} image(s) lie directly in the folder instead of in a class sub-folder (e.g. {loose[0].name})",
            "move each image into a sub-folder named after its class (or explain single images with `texplain explain`)",
        )
    if not classes:
        log.fatal(folder, "no class sub-folders", f"put the images in one sub-folder per class: {folder}/<class>/<image>{IMAGE_EXTENSIONS[0]}")

    items: list[FolderImage] = []
    for label, name in enumerate(classes):
        class_dir = folder / name
        found = 0
        for path in sorted(class_dir.rglob("*")):
            # Skip folders themselves and anything hidden at any depth (.DS_Store, .ipynb_checkpoints/...).
            if path.is_dir() or any(part.startswith(".") for part in path.relative_to(class_dir).parts):
                continue
            if not is_image_file(path):
                log.add(path, f"'{path.suffix}' is not an image extension ({_EXTENSIONS})", "convert the file to PNG or JPEG, or move it out of the class folder")
                continue
            items.append(FolderImage(path=path, label=label, class_name=name))
            found += 1
        if found == 0:
            log.add(
                class_dir,
                f"class folder '{name}' holds no images ({_EXTENSIONS})",
                "add its images or delete the folder (an empty folder still takes a label index and shifts the labels after it)",
            )
    return classes, items


def verify_decodable(paths: list[Path], log: ProblemLog) -> None:
    """Decode every image in full and log the ones that fail (truncated, corrupt, missing)."""
    for path in paths:
        problem = decode_problem(path)
        if problem is not None:
            log.add(path, problem, "replace the file with an intact copy or remove it")


def read_image_folder(root: Path, verify_images: bool = False) -> ImageFolder:
    """Read ``root/<class>/<image>``; `verify_images` decodes every image to find truncated ones."""
    root = Path(root)
    log = ProblemLog(root)
    classes, items = scan_class_folders(root, log)
    if verify_images:
        verify_decodable([item.path for item in items], log)
    log.raise_if_any()
    return ImageFolder(root=root, classes=classes, items=tuple(items))


def _check_summary(root: Path) -> str:
    folder = read_image_folder(root, verify_images=True)
    counts = Counter(item.class_name for item in folder.items)
    return f"{len(folder.items)} images in {len(folder.classes)} classes ({', '.join(f'{c} {counts[c]}' for c in folder.classes)})"


DATASET_FORMATS.add(DatasetFormat(
    name="image_folder",
    description="a folder with one sub-folder of images per class",
    looks_like=lambda root: Path(root).is_dir() and any(p.is_dir() and not p.name.startswith(".") for p in Path(root).iterdir()),
    check_readers=lambda root: [("image_folder", lambda: _check_summary(Path(root)))],
    priority=90,
    fallback=True,
))
