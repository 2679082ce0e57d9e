"""Group accuracies of Waterbirds (Sagawa et al., ICLR 2020) as TExplain's Table 2 and its baselines report them.

Group = 2*y + place: landbird/land, landbird/water, waterbird/land, waterbird/water (group DRO's order,
harness/datasets/waterbirds.py). Worst-group accuracy is the lowest of the four. "Average accuracy" means
three different things in the literature (docs/design.md#waterbirds-suite), so all three are computed and labelled:

- ``avg_weighted``: group accuracies weighted by the *training* split's group proportions (WILDS'
  ``adj_acc_avg``, group DRO's README: "weights corresponding to the relative proportion of each group in
  the (skewed) training dataset");
- ``avg_test``: plain accuracy over the test images (MaskTune's and DFR's "average accuracy");
- ``avg_groups``: the unweighted mean of the four group accuracies.

Over seeds: the mean and the (sample, ddof=1) standard deviation, as "x ± s" tables report them; one seed
has a spread of 0 by convention, and the table says how many seeds there were.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from harness.datasets.waterbirds import GROUP_NAMES

GROUP_KEYS: tuple[str, ...] = tuple(name.replace("/", "_") for name in GROUP_NAMES)  # metric-name-safe


@dataclass(frozen=True)
class GroupAccuracy:
    """One model's accuracies on one evaluation split."""

    per_group: tuple[float | None, ...]  # by group index; None for a group with no images
    counts: tuple[int, ...]
    worst_group: float
    avg_weighted: float
    avg_test: float
    avg_groups: float

    def to_json(self) -> dict:
        return {
            "per_group": {k: v for k, v in zip(GROUP_KEYS, self.per_group)},
            "counts": {k: v for k, v in zip(GROUP_KEYS, self.counts)},
            "worst_group": self.worst_group, "avg_weighted": self.avg_weighted,
            "avg_test": self.avg_test, "avg_groups": self.avg_groups,
        }


def group_accuracy(predictions, labels, groups, train_group_counts) -> GroupAccuracy:
    """predictions, labels, groups: (n,) ints of the evaluated split; train_group_counts: 4 counts of the
    training split (the weights of avg_weighted). Groups absent from the split are left out of the
    worst group and of both group means (their weight goes to the others)."""
    predictions, labels, groups = (np.asarray(a, dtype=np.int64) for a in (predictions, labels, groups))
    if not (predictions.shape == labels.shape == groups.shape) or predictions.ndim != 1 or predictions.size == 0:
        raise ValueError(f"predictions, labels and groups must be equal-length non-empty 1-D arrays, got {predictions.shape}, {labels.shape}, {groups.shape}")
    if groups.min() < 0 or groups.max() >= len(GROUP_NAMES):
        raise ValueError(f"group ids must be in 0..{len(GROUP_NAMES) - 1} (2*y + place)")
    correct = predictions == labels  # (n,)
    per_group, counts = [], []
    for g in range(len(GROUP_NAMES)):
        in_group = groups == g
        counts.append(int(in_group.sum()))
        per_group.append(float(correct[in_group].mean()) if in_group.any() else None)
    present = [g for g, acc in enumerate(per_group) if acc is not None]
    weights = np.array([float(train_group_counts[g]) for g in present])
    if weights.sum() <= 0:
        raise ValueError(f"training group counts {list(train_group_counts)} give no weight to the groups present in the evaluated split")
    accuracies = np.array([per_group[g] for g in present])
    return GroupAccuracy(
        per_group=tuple(per_group),
        counts=tuple(counts),
        worst_group=float(accuracies.min()),
        avg_weighted=float((accuracies * weights).sum() / weights.sum()),
        avg_test=float(correct.mean()),
        avg_groups=float(accuracies.mean()),
    )


def mean_and_std(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof=1) over seeds; 0 spread for a single seed."""
    array = np.asarray(values, dtype=np.float64)
    if array.size == 0:
        raise ValueError("no values to average over seeds")
    return float(array.mean()), float(array.std(ddof=1)) if array.size > 1 else 0.0
