"""Agreement statistics of the rating studies (human_eval/agreement.py): golden values on small tables
computed by hand (Krippendorff's coincidence matrix, Fleiss 1971), perfect agreement, chance-level
agreement, missing ratings, unequal rater counts, and undefined cases that must be said, not crashed on."""

from __future__ import annotations

import math

import numpy as np
import pytest

from human_eval.agreement import fleiss_kappa, fleiss_table, krippendorff_alpha
from tests.human_eval_raters import fleiss, nominal_alpha

nan = np.nan


@pytest.mark.parametrize("level", ["nominal", "ordinal", "interval"])
def test_perfect_agreement_is_one(level):
    matrix = np.array([[0, 1, 2, 3, 1], [0, 1, 2, 3, 1], [0, 1, 2, 3, 1]], float)
    alpha = krippendorff_alpha(matrix, level, resamples=200)
    assert alpha.value == pytest.approx(1.0) and alpha.low == pytest.approx(1.0) and alpha.high == pytest.approx(1.0)
    assert alpha.level == level and alpha.items == 5
    assert fleiss_kappa(matrix, resamples=200).value == pytest.approx(1.0)


def test_chance_level_agreement():
    # Two raters, four items; agreement on half the items, with both values equally common: exactly what
    # chance gives. Fleiss: P_bar = 1/2 = P_e, so kappa = 0. Alpha (nominal): coincidences o00 = o11 = 2,
    # o01 = o10 = 2, n = 8, D_o = 4/8, D_e = 2 * 4 * 4 / (8 * 7) = 4/7, alpha = 1 - (1/2)/(4/7) = 1/8
    # (alpha's small-sample correction: expected disagreement is over pairs without replacement).
    matrix = np.array([[0, 0, 1, 1], [0, 1, 0, 1]], float)
    assert fleiss_kappa(matrix, resamples=100).value == pytest.approx(0.0, abs=1e-12)
    assert krippendorff_alpha(matrix, "nominal", resamples=100).value == pytest.approx(0.125)
    assert nominal_alpha([[0, 0], [0, 1], [1, 0], [1, 1]]) == pytest.approx(0.125)


def test_missing_ratings_use_every_pairable_value():
    # Items (columns) with 3, 2, 3, 3 and 2 ratings. Coincidences, each item's pairs / (m - 1):
    # o00 = 3 + 1 = 4, o11 = 3, o01 = o10 = 1 + 1 + 1 = 3; n = 13, n0 = 7, n1 = 6.
    # D_o = 6/13, D_e = 2 * 7 * 6 / (13 * 12) = 7/13, alpha = 1 - 6/7 = 1/7.
    matrix = np.array([[0, 0, 1, 1, nan], [0, 1, 0, 1, 1], [0, nan, 0, 1, 0]], float)
    assert krippendorff_alpha(matrix, "nominal", resamples=100).value == pytest.approx(1 / 7)
    assert nominal_alpha([[0, 0, 0], [0, 1], [1, 0, 0], [1, 1, 1], [1, 0]]) == pytest.approx(1 / 7)
    # An item rated once adds nothing: alpha is unchanged by a column with a single rating.
    extra = np.hstack([matrix, np.array([[1], [nan], [nan]])])
    assert krippendorff_alpha(extra, "nominal", resamples=10).value == pytest.approx(1 / 7)


def test_interval_and_ordinal_levels_differ_as_computed_by_hand():
    # Two raters: (1, 1), (2, 2), (3, 4). Values n1 = n2 = 2, n3 = n4 = 1, n = 6.
    # Interval: D_o = 2 * (3 - 4)^2 / 6 = 1/3; D_e = sum_{c != k} n_c n_k (c - k)^2 / (n (n - 1)) = 82 / 30,
    # alpha = 1 - (1/3) / (82/30) = 1 - 10/82 = 36/41.
    matrix = np.array([[1, 2, 3], [1, 2, 4]], float)
    assert krippendorff_alpha(matrix, "interval", resamples=10).value == pytest.approx(36 / 41)
    ordinal = krippendorff_alpha(matrix, "ordinal", resamples=10).value
    assert ordinal is not None and ordinal != pytest.approx(36 / 41)


