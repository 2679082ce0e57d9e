"""Scoring explanations into records and run metrics (harness/pipeline/words_step.py: score_explanations)."""

from pathlib import Path

import torch

from harness.config import RunConfig
from harness.pipeline.training_data import CaptionedImage
from harness.pipeline.words_step import score_explanations


def _images(folder: Path) -> list[CaptionedImage]:
    truths = [{"object": "boat", "background": "water"}, {"object": "car", "background": "road"}]
    return [CaptionedImage(f"img_{i}", folder / f"img_{i}.png", ("a caption",), truth) for i, truth in enumerate(truths)]


def test_metrics_report_the_sentences_drawn_not_the_setting(tmp_path):
    images = _images(tmp_path)
    config = RunConfig()
    logits = torch.zeros(2, 3)
    # Adaptive stopping drew 4 sentences for one image and 2 for the other (setting: config.sampling.num_sentences).
    sentences = {"img_0": ["a boat on the water"] * 4, "img_1": ["a car on the road", "a red car"]}
    records, _, metrics = score_explanations(images, tmp_path, sentences, ["a", "b", "c"], logits, config)
    assert [r["num_sentences"] for r in records] == [4, 2]
    assert metrics["explain.sentences_per_image"] == 3.0
    assert metrics["explain.object_in_top_k_rate"] == 1.0 and metrics["explain.background_in_top_k_rate"] == 1.0
    # A fixed-N run reports the count itself, as an integer.
    fixed = {"img_0": ["a boat on the water"] * 3, "img_1": ["a car on the road"] * 3}
    assert score_explanations(images, tmp_path, fixed, ["a", "b", "c"], logits, config)[2]["explain.sentences_per_image"] == 3


def test_every_metric_written_is_registered_and_rates_are_means_of_per_image_values(tmp_path):
    from contracts.metrics import METRICS

    images = _images(tmp_path)
    sentences = {"img_0": ["a boat on the water", "a boat"], "img_1": ["a red house", "the road"]}
    records, _, metrics = score_explanations(images, tmp_path, sentences, ["a", "b", "c"], torch.zeros(2, 3), RunConfig())
    assert [name for name in metrics if METRICS.find(name) is None] == []
    assert list(records[0]["per_image_metrics"]) == [m.name for m in METRICS.per_image_metrics("explain.")]
    for name in records[0]["per_image_metrics"]:
        assert metrics[name] == sum(r["per_image_metrics"][name] for r in records) / len(records)
    assert metrics["explain.object_in_top_k_rate"] == 0.5 and metrics["explain.background_in_top_k_rate"] == 1.0
    assert "explain.chance_object_in_top_k_rate" in metrics and "explain.object_top5_rate" not in metrics
