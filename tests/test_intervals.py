"""95% intervals of a run's metrics (contracts/intervals.py): golden values on small hand-made
per-image values, checked against scipy.stats.bootstrap called directly; the percentile fallback where
BCa is degenerate; no interval (absent, not zero-width) where a metric has no per-image values."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy.stats import bootstrap

from contracts.intervals import BCA, PERCENTILE, RESAMPLES, SEED, intervals_of, mean_interval

BINARY = [1, 0, 1, 1, 1, 0, 1, 1, 0, 1, 1, 1]  # e.g. object_in_top_k per image: mean 0.75
RATES = [0.10, 0.35, 0.20, 0.80, 0.55, 0.40, 0.90, 0.15, 0.60, 0.30]  # e.g. a doc frequency per image: mean 0.435


def _scipy(values, method: str) -> tuple[float, float]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scipy warns where BCa is degenerate; the test looks at the NaN
        result = bootstrap((np.asarray(values, dtype=float),), np.mean, n_resamples=RESAMPLES, method=method,
                           confidence_level=0.95, rng=np.random.default_rng(SEED), vectorized=True)
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


@pytest.mark.parametrize(
    "values, golden",
    [(BINARY, (0.417, 0.917)), (RATES, (0.290, 0.605))],
    ids=["binary", "rates"],
)
def test_golden_intervals_equal_scipy_bca(values, golden):
    interval = mean_interval(values)
    assert (interval.method, interval.resamples, interval.n, interval.level, interval.seed) == (BCA, 9999, len(values), 0.95, 0)
    assert (interval.low, interval.high) == pytest.approx(_scipy(values, "BCa"), abs=1e-12)
    assert (round(interval.low, 3), round(interval.high, 3)) == golden
    assert interval.low < np.mean(values) < interval.high
    assert mean_interval(values) == interval  # seeded: reproducible


def test_bca_differs_from_percentile_on_skewed_values():
    # The BCa correction matters for a rate near 1 (the reason it is used): it is not the percentile interval.
    assert _scipy(BINARY, "BCa") != _scipy(BINARY, "percentile")


def test_equal_values_fall_back_to_the_percentile_interval():
    interval = mean_interval([0.1] * 7)  # BCa is NaN here (scipy: degenerate data)
    assert np.isnan(_scipy([0.1] * 7, "BCa")).all()
    assert interval.method == PERCENTILE and (interval.low, interval.high) == (0.1, 0.1)


def test_no_interval_from_one_image_and_bad_values_are_errors():
    assert mean_interval([1.0]) is None and mean_interval([]) is None
    with pytest.raises(ValueError, match="finite"):
        mean_interval([0.5, float("nan")])
    with pytest.raises(ValueError, match="one value per image"):
        mean_interval([[0.5, 0.5]])


def test_intervals_only_where_records_carry_per_image_values():
    records = [{"per_image_metrics": {"x.rate": v, "x.skipped": None if i == 0 else v}} for i, v in enumerate(BINARY)]
    metrics = {"x.rate": float(np.mean(BINARY)), "x.skipped": float(np.mean(BINARY[1:])), "x.recall_over_classes": 0.5, "x.num_images": 12}
    intervals = intervals_of(metrics, records)
    assert set(intervals) == {"x.rate", "x.skipped"}  # absent, not zero-width, for the other two
    assert intervals["x.rate"] == mean_interval(BINARY).to_json()
    assert intervals["x.skipped"]["n"] == 11  # null means "no value for this image"
    assert set(intervals["x.rate"]) == {"low", "high", "level", "method", "resamples", "n", "seed"}


def test_a_value_that_is_not_the_mean_of_its_per_image_values_gets_no_interval(caplog):
    records = [{"per_image_metrics": {"x.keep_rate": v}} for v in BINARY]
    # e.g. a keep rate over the images correct on original only: another quantity than the mean of the flags.
    assert intervals_of({"x.keep_rate": 0.9}, records) == {}
    assert "not the mean of its 12 per-image values" in caplog.text


def test_run_metrics_get_intervals_beside_the_values(tmp_path):
    # score_explanations (harness/pipeline/words_step.py) writes per-image values whose means are the metrics.
    import torch

    from harness.config import RunConfig
    from harness.pipeline.training_data import CaptionedImage
    from harness.pipeline.words_step import score_explanations

    truths = [{"object": "boat", "background": "water"}, {"object": "car", "background": "road"}, {"object": "boat", "background": "sand"}]
    images = [CaptionedImage(f"img_{i}", tmp_path / f"img_{i}.png", ("a caption",), t) for i, t in enumerate(truths)]
    sentences = {"img_0": ["a boat on the water"] * 3, "img_1": ["a red house", "a car"], "img_2": ["a boat", "a dog"]}
    records, _, metrics = score_explanations(images, tmp_path, sentences, ["a", "b"], torch.zeros(3, 2), RunConfig())
    intervals = intervals_of(metrics, records)
    assert set(intervals) == {"explain.object_in_top_k_rate", "explain.background_in_top_k_rate", "explain.object_doc_freq_mean", "explain.background_doc_freq_mean"}
    for name, interval in intervals.items():
        values = [r["per_image_metrics"][name] for r in records]
        assert interval["low"] <= metrics[name] <= interval["high"]
        assert (interval["low"], interval["high"]) == (mean_interval(values).low, mean_interval(values).high)
    # Counts, settings and the image-blind baselines have no per-image values: no interval.
    assert not {"explain.num_images", "explain.top_k", "explain.chance_object_in_top_k_rate"} & set(intervals)


def test_many_images_use_the_percentile_interval(monkeypatch):
    # BCa's jackknife costs n^2; above MAX_BCA_IMAGES the percentile interval is used, and said so.
    from contracts import intervals

    monkeypatch.setattr(intervals, "MAX_BCA_IMAGES", 5)
    interval = mean_interval(RATES)
    assert interval.method == PERCENTILE
    assert (interval.low, interval.high) == pytest.approx(_scipy(RATES, "percentile"), abs=1e-12)
