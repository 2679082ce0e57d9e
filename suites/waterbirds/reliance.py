"""A model's reliance on the place, measured by behaviour: the flip rate under place swaps.

Waterbirds (Sagawa et al., ICLR 2020) plants a class-place correlation; whether a trained classifier
*uses* it is the truth every shortcut explanation should be judged against, and real Waterbirds cannot
give it per image. A synthetic world can (harness/worlds/place_swap.py): it renders each test image
again with only the background changed to the other place family (land <-> water), the object's pixels
identical inside its exact mask, as in the Background Challenge's mixed-rand/mixed-same (Xiao et al.,
"Noise or Signal: The Role of Image Backgrounds in Object Recognition", ICLR 2021) but without pasting.
An image *flips* when the model's prediction on the counterfactual differs from its prediction on the
original. The flip rate is the share of images that flip: 0 for a model that reads the object only, near
1 for one that reads the place only. Which images flip says which predictions the place decides.

Per group (the original's 2*y + place, group DRO's order): a model that learned "water means waterbird"
flips the majority groups' images (a waterbird on water, moved to land) from right to wrong, and the
minority groups' (a waterbird on land, moved to water) from wrong to right.

Intervals: a 95% bootstrap over images of the mean flip (contracts/intervals.py mean_interval, BCa),
overall and per group. They cover the test images' sampling, not the model's training noise (seeds).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from contracts.intervals import Interval, mean_interval
from harness.datasets.waterbirds import WaterbirdsImage
from suites.waterbirds.data import ImageSet
from suites.waterbirds.group_metrics import GROUP_KEYS
from suites.waterbirds.training import predict


@dataclass(frozen=True)
class FlipRate:
    """The share of images whose prediction flips under a place swap, over `n` images, with its interval."""

    rate: float
    n: int
    interval: Interval | None  # None for fewer than two images (no spread over images)

    def to_json(self) -> dict:
        return {"rate": self.rate, "n": self.n, "interval": None if self.interval is None else self.interval.to_json()}


@dataclass(frozen=True)
class Reliance:
    """One model's place swaps on one split: per-image records, the flip rate overall and per group."""

    records: list[dict]  # {image_id, group, label, pred_original, pred_swapped, flipped}, in row order
    overall: FlipRate
    per_group: dict[str, FlipRate]  # GROUP_KEYS name -> its flip rate; groups without images are absent

    def to_json(self) -> dict:
        return {"records": self.records, "overall": self.overall.to_json(), "per_group": {k: v.to_json() for k, v in self.per_group.items()}}


def flip_rate(flipped) -> FlipRate:
    """The flip rate of per-image flips (0/1 or fractions, e.g. a mean over seeds), with its bootstrap interval."""
    values = np.asarray(flipped, dtype=np.float64)
    if values.ndim != 1 or values.size == 0:
        raise ValueError(f"flips must be a non-empty list of per-image values, got shape {values.shape}")
    return FlipRate(float(values.mean()), int(values.size), mean_interval(values))


def reliance_of(image_ids: list[str], labels, groups, pred_original, pred_swapped) -> Reliance:
    """The Reliance of one model from its predictions on the original images and on their counterfactuals.

    image_ids, labels (y), groups (2*y + place of the original) and both predictions: one per image, in the
    same order; predictions are class indices.
    """
    labels, groups, original, swapped = (np.asarray(a, dtype=np.int64) for a in (labels, groups, pred_original, pred_swapped))
    shapes = {a.shape for a in (labels, groups, original, swapped)}
    if shapes != {(len(image_ids),)} or not image_ids:
        raise ValueError(f"need one label, group and prediction per image ({len(image_ids)} images), got shapes {sorted(shapes)}")
    if groups.min() < 0 or groups.max() >= len(GROUP_KEYS):
        raise ValueError(f"group ids must be in 0..{len(GROUP_KEYS) - 1} (2*y + place)")
    flips = original != swapped  # (n,)
    records = [
        {"image_id": i, "group": int(g), "label": int(y), "pred_original": int(o), "pred_swapped": int(s), "flipped": bool(f)}
        for i, g, y, o, s, f in zip(image_ids, groups, labels, original, swapped, flips)
    ]
    per_group = {key: flip_rate(flips[groups == g]) for g, key in enumerate(GROUP_KEYS) if (groups == g).any()}
    return Reliance(records, flip_rate(flips), per_group)


def swapped_rows(rows: list[WaterbirdsImage], paths: list[Path]) -> list[WaterbirdsImage]:
    """`rows` pointing at their counterfactual images (same ids, labels and groups: those of the originals)."""
    if len(rows) != len(paths):
        raise ValueError(f"{len(rows)} rows but {len(paths)} counterfactual images")
    return [dataclasses.replace(row, path=Path(path), captions=()) for row, path in zip(rows, paths)]


