"""95% intervals of a run's metrics: a bootstrap over images of the mean of per-image values
(Efron & Tibshirani, "An Introduction to the Bootstrap", 1993, ch. 14: the BCa interval), computed by
scipy.stats.bootstrap.

A run-level metric such as explain.object_in_top_k_rate is the mean over images of a per-image value
(``per_image_metrics`` in records.jsonl). Its interval resamples the images with replacement. BCa
(bias-corrected and accelerated) corrects the percentile interval for the skew of the bootstrap
distribution, which a rate near 0 or 1 over a few dozen images has. Where BCa is undefined it falls
back to the percentile interval, and says so in "method":

- every value equal (the jackknife has no spread; scipy returns NaN): the percentile interval, which is
  then [v, v], the only values a resampled mean can take;
- more than ``MAX_BCA_IMAGES`` images: BCa's jackknife recomputes the mean n times over n - 1 images
  (n^2 work) while its correction vanishes as n grows.

The resampling is seeded (``SEED``), so the same values always give the same interval. A metric with
no per-image values (recall@k over classes, a BG-gap, a baseline, a count) gets no interval at all:
absent, never zero-width; so does a metric with values for fewer than two images.
"""

from __future__ import annotations

import logging
import math
import warnings
from dataclasses import asdict, dataclass

import numpy as np

log = logging.getLogger(__name__)

LEVEL = 0.95
RESAMPLES = 9999  # scipy's default; the 2.5% tails then rest on ~250 resamples each
SEED = 0
BCA, PERCENTILE = "BCa", "percentile"
MAX_BCA_IMAGES = 20_000
# Resamples are drawn in batches so 9999 resamples of 10^4 images do not hold 10^8 values at once.
_VALUES_PER_BATCH = 2_000_000


@dataclass(frozen=True)
class Interval:
    """The interval of one metric, as metrics.json's "intervals" holds it."""

    low: float
    high: float
    level: float
    method: str  # BCA or PERCENTILE (bootstrap over images), or STUDENT_T (seed_interval)
    resamples: int
    n: int  # images with a value
    seed: int

    def to_json(self) -> dict:
        return asdict(self)


STUDENT_T = "t"  # Interval.method of seed_interval: over seeds, not resampled


def mean_interval(values, level: float = LEVEL, resamples: int = RESAMPLES, seed: int = SEED) -> Interval | None:
    """The bootstrap interval of mean(values) over images; None for fewer than two values.

    values: (n,) finite per-image values.
    """
    from scipy.stats import bootstrap

    data = np.asarray(values, dtype=np.float64)
    if data.ndim != 1:
        raise ValueError(f"per-image values must be one value per image, got shape {data.shape}")
    if not np.isfinite(data).all():
        raise ValueError("per-image values must be finite (NaN and None mean 'no value' and are left out before)")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must lie in (0, 1), got {level}")
    if resamples < 1:
        raise ValueError(f"resamples must be >= 1, got {resamples}")
    n = data.size
    if n < 2:
        return None  # one image says nothing about the spread over images

    def run(method: str):
        with warnings.catch_warnings():
            # A degenerate BCa is detected below from its NaN bounds and replaced; scipy's warning adds nothing.
            warnings.simplefilter("ignore")
            result = bootstrap(
                (data,), np.mean, n_resamples=resamples, batch=max(1, _VALUES_PER_BATCH // n), vectorized=True,
                confidence_level=level, method=method, rng=np.random.default_rng(seed),
            )
        return float(result.confidence_interval.low), float(result.confidence_interval.high)

    smallest, largest = float(data.min()), float(data.max())
    if smallest == largest:
        # Every resample's mean is the value itself: the percentile interval is [v, v] (resampling would
        # only add the rounding of summing n equal floats).
        return Interval(smallest, largest, level, PERCENTILE, resamples, n, seed)
    method = BCA if n <= MAX_BCA_IMAGES else PERCENTILE
    low, high = run(method)
    if not (math.isfinite(low) and math.isfinite(high)):
        method = PERCENTILE  # BCa undefined (e.g. the jackknife has no spread)
        low, high = run(method)
    # A resampled mean lies within [min, max]; clamping removes rounding outside it.
    low, high = max(low, smallest), min(high, largest)
    return Interval(low, high, level, method, resamples, n, seed)


def recorded_values(records: list[dict], name: str) -> list[float]:
    """The finite values of per-image metric `name` in `records` (None, NaN and absent mean 'no value')."""
    values = []
    for record in records:
        value = (record.get("per_image_metrics") or {}).get(name)
        if isinstance(value, bool):
            value = float(value)
        if isinstance(value, (int, float)) and math.isfinite(value):
            values.append(float(value))
    return values


def intervals_of(metrics: dict, records: list[dict], level: float = LEVEL, resamples: int = RESAMPLES, seed: int = SEED) -> dict[str, dict]:
    """metrics.json's "intervals": name -> interval (as JSON) for every metric of `metrics` whose
    records carry per-image values of the same name, and whose value is their mean.

    A metric whose value is not the mean of its per-image values (an aggregate that weighs or filters
    images) would get the interval of another quantity: it gets none, and a warning says so.
    """
    out = {}
    for name, value in metrics.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        values = recorded_values(records, name)
        if not values:
            continue
        if not math.isclose(float(np.mean(values)), float(value), rel_tol=1e-9, abs_tol=1e-12):
            log.warning("metric %s = %s is not the mean of its %d per-image values (%s): no interval", name, value, len(values), np.mean(values))
            continue
        interval = mean_interval(values, level, resamples, seed)
        if interval is not None:
            out[name] = interval.to_json()
    return out


def seed_interval(values, level: float = LEVEL) -> Interval | None:
    """Student's t interval of mean(values) where each value is one trained model (a seed); None for fewer
    than two. With a handful of seeds a bootstrap interval is too narrow (its lower end is about the
    smallest value: three seeds at +0.1, +0.2, +0.3 would pass), while the t interval widens with the few
    degrees of freedom there are, as group DRO, DFR and SubpopBench report spreads over seeds."""
    from scipy import stats

    data = np.asarray(values, dtype=np.float64)
    if data.ndim != 1:
        raise ValueError(f"per-seed values must be one value per seed, got shape {data.shape}")
    if not np.isfinite(data).all():
        raise ValueError("per-seed values must be finite")
    n = data.size
    if n < 2:
        return None  # one seed has no spread ("n/a")
    mean = float(data.mean())
    sem = float(data.std(ddof=1)) / math.sqrt(n)
    half = float(stats.t.ppf(0.5 + level / 2, df=n - 1)) * sem
    return Interval(mean - half, mean + half, level, STUDENT_T, 0, n, 0)
