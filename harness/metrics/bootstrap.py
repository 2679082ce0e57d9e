"""Paired bootstrap confidence interval of a difference of means (Efron & Tibshirani, "An Introduction
to the Bootstrap", ch. 13: percentile intervals).

``texplain compare`` evaluates two runs on the same images. Per image i there is a value a_i from run A
and b_i from run B; the statistic is mean(b) - mean(a) = mean(d) with d_i = b_i - a_i. Resampling
images (not values of each run separately) keeps the pairing, so image-to-image variation that both
runs share cancels, and the interval is about the runs' difference only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Resampling happens in chunks of rows so that 10^4 resamples of 10^4 images do not need 10^8 indices at once.
_MAX_INDICES_PER_CHUNK = 5_000_000


@dataclass(frozen=True)
class DeltaInterval:
    delta: float  # mean(b) - mean(a) over the paired images
    low: float  # percentile-bootstrap interval of the delta
    high: float
    n: int  # number of paired images
    resamples: int
    confidence: float


def paired_bootstrap(a: np.ndarray, b: np.ndarray, resamples: int = 1000, seed: int = 0, confidence: float = 0.95) -> DeltaInterval:
    """Delta mean(b) - mean(a) with a percentile bootstrap interval over paired observations.

    a, b: (n,) per-image values, b[i] and a[i] about the same image. Deterministic for a given seed.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"paired values must be two 1-D arrays of the same length, got shapes {a.shape} and {b.shape}")
    if a.size == 0:
        raise ValueError("no paired values: the bootstrap needs at least one image")
    if resamples < 1:
        raise ValueError(f"resamples must be >= 1, got {resamples}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError("per-image values must be finite (found NaN or inf)")
    differences = b - a  # (n,)
    n = differences.size
    rng = np.random.default_rng(seed)
    means = np.empty(resamples)  # (R,) bootstrap distribution of the mean difference
    rows_per_chunk = max(1, _MAX_INDICES_PER_CHUNK // n)
    for start in range(0, resamples, rows_per_chunk):
        rows = min(rows_per_chunk, resamples - start)
        indices = rng.integers(0, n, size=(rows, n))  # (rows, n) images drawn with replacement
        means[start : start + rows] = differences[indices].mean(axis=1)
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(means, [tail, 1.0 - tail])
    # Quantiles of identical values can come back off by a rounding error; clamp to the observed range
    # so that identical runs give exactly [0, 0].
    low, high = max(float(low), float(means.min())), min(float(high), float(means.max()))
    return DeltaInterval(float(differences.mean()), low, high, n, resamples, confidence)
