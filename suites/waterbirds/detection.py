"""Detection (TExplain Section 4.4, Figure 7): explain the end-to-end trained classifier's *own* features
and see the shortcut in its class word clouds ("water" outweighs "bird" in the waterbird training set).

A translator is trained for the fine-tuned model's penultimate tokens (RunContext.train_translator,
a cached step: CaptionedFeatures whose source is the fine-tuned weights' hash, so it is never applied to
another model's features), on the training split's captions; the frozen LM then samples sentences for
training and test images.

On a synthetic world the truth is known, so detection is scored: for each class, the rank and document
frequency of its planted place word(s) in the pooled explanations of the same planted-world training
images, once through the ERM model and once through a model trained the same way on a balanced copy of
the world (each with its own translator). A faithful method names the planted background more for the
ERM model; both numbers and their difference are reported whichever way they fall. A family of several
words (the land family: forest, grass) scores by its best-ranked word. This replaces a linear-probe check,
which cannot tell features apart: probes over the same frozen features get the same explanations.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from contracts.run_context import CaptionedFeatures, TrainedTranslator
from suites.waterbirds.data import ImageSet
from texplain.device import autocast
from texplain.errors import TExplainError
from texplain.words import WordStats


@torch.no_grad()
def feature_tokens(model: torch.nn.Module, images: ImageSet, batch_size: int, device: torch.device, precision: str) -> torch.Tensor:
    """The model's penultimate features as tokens (N, T, D): a CNN's (C, h, w) map as h*w tokens, a ViT's sequence."""
    model.eval().to(device)
    out = []
    for pixels, _, _ in torch.utils.data.DataLoader(images, batch_size=batch_size, shuffle=False):
        with autocast(device, precision):
            features = model.forward_features(pixels.to(device))  # (B, C, h, w) or (B, T, D)
        tokens = features.flatten(2).transpose(1, 2) if features.ndim == 4 else features  # (B, T, D)
        out.append(tokens.float().cpu())
    return torch.cat(out)


def train_model_translator(context, name: str, tokens: torch.Tensor, captions: list[list[str]], source: dict, data: dict,
                           num_train: int, epochs: int, batch_size: int, warm_start: bool = False) -> TrainedTranslator:
    """A translator for one fine-tuned model's tokens: items [0, num_train) train it, the rest validate."""
    missing = [i for i, c in enumerate(captions) if not c]
    if missing:
        raise TExplainError(
            f"{len(missing)} Waterbirds images have no caption, so no translator can be trained for the fine-tuned model's "
            "features; add a captions.jsonl sidecar ({\"image\": <img_filename>, \"caption\": text} lines) to the dataset root"
        )
    source_set = CaptionedFeatures(tokens, captions, source, data)
    return context.train_translator(
        name, source_set, list(range(num_train)), list(range(num_train, len(captions))),
        train={"epochs": epochs, "batch_size": batch_size, "warmup_steps": min(context.config.train.warmup_steps, max(1, num_train // (2 * batch_size)))},
        warm_start=warm_start,
    )


def explain(context, translator, image_ids: list[str], tokens: torch.Tensor, samples_path: Path, num_sentences: int,
            min_words: int, max_words: int, description: str) -> dict[str, list[str]]:
    """Sentences per image from the frozen LM conditioned on `translator`, appended to samples_path (resumable;
    images already there are not sampled again, and the LM is not loaded when none is left)."""
    sampling = {"num_sentences": num_sentences, "min_words": min_words, "max_words": max_words, "stopping": "fixed"}
    return context.explain(image_ids, tokens, samples_path, description, translator=translator, sampling=sampling)


def word_rank(stats: WordStats, words: tuple[str, ...] | list[str]) -> tuple[int, float]:
    """Best 1-based rank (by document frequency, ties by word) among `words`, and that word's document
    frequency; a word the explanations never use ranks after every word they do use."""
    ranked = [w for w, _ in stats.top_k(len(stats.doc_counts))]
    best_rank, best_freq = len(ranked) + 1, 0.0
    for word in words:
        if word in stats.doc_counts:
            rank = ranked.index(word) + 1
            if rank < best_rank:
                best_rank, best_freq = rank, stats.doc_freq(word)
    return best_rank, best_freq


def detection_scores(stats_by_model: dict[str, dict[str, WordStats]], planted: dict[str, tuple[str, ...]]) -> dict[str, float]:
    """detect.rank.<model>.<class>, detect.doc_freq.<model>.<class>, and erm-minus-balanced differences
    (doc_freq: erm - balanced; rank: balanced - erm, so both are positive when ERM names the background more)."""
    metrics: dict[str, float] = {}
    for model, by_class in stats_by_model.items():
        for name, stats in by_class.items():
            rank, freq = word_rank(stats, planted[name])
            metrics[f"detect.rank.{model}.{name}"] = float(rank)
            metrics[f"detect.doc_freq.{model}.{name}"] = float(freq)
    if {"erm", "balanced"} <= set(stats_by_model):
        classes = sorted(set(stats_by_model["erm"]) & set(stats_by_model["balanced"]))
        for name in classes:
            metrics[f"detect.doc_freq_difference.{name}"] = metrics[f"detect.doc_freq.erm.{name}"] - metrics[f"detect.doc_freq.balanced.{name}"]
            metrics[f"detect.rank_difference.{name}"] = metrics[f"detect.rank.balanced.{name}"] - metrics[f"detect.rank.erm.{name}"]
        if classes:
            metrics["detect.doc_freq_difference.mean"] = float(np.mean([metrics[f"detect.doc_freq_difference.{c}"] for c in classes]))
    return metrics
