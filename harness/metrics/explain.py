"""The main run's metrics (``explain.*``): how often an image's explanation names its true object and
background, registered in the metrics registry (harness/metrics/registry.py).

An explanation is N sentences sampled for one held-out image; its words are ranked by document frequency
(the share of sentences containing the word, texplain/words.py), and its top-k words are the k most
frequent (k = ``explain.top_k``; words below ``explain.min_doc_freq`` are left out). The four per-image
metrics are registered with their per-image function: harness/pipeline/words_step.py's ``score_explanations``
writes each image's values into its record (``per_image_metrics``) and the run-level metric is their
mean over images, so a bootstrap over images gives its interval (harness/metrics/intervals.py) and
``texplain compare`` pairs them image by image.

The image-blind baselines score one word list for every image (the k most frequent words over all the
run's explanations): what a rate reaches without looking at the image. They depend on all images at
once, so they have no per-image values, no interval, and no direction.
"""

from __future__ import annotations

from harness.metrics.registry import HIGHER, METRICS, NONE, Metric
from texplain.words import WordStats

# Descriptive: what was scored, not how well.
METRICS.add(Metric("explain.num_images", "held-out images explained and scored (never trained on)", NONE))
METRICS.add(Metric(
    "explain.sentences_per_image",
    "sentences sampled per image: the setting sampling.num_sentences, or the mean drawn when adaptive stopping drew fewer",
    NONE,
))
METRICS.add(Metric("explain.top_k", "k of the top-k metrics (the setting explain.top_k): how many of an explanation's most frequent words are looked at", NONE))


@METRICS.per_image(
    "explain.object_in_top_k_rate", HIGHER,
    "share of held-out images whose true object class word is among the top-k words (k = explain.top_k, by document frequency) of their explanation",
)
def object_in_top_k(truth: dict, top_words: list[str], stats: WordStats) -> float:
    return float(truth["object"] in top_words)


@METRICS.per_image(
    "explain.background_in_top_k_rate", HIGHER,
    "share of held-out images whose true background word is among the top-k words (k = explain.top_k) of their explanation",
)
def background_in_top_k(truth: dict, top_words: list[str], stats: WordStats) -> float:
    return float(truth["background"] in top_words)


@METRICS.per_image(
    "explain.object_doc_freq_mean", HIGHER,
    "mean over held-out images of the share of sampled sentences that contain the true object word",
)
def object_doc_freq(truth: dict, top_words: list[str], stats: WordStats) -> float:
    return stats.doc_freq(truth["object"])


@METRICS.per_image(
    "explain.background_doc_freq_mean", HIGHER,
    "mean over held-out images of the share of sampled sentences that contain the true background word",
)
def background_doc_freq(truth: dict, top_words: list[str], stats: WordStats) -> float:
    return stats.doc_freq(truth["background"])


METRICS.add(Metric(
    "explain.chance_object_in_top_k_rate",
    "image-blind baseline of explain.object_in_top_k_rate: the k most frequent words over all held-out explanations, the same list for every image",
    NONE,
))
METRICS.add(Metric(
    "explain.chance_background_in_top_k_rate",
    "image-blind baseline of explain.background_in_top_k_rate: the same word list for every image",
    NONE,
))


def per_image_values(truth: dict, top_words: list[str], stats: WordStats) -> dict[str, float]:
    """One image's values of every registered per-image explain.* metric, in registration order."""
    return {metric.name: metric.per_image(truth, top_words, stats) for metric in METRICS.per_image_metrics("explain.")}
