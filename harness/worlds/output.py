"""Writing a world's folder: checking its spec, claiming the folder, deterministic files, the done marker.

A world folder is finished when ``world.json`` (format, generator and spec) exists: it is written last.
Asking again for the same world in the same folder returns at once; a different world there, or a
non-empty folder that is no world, is an error rather than a silent overwrite. Images are PNG with
fixed parameters and no metadata, so the same spec gives byte-identical files (as in make_world).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from texplain.errors import DatasetError, TExplainError

WORLD_FILE = "world.json"
# Hidden, so readers skip it; holds the spec while a world is being written so a rerun may finish it.
_IN_PROGRESS = ".world-in-progress.json"


class WorldSpecError(TExplainError, ValueError):
    """A world spec (or its command-line options) that cannot describe a world."""


def check_words(name: str, values: tuple[str, ...], known: tuple[str, ...], minimum: int = 1) -> None:
    # Only known words have a renderer and caption phrases.
    if len(values) < minimum:
        raise WorldSpecError(f"{name} needs at least {minimum} entr{'y' if minimum == 1 else 'ies'}, got {list(values)}")
    unknown = [v for v in values if v not in known]
    if unknown:
        raise WorldSpecError(f"{name} has unknown entries {unknown}; choose from {', '.join(known)}")
    if len(set(values)) != len(values):
        raise WorldSpecError(f"{name} has duplicates: {list(values)}")


def check_common(spec: Any) -> None:
    """Checks shared by every world spec: image size, seed, distractor probability."""
    if spec.image_size < 32:
        raise WorldSpecError(f"image_size must be >= 32 pixels, got {spec.image_size}")
    if spec.seed < 0:
        raise WorldSpecError(f"seed must be >= 0, got {spec.seed}")
    if not 0.0 <= spec.distractor_prob <= 1.0:
        raise WorldSpecError(f"distractor_prob must be in [0, 1], got {spec.distractor_prob}")


def check_correlation(name: str, value: float | None, num_backgrounds: int) -> None:
    if value is None:
        return
    if not 0.0 <= value <= 1.0:
        raise WorldSpecError(f"{name} must be in [0, 1] or None (balanced), got {value}")
    if value < 1.0 and num_backgrounds < 2:
        raise WorldSpecError(f"{name} < 1 needs at least two backgrounds to draw the non-preferred ones from")


def check_count(name: str, value: int, minimum: int) -> None:
    if value < minimum:
        raise WorldSpecError(f"{name} must be >= {minimum}, got {value}")



def claim_world_dir(out_dir: Path, description: dict[str, Any]) -> bool:
    """Prepare `out_dir` for the world of `description`; True when that world is already there, finished."""
    out_dir = Path(out_dir)
    text = json.dumps(description, indent=2, sort_keys=True) + "\n"
    world_file = out_dir / WORLD_FILE
    if world_file.is_file():
        if world_file.read_text() == text:
            return True
        raise DatasetError(f"{world_file} describes a different world. Fix: pick another --out folder or delete {out_dir}")
    marker = out_dir / _IN_PROGRESS
    # A non-empty folder is only taken over when it is this very world, interrupted while being written.
    resuming = marker.is_file() and marker.read_text() == text
    if out_dir.is_dir() and any(out_dir.iterdir()) and not resuming:
        raise DatasetError(f"{out_dir} is not empty and holds no world. Fix: pick an empty or new --out folder")
    out_dir.mkdir(parents=True, exist_ok=True)
    marker.write_text(text)
    return False


def finish_world_dir(out_dir: Path, description: dict[str, Any]) -> None:
    """Write world.json (the done marker) last."""
    out_dir = Path(out_dir)
    (out_dir / WORLD_FILE).write_text(json.dumps(description, indent=2, sort_keys=True) + "\n")
    (out_dir / _IN_PROGRESS).unlink(missing_ok=True)


def save_png(pixels: np.ndarray | Image.Image, path: Path) -> None:
    """Lossless PNG with fixed parameters: the bytes depend on the pixels only."""
    image = pixels if isinstance(pixels, Image.Image) else Image.fromarray(np.ascontiguousarray(pixels), "RGB")
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, format="PNG", compress_level=6, optimize=False)


def save_mask(mask: np.ndarray, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, mask.astype(np.uint8))  # (H, W) 0/1


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(row, sort_keys=True) + "\n" for row in rows))


def tuple_fields(spec: Any, *names: str) -> None:
    """Store list-valued fields of a frozen spec as tuples (hashable, and equal after a JSON round trip)."""
    for name in names:
        object.__setattr__(spec, name, tuple(getattr(spec, name)))