def test_fleiss_golden_value():
    # Three raters, four items of a yes/no question: (1,1,1), (0,0,0), (1,1,0), (1,0,0).
    # p_yes = 6/12, P_e = 1/2; P_i = 1, 1, 1/3, 1/3; P_bar = 2/3; kappa = (2/3 - 1/2) / (1/2) = 1/3.
    matrix = np.array([[1, 0, 1, 1], [1, 0, 1, 0], [1, 0, 0, 0]], float)
    result = fleiss_kappa(matrix, resamples=200)
    assert result.value == pytest.approx(1 / 3) and result.raters_per_item == 3 and result.items_trimmed == 0
    assert fleiss([[1, 1, 1], [0, 0, 0], [1, 1, 0], [1, 0, 0]]) == pytest.approx(1 / 3)
    assert result.low <= result.value <= result.high


def test_fleiss_with_unequal_rater_counts_trims_to_the_smallest_count():
    # Items (columns) with 3, 3 and 2 ratings, and one rated once: m = 2; the first two keep 2 of their 3
    # (chosen from the seed), the last is left out; every kept item is unanimous, so kappa = 1.
    matrix = np.array([[1, 0, 1, 1], [1, 0, 1, nan], [1, nan, nan, nan], [nan, 0, nan, nan]], float)
    table, m, trimmed, left_out = fleiss_table(matrix, seed=0)
    assert (m, trimmed, left_out) == (2, 2, 1)
    assert table.shape == (3, 2) and (table.sum(axis=1) == 2).all()
    result = fleiss_kappa(matrix, resamples=50)
    assert result.value == pytest.approx(1.0) and "2 ratings per item" in result.reason and "1 items with fewer than two left out" in result.reason


def test_all_identical_ratings_are_undefined_and_said():
    matrix = np.ones((3, 6))
    alpha = krippendorff_alpha(matrix, "nominal")
    kappa = fleiss_kappa(matrix)
    assert alpha.value is None and "every rating is the same" in alpha.reason and "undefined" in alpha.reason
    assert kappa.value is None and "one category" in kappa.reason


def test_no_item_rated_twice_is_undefined():
    matrix = np.array([[1, nan, nan], [nan, 0, nan], [nan, nan, 1]], float)
    for result in (krippendorff_alpha(matrix, "nominal"), fleiss_kappa(matrix)):
        assert result.value is None and "two raters" in result.reason


def test_bootstrap_is_seeded_and_counts_undefined_resamples():
    rng = np.random.default_rng(3)
    matrix = (rng.random((4, 30)) < 0.7).astype(float)
    one = krippendorff_alpha(matrix, "nominal", resamples=300, seed=1)
    two = krippendorff_alpha(matrix, "nominal", resamples=300, seed=1)
    assert (one.low, one.high) == (two.low, two.high) and one.low < one.value < one.high
    # Only two items, one of them unanimous: resamples holding that item twice have a single value.
    small = krippendorff_alpha(np.array([[1, 0], [1, 1]], float), "nominal", resamples=200)
    assert small.undefined_resamples > 0 and math.isfinite(small.value)


def test_grouped_columns_are_resampled_by_item():
    # Per-word choices: 2 items x 3 words; the interval is over the 2 items, not 6 words.
    matrix = np.array([[1, 0, 0, 1, 1, 0], [1, 0, 1, 1, 1, 0]], float)
    grouped = krippendorff_alpha(matrix, "nominal", resamples=200, groups=np.array([0, 0, 0, 1, 1, 1]))
    assert grouped.items == 2
    assert grouped.value == pytest.approx(krippendorff_alpha(matrix, "nominal", resamples=10).value)
