"""The words step: an explanation's word statistics scored into one self-describing record per image
(records.jsonl), the run's explain.* metrics (harness/metrics/explain.py) with an image-blind baseline
beside them, and the word clouds per class and per image (the paper's figures: class word red, others gray).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from pathlib import Path

import torch

from contracts.explainers import ExplainerInputs, TrainingData
from contracts.files import write_json
from contracts.formats import RECORDS_FORMAT
from contracts.verdicts import Gate
from harness.config import RunConfig
from harness.metrics.explain import (
    explainer_verdicts,
    per_image_values,
    score_explainers,
)
from harness.pipeline.training_data import CaptionedImage
from texplain.wordcloud_render import render_wordcloud
from texplain.words import WordFilter, WordStats, merge_stats, word_stats

log = logging.getLogger(__name__)

WORDS_STAGE_VERSION = 6  # 6: trained controls, class_prior and verdicts (contracts/verdicts.py); 5: the explainer table (TExplain and its controls on the same images); 2: sentences_per_image is the mean drawn (adaptive stopping), not the setting; 3: metrics named explain.*_in_top_k_rate (were *_top5_rate), records carry "format"; 4: function words only (not scikit-learn's stop list), lexicon filter, dropped tokens in records


def word_filter(config: RunConfig) -> WordFilter:
    """The run's word filter (explain.keep_numbers, explain.lexicon, explain.extra_words)."""
    explain = config.explain
    return WordFilter(keep_numbers=explain.keep_numbers, lexicon=explain.lexicon, extra_words=frozenset(explain.extra_words))


def score_explanations(images: list[CaptionedImage], folder: Path, sentences: dict[str, list[str]], classifier_names: list[str], logits: torch.Tensor, config: RunConfig):
    """records.jsonl rows and the run's metrics; the truth-based rates only where the truth is known."""
    k = config.explain.top_k
    records, per_image = [], {}
    words = word_filter(config)
    for image, image_logits in zip(images, logits):
        stats = word_stats(sentences[image.image_id], words)
        per_image[image.image_id] = stats
        top = [w for w, _ in stats.top_k(k, min_doc_freq=config.explain.min_doc_freq)]
        predicted = int(image_logits.argmax())
        record = {
            "format": RECORDS_FORMAT,
            "image_id": image.image_id,
            "image": str(image.path.relative_to(folder)) if image.path.is_relative_to(folder) else str(image.path),
            "truth": image.truth,
            "classifier_top1": {"index": predicted, "name": classifier_names[predicted]},
            "top_words": stats.top_k(20, min_doc_freq=config.explain.min_doc_freq),
            "num_sentences": stats.num_sentences,
            "per_image_metrics": {},
            "word_stats": stats.to_json(),
            # Tokens of the sentences that are no word of the lexicon (texplain/words.py), most frequent first.
            "dropped_tokens": sorted(stats.dropped.items(), key=lambda item: (-item[1], item[0]))[:20],
        }
        if image.truth:
            record["object_in_top_k"] = image.truth["object"] in top
            record["background_in_top_k"] = image.truth["background"] in top
            # Per-image values whose mean over images is the run-level metric of the same name
            # (harness/metrics/explain.py; the run's intervals and texplain compare bootstrap over these).
            record["per_image_metrics"] = per_image_values(image.truth, top, stats)
        records.append(record)
    n = max(1, len(records))
    # What was drawn, not the setting: adaptive stopping draws fewer than sampling.num_sentences.
    counts = [r["num_sentences"] for r in records]
    if counts and len(set(counts)) > 1:
        sentences_per_image = sum(counts) / len(counts)
    else:
        sentences_per_image = counts[0] if counts else config.sampling.num_sentences
    metrics = {"explain.num_images": len(records), "explain.sentences_per_image": sentences_per_image, "explain.top_k": k}
    if records and all(image.truth for image in images):
        for name in records[0]["per_image_metrics"]:
            metrics[name] = sum(r["per_image_metrics"][name] for r in records) / n
        # Image-blind baseline: one word list for every image (the most frequent words overall).
        blind_top = [w for w, _ in merge_stats(per_image.values()).top_k(k)]
        metrics["explain.chance_object_in_top_k_rate"] = sum(i.truth["object"] in blind_top for i in images) / n
        metrics["explain.chance_background_in_top_k_rate"] = sum(i.truth["background"] in blind_top for i in images) / n
    return records, per_image, metrics