def measure_reliance(model: torch.nn.Module, originals: ImageSet, swapped: ImageSet, batch_size: int, device: torch.device,
                     precision: str = "fp32") -> Reliance:
    """Predict with `model` on the original images and on their place swaps (the same rows, in the same
    order, seen through the same classifier view) and return its Reliance."""
    ids = [row.img_id for row in originals.rows]
    if ids != [row.img_id for row in swapped.rows]:
        raise ValueError("originals and counterfactuals must list the same images in the same order (pair them with swapped_rows)")
    pred_original = predict(model, originals, batch_size, device, precision)  # (n,)
    pred_swapped = predict(model, swapped, batch_size, device, precision)  # (n,)
    rows = originals.rows
    # Ids as the suite's records name test images.
    return reliance_of([f"{row.split}/{row.img_id}" for row in rows], [row.y for row in rows], [row.group for row in rows], pred_original, pred_swapped)


# --------------------------------------------------------------------------------------------------------
# In the suite's records: one "place_swap" entry per test image, and what metrics.json's details say of them
# --------------------------------------------------------------------------------------------------------

MODELS: tuple[str, ...] = ("erm", "balanced")  # the suite's models with place swaps: ERM per seed, the balanced model at seed 0


def metric_name(model: str, group: int | None = None) -> str:
    """``reliance.flip_rate.<model>`` and, per group of the original image, ``reliance.flip_rate.<model>.<group key>``."""
    return f"reliance.flip_rate.{model}" if group is None else f"reliance.flip_rate.{model}.{GROUP_KEYS[group]}"


def swap_record(background: str, group: int, runs: dict[str, list[tuple[int, int]]]) -> tuple[dict, dict[str, float]]:
    """One test image's "place_swap" record entry and its per-image metrics.

    background: its counterfactual's background; runs: model -> per seed, (prediction on the original, on
    the counterfactual). A per-image value is the share of the model's seeds under which the image flips, so
    the mean over images of it is the mean over seeds of each seed's flip rate (every seed sees every image).
    """
    entry: dict = {"background": background}
    values: dict[str, float] = {}
    for model, pairs in runs.items():
        flipped = [int(o) != int(s) for o, s in pairs]
        entry[model] = {"pred_original": [int(o) for o, _ in pairs], "pred_swapped": [int(s) for _, s in pairs], "flipped": flipped}
        values[metric_name(model)] = values[metric_name(model, group)] = float(np.mean(flipped))
    return entry, values


def reliance_details(records: list[dict]) -> dict | None:
    """The place swaps of the suite's test records (their "place_swap" entries), for metrics.json's details:
    per model the flip rate over seeds with its interval over images (overall and per group), each seed's own,
    and ERM's seed 0 against the balanced model paired by image. None when no record has place swaps."""
    test = [r for r in records if r.get("split") == "test" and "place_swap" in r]
    if not test:
        return None
    ids = [r["image_id"] for r in test]
    labels = [r["y"] for r in test]
    groups = np.array([r["group"] for r in test])
    backgrounds: dict[str, int] = {}
    for r in test:
        backgrounds[r["place_swap"]["background"]] = backgrounds.get(r["place_swap"]["background"], 0) + 1
    details: dict = {"images": len(test), "counterfactual_backgrounds": dict(sorted(backgrounds.items())), "models": {}}
    for model in (m for m in MODELS if m in test[0]["place_swap"]):
        runs = [r["place_swap"][model] for r in test]
        seeds = len(runs[0]["flipped"])
        pooled = np.array([np.mean(run["flipped"]) for run in runs])  # (n,): each image's share of seeds that flip it
        per_seed = [reliance_of(ids, labels, groups, [run["pred_original"][s] for run in runs], [run["pred_swapped"][s] for run in runs])
                    for s in range(seeds)]
        details["models"][model] = {
            "seeds": seeds,
            "flip_rate": flip_rate(pooled).to_json(),
            "per_group": {key: flip_rate(pooled[groups == g]).to_json() for g, key in enumerate(GROUP_KEYS) if (groups == g).any()},
            "per_seed": [{"flip_rate": r.overall.rate, "per_group": {k: v.rate for k, v in r.per_group.items()}} for r in per_seed],
        }
    if all(m in details["models"] for m in MODELS):
        # Paired by image on the same counterfactuals: the balanced model exists at seed 0 only.
        erm = np.array([r["place_swap"]["erm"]["flipped"][0] for r in test], dtype=np.float64)
        balanced = np.array([r["place_swap"]["balanced"]["flipped"][0] for r in test], dtype=np.float64)
        interval = mean_interval(erm - balanced)
        details["erm_minus_balanced_seed0"] = {
            "difference": float((erm - balanced).mean()), "interval": None if interval is None else interval.to_json(),
            "flip_erm_only": int(((erm == 1) & (balanced == 0)).sum()), "flip_balanced_only": int(((erm == 0) & (balanced == 1)).sum()),
        }
    return details
