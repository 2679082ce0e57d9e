"""Waterbirds group metrics (suites/waterbirds/group_metrics.py) on hand-made predictions: golden values of
the worst group and the three averages (WILDS' train-weighted, plain test accuracy, unweighted group mean),
and the suite's aggregate over records computing the same numbers over seeds."""

from __future__ import annotations

import math

import pytest

from suites import SUITES
from suites.waterbirds.config import WaterbirdsConfig
from suites.waterbirds.group_metrics import group_accuracy, mean_and_std

TRAIN_COUNTS = (3498, 184, 56, 1057)  # the real training split's group counts (WILDS' weights)

# 10 test images: group 0 (landbird/land) 4 images, 3 right; group 1 two, 1 right; group 2 two, none right; group 3 two, both right.
GROUPS = [0, 0, 0, 0, 1, 1, 2, 2, 3, 3]
LABELS = [0, 0, 0, 0, 0, 0, 1, 1, 1, 1]
PREDICTIONS = [0, 0, 0, 1, 0, 1, 0, 0, 1, 1]


def test_golden_values_of_the_worst_group_and_the_three_averages():
    result = group_accuracy(PREDICTIONS, LABELS, GROUPS, TRAIN_COUNTS)
    assert result.per_group == (0.75, 0.5, 0.0, 1.0)
    assert result.counts == (4, 2, 2, 2)
    assert result.worst_group == 0.0
    assert math.isclose(result.avg_weighted, (0.75 * 3498 + 0.5 * 184 + 0.0 * 56 + 1.0 * 1057) / 4795)  # 0.78676...
    assert math.isclose(result.avg_weighted, 0.7867570385818561)
    assert result.avg_test == 0.6  # 6 of 10 right
    assert result.avg_groups == 0.5625  # (0.75 + 0.5 + 0 + 1) / 4


def test_a_group_missing_from_the_split_is_left_out_of_worst_and_means():
    result = group_accuracy([0, 0, 1], [0, 0, 1], [0, 0, 3], TRAIN_COUNTS)
    assert result.per_group == (1.0, None, None, 1.0)
    assert result.worst_group == 1.0 and result.avg_groups == 1.0 and result.avg_weighted == 1.0


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="equal-length"):
        group_accuracy([0, 1], [0], [0, 1], TRAIN_COUNTS)
    with pytest.raises(ValueError, match="group ids"):
        group_accuracy([0], [0], [4], TRAIN_COUNTS)


def test_mean_and_sample_std_over_seeds():
    mean, std = mean_and_std([0.5, 0.7, 0.9])
    assert math.isclose(mean, 0.7) and math.isclose(std, 0.2)
    assert mean_and_std([0.4]) == (0.4, 0.0)


def _records(predictions_by_method: dict[str, list[list[int]]]) -> list[dict]:
    """Train records whose groups have the real proportions / 100 (35, 2, 1, 11) and the ten test images above."""
    train = []
    for group, count in enumerate((35, 2, 1, 11)):
        for i in range(count):
            train.append({"image_id": f"train/{group}-{i}", "split": "train", "group": group, "class": "landbird" if group < 2 else "waterbird",
                          "selected_word": [None], "masked_pixels": {"masktune": [5, 5]}, "planted_words": None,
                          "per_image_metrics": {"selected_share": 0.0, "masked_share.masktune": 1.0}})
    test = []
    seeds = len(next(iter(predictions_by_method.values())))
    for k, (group, label) in enumerate(zip(GROUPS, LABELS)):
        predictions = {m: [runs[s][k] for s in range(seeds)] for m, runs in predictions_by_method.items()}
        test.append({"image_id": f"test/{k}", "split": "test", "group": group, "y": label, "predictions": predictions,
                     "per_image_metrics": {f"avg_test.{m}": sum(p == label for p in v) / seeds for m, v in predictions.items()}})
    return train + test


def test_the_suite_aggregates_group_metrics_over_seeds_from_records_alone():
    perfect = LABELS
    suite = SUITES.get("waterbirds")(WaterbirdsConfig())
    metrics = suite.aggregate(_records({"erm": [PREDICTIONS, perfect], "masktune": [perfect, perfect]}))
    counts = (35, 2, 1, 11)
    first = group_accuracy(PREDICTIONS, LABELS, GROUPS, counts)
    assert metrics["num_seeds"] == 2
    assert math.isclose(metrics["worst_group.erm"], (0.0 + 1.0) / 2)
    assert math.isclose(metrics["worst_group_std.erm"], math.sqrt(0.5))  # values 0 and 1, ddof=1
    assert math.isclose(metrics["avg_test.erm"], (0.6 + 1.0) / 2)
    assert math.isclose(metrics["avg_groups.erm"], (0.5625 + 1.0) / 2)
    assert math.isclose(metrics["avg_weighted.erm"], (first.avg_weighted + 1.0) / 2)
    assert math.isclose(metrics["group_acc.erm.waterbird_land"], 0.5)
    assert metrics["worst_group.masktune"] == 1.0 and metrics["worst_group_std.masktune"] == 0.0
    assert math.isclose(metrics["worst_group_change.masktune"], 0.5)
    assert math.isclose(metrics["erm_worst_gap"], 0.8 - 0.5)
    assert metrics["masked_share.masktune"] == 1.0 and metrics["selected_share"] == 0.0
    assert "masked_share.erm" not in metrics


def test_the_change_against_erm_is_paired_by_seed():
    # ERM's worst group is 0 at seed 0 and 1 at seed 1; masktune is perfect at both: its own spread is 0, but its
    # change against the same seed's ERM is +1 then 0, so the paired spread is sqrt(0.5), not 0.
    suite = SUITES.get("waterbirds")(WaterbirdsConfig())
    records = _records({"erm": [PREDICTIONS, LABELS], "masktune": [LABELS, LABELS]})
    metrics = suite.aggregate(records)
    assert metrics["worst_group_std.masktune"] == 0.0
    assert math.isclose(metrics["worst_group_change_std.masktune"], math.sqrt(0.5))
    assert metrics["worst_group_change_std.erm"] == 0.0
    table = next(t for t in suite.tables(records, {}) if t["title"].startswith("Worst-group change"))
    (row,) = table["rows"]
    assert row[1:] == ["+100.0, +0.0", "+50.00 ± 70.71", "1 / 1 / 0"]
    assert "worst group per seed: 0.0, 100.0" in table["note"]
