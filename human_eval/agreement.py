"""Agreement between raters (TExplain, Section 4.2, Figure 3, is reported without it; we add it):
Krippendorff's alpha (the ``krippendorff`` package) and Fleiss' kappa (statsmodels), each with a
percentile bootstrap interval over items.

Ratings come as a reliability matrix, raters x items, NaN where a rater did not rate an item
(Krippendorff 2011, "Computing Krippendorff's Alpha-Reliability"). The level of measurement is always
stated: the package's default is interval, so it is passed explicitly (counts of study (a): ordinal by
default, or interval; yes/no and per-word choices: nominal).

Fleiss' kappa (Fleiss 1971) assumes every item has the same number of raters, and statsmodels'
``fleiss_kappa`` takes no missing values. Unequal counts are handled by one stated rule: m is the
smallest number of ratings among the items rated at least twice; items with more ratings keep m of
them, chosen at random from a seed; items with fewer than two are left out. The result says m and how
many items were trimmed or left out. Alpha needs no such rule: it uses every pairable rating.

Undefined values are said, not crashed on: when every rating is the same value there is no
disagreement expected by chance and alpha (and kappa) are 0/0; when no item has two ratings there is
nothing to agree on. Such a result has ``value=None`` and a ``reason``. Bootstrap resamples whose
statistic is undefined are left out and counted.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass
from typing import Callable

import numpy as np

LEVELS = ("nominal", "ordinal", "interval", "ratio")


@dataclass(frozen=True)
class Agreement:
    statistic: str  # "krippendorff_alpha" or "fleiss_kappa"
    level: str | None  # alpha's level of measurement; None for kappa (nominal categories)
    value: float | None
    low: float | None
    high: float | None
    items: int  # items that entered the statistic
    reason: str | None = None  # why value is None, or a note on how the table was formed
    resamples: int = 0
    undefined_resamples: int = 0
    raters_per_item: int | None = None  # Fleiss: the common count m
    items_trimmed: int = 0
    items_left_out: int = 0

    def to_json(self) -> dict:
        return asdict(self)


class Undefined(Exception):
    """The statistic has no value on this table; the message says why."""


def pairable(matrix: np.ndarray) -> np.ndarray:
    """(N,) bool: items with at least two ratings (only these enter alpha)."""
    return np.sum(~np.isnan(matrix), axis=0) >= 2


def alpha_value(matrix: np.ndarray, level: str) -> float:
    """Krippendorff's alpha of a raters x items matrix (NaN = missing); Undefined when it has none."""
    import krippendorff

    if level not in LEVELS:
        raise ValueError(f"level of measurement must be one of {LEVELS}, got {level!r}")
    matrix = np.asarray(matrix, dtype=float)
    usable = matrix[:, pairable(matrix)] if matrix.ndim == 2 and matrix.size else np.empty((0, 0))
    if usable.size == 0 or usable.shape[1] == 0:
        raise Undefined("no item has ratings from two raters, so there is nothing to agree on")
    values = np.unique(usable[~np.isnan(usable)])
    if values.size < 2:
        raise Undefined(f"every rating is the same ({values[0]:g}): alpha is undefined (0/0: no disagreement is expected by chance)")
    return float(krippendorff.alpha(reliability_data=usable, level_of_measurement=level))


def fleiss_table(matrix: np.ndarray, seed: int = 0) -> tuple[np.ndarray, int, int, int]:
    """Items x categories counts for statsmodels' fleiss_kappa with m ratings per item (module docstring);
    returns (table, m, items trimmed, items left out)."""
    table, m, trimmed, left_out, _ = _fleiss_table(matrix, seed)
    return table, m, trimmed, left_out


def _fleiss_table(matrix: np.ndarray, seed: int) -> tuple[np.ndarray, int, int, int, np.ndarray]:
    from statsmodels.stats.inter_rater import aggregate_raters

    matrix = np.asarray(matrix, dtype=float)
    counts = np.sum(~np.isnan(matrix), axis=0)
    kept = np.flatnonzero(counts >= 2)
    if kept.size == 0:
        raise Undefined("no item has ratings from two raters, so there is nothing to agree on")
    m = int(counts[kept].min())
    rng = np.random.default_rng(seed)
    rows = []
    for item in kept:
        ratings = matrix[~np.isnan(matrix[:, item]), item]
        if ratings.size > m:
            ratings = rng.choice(ratings, size=m, replace=False)
        rows.append(ratings)
    data = np.vstack(rows)  # (items, m) values
    categories = np.unique(matrix[~np.isnan(matrix)])
    table, _ = aggregate_raters(np.searchsorted(categories, data), n_cat=categories.size)
    return table, m, int(np.sum(counts[kept] > m)), int(matrix.shape[1] - kept.size), kept