def explainer_table(images: list[CaptionedImage], per_image: dict[str, WordStats], classifier_names: list[str], logits: torch.Tensor,
                    config: RunConfig, context=None, training: TrainingData | None = None) -> tuple[dict[str, dict], dict]:
    """TExplain and every registered control scored by the per-image explain.* metrics on the same
    held-out images (harness/metrics/explain.py's score_explainers), and the verdicts of the headline
    metrics against the controls they must beat; ({}, {}) where the truth is not known.

    context, training: the run and its translator's training data, for the trained controls (which train
    their own translator; without them those controls are reported as not run)."""
    if not images or not all(image.truth for image in images):
        return {}, {}
    inputs = ExplainerInputs(
        image_ids=tuple(image.image_id for image in images),
        texplain=per_image,
        captions={image.image_id: tuple(image.captions) for image in images},
        predicted={image.image_id: classifier_names[int(row.argmax())] for image, row in zip(images, logits)},
        word_filter=word_filter(config),
        seed=config.seed,
        context=context,
        training=training,
    )
    truth = {image.image_id: image.truth for image in images}
    table = score_explainers(truth, inputs, config.explain.top_k, config.explain.min_doc_freq, tuple(config.controls.trained))
    gates = [Gate("a full run (a smoke run, --limit, scores too few images to judge)", config.limit is None)]
    return table, explainer_verdicts(table, gates)


def draw_clouds(out: Path, images: list[CaptionedImage], per_image: dict[str, WordStats], classifier_names: list[str], logits: torch.Tensor, config: RunConfig) -> list[str]:
    """Per-class clouds (class = the true object where known, else the classifier's top-1) and a few per image.

    A cloud with no word to draw is a placeholder PNG, not a crash; which ones and why is written to
    wordclouds/empty_clouds.json (cloud path -> reason, sentences, images), which the report reads.
    """
    from texplain.wordcloud_render import EMPTY_CLOUDS_FILE, empty_cloud_reason

    written, empty = [], {}
    min_doc_freq = config.explain.min_doc_freq

    def draw(stats: WordStats, class_words: set[str], filename: str, images_in_cloud: int) -> None:
        frequencies = dict(stats.top_k(50, min_doc_freq=min_doc_freq))
        reason = empty_cloud_reason(stats, min_doc_freq)
        render_wordcloud(frequencies, class_words, out / "wordclouds" / filename, seed=config.seed, empty_text=reason)
        written.append(f"wordclouds/{filename}")
        if reason is not None:
            empty[f"wordclouds/{filename}"] = {"reason": reason, "num_sentences": stats.num_sentences, "images": images_in_cloud}
            log.warning("word cloud %s is empty: %s", filename, reason)

    by_class: dict[str, list[WordStats]] = defaultdict(list)
    for image, image_logits in zip(images, logits):
        name = image.truth["object"] if image.truth else classifier_names[int(image_logits.argmax())]
        by_class[name].append(per_image[image.image_id])
    for name, stats in sorted(by_class.items()):
        filename = "class_" + "".join(c if c.isalnum() else "_" for c in name) + ".png"
        draw(merge_stats(stats), set(name.lower().split()), filename, len(stats))
    for image in images[: config.explain.single_image_clouds]:
        class_words = {image.truth["object"]} if image.truth else set()
        draw(per_image[image.image_id], class_words, f"image_{image.image_id}.png", 1)
    write_json(out / "wordclouds" / EMPTY_CLOUDS_FILE, empty)
    return written
