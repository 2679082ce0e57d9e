"""Masks for the Waterbirds mitigation (TExplain Section 4.4; MaskTune, Asgari et al., NeurIPS 2022).

- The threshold is MaskTune's (its ``mask_heatmap_using_threshold``): a heatmap in [0, 1] at the
  classifier's input size is masked where it exceeds mean + 2 std of its *strictly positive* pixels.
- Masked pixels are set to black in the *original* image. The heatmap lives in the classifier's view
  of the image (short side resized to image_size / crop_pct, then a centre crop of image_size), so the
  mask goes back through both: placed at the crop's offset in the resized frame, then resized to the
  original size (nearest). MaskTune's code resizes the crop straight to the original size and so
  ignores the crop offset; we do not copy that.
- RandMask (not in MaskTune's code for Waterbirds; defined here): a random rectangle of exactly the
  pixel area of a matched TExplain mask, at a uniformly random place.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image


@dataclass(frozen=True)
class ViewGeometry:
    """How an original image became the classifier's input: resize, then centre crop."""

    original: tuple[int, int]  # (H, W) of the original image
    resized: tuple[int, int]  # (h, w) after resizing the short side
    crop_top: int
    crop_left: int
    crop_size: int

    def to_json(self) -> dict:
        return {"original": list(self.original), "resized": list(self.resized), "crop_top": self.crop_top,
                "crop_left": self.crop_left, "crop_size": self.crop_size}


def view_geometry(original: tuple[int, int], image_size: int, crop_pct: float) -> ViewGeometry:
    """timm's eval view: the short side resized to floor(image_size / crop_pct), a centre crop of image_size."""
    height, width = original
    short = math.floor(image_size / crop_pct)
    if height <= width:
        resized = (short, max(short, round(width * short / height)))
    else:
        resized = (max(short, round(height * short / width)), short)
    # Centre crop as torchvision rounds it.
    top = int(round((resized[0] - image_size) / 2.0))
    left = int(round((resized[1] - image_size) / 2.0))
    return ViewGeometry((height, width), resized, top, left, image_size)


def classifier_view(image: Image.Image, geometry: ViewGeometry) -> Image.Image:
    """The crop the classifier sees (bicubic resize, as timm's default eval transform)."""
    resized = image.resize((geometry.resized[1], geometry.resized[0]), Image.BICUBIC)
    box = (geometry.crop_left, geometry.crop_top, geometry.crop_left + geometry.crop_size, geometry.crop_top + geometry.crop_size)
    return resized.crop(box)


def masktune_threshold(heatmap: np.ndarray, num_std: float = 2.0) -> np.ndarray:
    """Masked pixels (True) of one heatmap (H, W): above mean + num_std * std of its strictly positive pixels.
    A heatmap without a positive pixel masks nothing."""
    heatmap = np.asarray(heatmap, dtype=np.float64)
    positive = heatmap[heatmap > 0]
    if positive.size == 0:
        return np.zeros(heatmap.shape, dtype=bool)
    threshold = positive.mean() + num_std * positive.std()
    return heatmap > threshold  # (H, W)


def mask_to_original(crop_mask: np.ndarray, geometry: ViewGeometry) -> np.ndarray:
    """A (crop, crop) mask of the classifier's input mapped back to the original (H, W) image: placed at the
    crop offset in the resized frame (outside the crop nothing is masked), then nearest-resized."""
    crop_mask = np.asarray(crop_mask, dtype=bool)
    if crop_mask.shape != (geometry.crop_size, geometry.crop_size):
        raise ValueError(f"mask of shape {crop_mask.shape} does not match the crop {geometry.crop_size}x{geometry.crop_size}")
    resized = np.zeros(geometry.resized, dtype=bool)  # (h, w)
    resized[geometry.crop_top : geometry.crop_top + geometry.crop_size, geometry.crop_left : geometry.crop_left + geometry.crop_size] = crop_mask
    height, width = geometry.original
    # Nearest neighbour by pixel centres: original pixel i samples resized row floor((i + 0.5) * h / H).
    rows = np.minimum(((np.arange(height) + 0.5) * geometry.resized[0] / height).astype(np.int64), geometry.resized[0] - 1)
    cols = np.minimum(((np.arange(width) + 0.5) * geometry.resized[1] / width).astype(np.int64), geometry.resized[1] - 1)
    return resized[rows[:, None], cols[None, :]]  # (H, W)


def apply_mask(image: Image.Image, mask: np.ndarray) -> Image.Image:
    """The image with its masked pixels set to black (MaskTune multiplies the RGB by the 0/1 mask)."""
    pixels = np.array(image.convert("RGB"))  # (H, W, 3) uint8
    if pixels.shape[:2] != mask.shape:
        raise ValueError(f"mask of shape {mask.shape} does not match the image {pixels.shape[:2]}")
    pixels[mask] = 0
    return Image.fromarray(pixels)


def random_rectangle_mask(shape: tuple[int, int], area: int, rng: np.random.Generator) -> np.ndarray:
    """A mask of exactly `area` pixels forming a rectangle (its last column partly filled), with an aspect
    ratio drawn log-uniformly in [1/2, 2] and a uniformly random position (RandMask)."""
    height, width = shape
    if not 0 <= area <= height * width:
        raise ValueError(f"area {area} does not fit an image of {height}x{width}")
    mask = np.zeros(shape, dtype=bool)
    if area == 0:
        return mask
    ratio = float(np.exp(rng.uniform(np.log(0.5), np.log(2.0))))
    rect_h = int(min(height, max(1, round(math.sqrt(area * ratio)))))
    rect_w = int(min(width, max(1, math.ceil(area / rect_h))))
    rect_h = int(min(height, max(rect_h, math.ceil(area / rect_w))))  # clipping the width may need more rows
    top = int(rng.integers(0, height - rect_h + 1))
    left = int(rng.integers(0, width - rect_w + 1))
    # Fill column by column and stop at `area` pixels, so the count is exact.
    block = np.zeros(rect_h * rect_w, dtype=bool)
    block[:area] = True
    mask[top : top + rect_h, left : left + rect_w] = block.reshape(rect_w, rect_h).T
    return mask

