"""The four methods of TExplain's Table 2 on one training protocol, as masks over the training images
(TExplain Section 4.4; MaskTune, Asgari et al., NeurIPS 2022). Every masked model starts from the last ERM
checkpoint and is fine-tuned on its masked images only (training.py); ERM itself is not fine-tuned.

- ``erm``: the best ERM checkpoint (by validation accuracy), unmasked.
- ``texplain_class_cam`` / ``texplain_word_cam``: the images selected by their explanation (selection.py),
  masked where the localizer (localizers.py) of the best ERM checkpoint points, MaskTune's threshold.
- ``masktune``: every training image masked by the best ERM checkpoint's GradCAM of its argmax class.
- ``randmask``: not in MaskTune's code for Waterbirds, so defined here: a random subset of the training
  images, as many as TExplain selected, each masked by a random rectangle of exactly the pixel area of a
  matched TExplain (class_cam) mask (paired at random).
- ``randmask_all``: every training image with such a rectangle, its area that of a TExplain mask drawn at
  random (the paper's Table 2 lists RandMask with 100% masked samples, its text "as many as TExplain": both
  are reported, labelled).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from suites.waterbirds.masks import ViewGeometry, mask_to_original, masktune_threshold, random_rectangle_mask

METHODS: tuple[str, ...] = ("erm", "texplain_class_cam", "texplain_word_cam", "masktune", "randmask", "randmask_all")
MASKED_METHODS: tuple[str, ...] = METHODS[1:]
LABELS: dict[str, str] = {
    "erm": "ERM",
    "texplain_class_cam": "TExplain (class_cam: GradCAM of the predicted class)",
    "texplain_word_cam": "TExplain (word_cam: GradCAM of the word's LM log-likelihood)",
    "masktune": "MaskTune",
    "randmask": "RandMask (as many images as TExplain selected)",
    "randmask_all": "RandMask (all images)",
}
LOCALIZER_OF: dict[str, str] = {"texplain_class_cam": "class_cam", "texplain_word_cam": "word_cam"}


def heatmap_masks(heatmaps: np.ndarray, geometries: list[ViewGeometry], num_std: float) -> list[np.ndarray]:
    """MaskTune's thresholded masks of (N, S, S) heatmaps, each mapped back to its original image's pixels."""
    return [mask_to_original(masktune_threshold(h, num_std), g) for h, g in zip(heatmaps, geometries)]


def randmask_masks(shapes: list[tuple[int, int]], reference_areas: list[int], all_images: bool, rng: np.random.Generator) -> dict[int, np.ndarray]:
    """Random rectangles: training index -> mask. shapes: (H, W) of every training image; reference_areas:
    the pixel counts of the TExplain masks to match (none: nothing to match, nothing masked)."""
    if not reference_areas:
        return {}
    if all_images:
        indices = list(range(len(shapes)))
        areas = [int(a) for a in rng.choice(np.asarray(reference_areas), size=len(indices), replace=True)]
    else:
        indices = sorted(int(i) for i in rng.choice(len(shapes), size=min(len(reference_areas), len(shapes)), replace=False))
        areas = [int(a) for a in rng.permutation(np.asarray(reference_areas))[: len(indices)]]
    # An area larger than a (smaller) image is clipped to the whole image.
    return {i: random_rectangle_mask(shapes[i], min(a, shapes[i][0] * shapes[i][1]), rng) for i, a in zip(indices, areas)}


def save_masks(path: Path, masks: dict[int, np.ndarray]) -> None:
    np.savez_compressed(path, **{f"m{index}": mask for index, mask in masks.items()})


def load_masks(path: Path) -> dict[int, np.ndarray]:
    with np.load(path) as stored:
        return {int(key[1:]): stored[key].astype(bool) for key in stored.files}
