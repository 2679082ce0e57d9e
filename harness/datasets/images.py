"""Image files as the dataset readers see them: which names count as images, and opening them safely.

ImageNet (and so the Background Challenge) ships ``.JPEG``, Waterbirds and COCO ship ``.jpg``, and the
synthetic worlds write lossless ``.png``; extensions are compared case-insensitively, as torchvision's
ImageFolder does. Opening an image only reads its header, so a truncated file is found by decoding it
in full (`decode_problem`), which `texplain data check` does for every image.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from harness.datasets.problems import Problem, format_problems
from texplain.errors import DatasetError, InputFileError

IMAGE_EXTENSIONS: tuple[str, ...] = (".jpeg", ".jpg", ".png")

_FIX_BAD_IMAGE = "replace the file with an intact copy (re-download or re-export it) or remove it from the dataset"


def is_image_file(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_EXTENSIONS


def is_hidden(path: Path) -> bool:
    # .DS_Store, ._AppleDouble files and .ipynb_checkpoints are never data.
    return path.name.startswith(".")


def decode_problem(path: Path) -> str | None:
    """What is wrong with the image at `path` after decoding every pixel, or None when it is fine."""
    try:
        with Image.open(path) as image:
            image.load()
    except FileNotFoundError:
        return "image file is missing"
    except UnidentifiedImageError:
        return "not a readable image (unknown or corrupt format)"
    except (OSError, SyntaxError, ValueError) as error:
        # PIL reports a cut-off file as "image file is truncated" or "broken data stream".
        return f"image cannot be decoded ({error}); the file is probably truncated"
    return None


def image_file_problem(path: Path) -> str | None:
    """What stops `path` from being read as an image (missing, a folder, unreadable, undecodable), or None."""
    path = Path(path)
    if not path.exists():
        return "no such file"
    if path.is_dir():
        return "is a folder, not an image file"
    if not os.access(path, os.R_OK):
        return "not readable (permission denied)"
    return decode_problem(path)


def check_image_files(paths: list[Path]) -> None:
    """Before any work on a user's images: one InputFileError listing every path that cannot be read
    as an image and why, as `texplain data check` lists every problem (instead of stopping at the
    first bad file after minutes of model loading)."""
    bad = [(Path(path), problem) for path in paths if (problem := image_file_problem(path)) is not None]
    if not bad:
        return
    lines = [f"{len(bad)} of {len(paths)} image file(s) cannot be read; nothing was loaded or explained:"]
    lines += [f"  {path}: {problem}" for path, problem in bad]
    lines.append(f"Fix: correct the paths, or replace each file with an intact {'/'.join(e.lstrip('.').upper() for e in IMAGE_EXTENSIONS)} image, or leave it out")
    raise InputFileError("\n".join(lines))


def load_image(path: Path, where: str | None = None) -> Image.Image:
    """The image at `path` as RGB, decoded in full; a `DatasetError` naming the file when it is bad."""
    path = Path(path)
    problem = decode_problem(path)
    if problem is not None:
        fix = _FIX_BAD_IMAGE if path.exists() else "restore the file or remove its entry from the dataset"
        raise DatasetError(format_problems(path, [Problem(path, problem, fix, where)]))
    with Image.open(path) as image:
        return image.convert("RGB")


def read_image_size(path: Path) -> tuple[int, int] | None:
    """(height, width) from the header only, or None when the file cannot be opened."""
    try:
        with Image.open(path) as image:
            width, height = image.size
    except (OSError, UnidentifiedImageError, SyntaxError, ValueError):
        return None
    return height, width


def load_binary_mask(path: Path) -> tuple[np.ndarray | None, str | None]:
    """A 2-D 0/1 mask from a .npy file as uint8, or (None, what is wrong with the file)."""
    try:
        array = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        return None, "mask file is missing"
    except (OSError, ValueError, EOFError) as error:
        return None, f"not a readable .npy array ({error})"
    if array.ndim != 2:
        return None, f"mask has shape {array.shape}; a foreground mask is a 2-D (height, width) array"
    if array.size and not np.isin(array, (0, 1)).all():
        values = np.unique(array)[:6].tolist()
        return None, f"mask holds values {values}...; a foreground mask holds only 0 and 1"
    return array.astype(np.uint8), None


def load_mask_for(mask_path: Path, image_path: Path) -> tuple[np.ndarray | None, str | None]:
    """`load_binary_mask`, also checking that the mask has the (height, width) of its image."""
    mask, problem = load_binary_mask(mask_path)
    if mask is not None:
        size = read_image_size(image_path)
        if size is not None and mask.shape != size:
            return None, f"mask has shape {mask.shape} but its image {image_path} is {size[0]}x{size[1]} (height x width)"
    return mask, problem