def kappa_of_table(table: np.ndarray) -> float:
    from statsmodels.stats.inter_rater import fleiss_kappa

    used = np.flatnonzero(table.sum(axis=0) > 0)
    if used.size < 2:
        raise Undefined("every rating falls in one category: kappa is undefined (0/0: agreement by chance is complete)")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value = float(fleiss_kappa(table, method="fleiss"))
    if not math.isfinite(value):
        raise Undefined("kappa is undefined on this table (its chance agreement is 1)")
    return value


def _bootstrap(statistic: Callable[[np.ndarray], float], items: int, resamples: int, seed: int, level: float) -> tuple[float | None, float | None, int]:
    """Percentile interval of statistic(indices of resampled items); (low, high, undefined resamples)."""
    if items < 2:
        return None, None, 0
    rng = np.random.default_rng(seed)
    values, undefined = [], 0
    for _ in range(resamples):
        try:
            values.append(statistic(rng.integers(0, items, size=items)))
        except Undefined:
            undefined += 1
    if not values:
        return None, None, undefined
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(values, [tail, 1.0 - tail])
    return float(low), float(high), undefined


def krippendorff_alpha(matrix: np.ndarray, level: str, resamples: int = 1000, seed: int = 0, confidence: float = 0.95,
                       groups: np.ndarray | None = None) -> Agreement:
    """Alpha with a bootstrap over items. `groups` (N,) maps columns to items when an item spans several
    columns (per-word choices of study (a): one column per item and word); items are resampled whole."""
    matrix = np.asarray(matrix, dtype=float)
    groups = np.arange(matrix.shape[1]) if groups is None else np.asarray(groups)
    names = np.unique(groups)
    columns = [np.flatnonzero(groups == g) for g in names]
    items = int(sum(pairable(matrix[:, c]).any() for c in columns)) if matrix.size else 0
    try:
        value = alpha_value(matrix, level)
    except Undefined as why:
        return Agreement("krippendorff_alpha", level, None, None, None, items, str(why))

    def statistic(indices: np.ndarray) -> float:
        return alpha_value(matrix[:, np.concatenate([columns[i] for i in indices])], level)

    low, high, undefined = _bootstrap(statistic, len(columns), resamples, seed, confidence)
    return Agreement("krippendorff_alpha", level, value, low, high, items, None, resamples, undefined)


def fleiss_kappa(matrix: np.ndarray, resamples: int = 1000, seed: int = 0, confidence: float = 0.95,
                 groups: np.ndarray | None = None) -> Agreement:
    """Fleiss' kappa (statsmodels) with m ratings per item (module docstring) and a bootstrap over items;
    `groups` as for krippendorff_alpha (columns of one item are resampled together)."""
    try:
        table, m, trimmed, left_out, kept = _fleiss_table(matrix, seed)
    except Undefined as why:
        return Agreement("fleiss_kappa", None, None, None, None, 0, str(why))
    note = (f"{m} ratings per item: {trimmed} items with more kept {m} chosen at random (seed {seed}), "
            f"{left_out} items with fewer than two left out")
    try:
        value = kappa_of_table(table)
    except Undefined as why:
        return Agreement("fleiss_kappa", None, None, None, None, len(table), str(why), raters_per_item=m,
                         items_trimmed=trimmed, items_left_out=left_out)
    row_groups = (np.arange(np.asarray(matrix).shape[1]) if groups is None else np.asarray(groups))[kept]  # (rows,)
    rows_of = [np.flatnonzero(row_groups == g) for g in np.unique(row_groups)]
    low, high, undefined = _bootstrap(lambda idx: kappa_of_table(table[np.concatenate([rows_of[i] for i in idx])]),
                                      len(rows_of), resamples, seed, confidence)
    return Agreement("fleiss_kappa", None, value, low, high, len(rows_of), note, resamples, undefined, m, trimmed, left_out)
