"""Helpers for the world tests: file digests, and reading a scene's background back from its pixels."""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path

import numpy as np
from PIL import Image

from harness.worlds.rendering import render_background
from harness.worlds.scene import scene_with
from harness.worlds.vocabulary import BACKGROUNDS


def digests(root: Path) -> dict[str, str]:
    """sha256 of every file under `root`, by relative path."""
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(Path(root).rglob("*"))
        if p.is_file()
    }


def read_rgb(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))  # (H, W, 3)


@cache
def _centroids(image_size: int) -> dict[str, np.ndarray]:
    # Mean colour of each background, from backgrounds rendered here with seeds no world uses, so the
    # check does not learn from the files it checks.
    return {
        background: np.mean(
            [np.asarray(render_background(scene_with("probe", "boat", background, (987, k)), image_size)).reshape(-1, 3).mean(0) for k in range(12)],
            axis=0,
        )
        for background in BACKGROUNDS
    }


def background_from_pixels(pixels: np.ndarray, mask: np.ndarray, candidates: tuple[str, ...]) -> str:
    """The candidate background whose mean colour is nearest to the image's outside the object mask."""
    mean = pixels[~mask.astype(bool)].astype(np.float64).mean(axis=0)  # (3,)
    centroids = _centroids(pixels.shape[0])
    return min(candidates, key=lambda b: float(np.linalg.norm(mean - centroids[b])))
