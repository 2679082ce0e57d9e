"""Weights on the caption tokens of the training loss: uniform (the paper) or by inverse document frequency.

TExplain trains the translator with the LM's mean token cross-entropy on captions (paper, Section 3),
every token counting the same. In a caption of ~25 tokens the object word is one token; the template
words ("a", "photo", "of", "the") and the end-of-sentence token occur in every caption and carry most of
the loss, though no image feature is needed to predict them, so the object word's share of the gradient is
small. ``idf`` weighs each target
token by scikit-learn's smoothed inverse document frequency over the training captions,
``log((1 + n) / (1 + df)) + 1`` (a token in every caption: 1; in a sixth of 624 captions: 2.8), and the
loss is the weighted mean. It reads the captions only, never a label: a word that is rare across
captions (an object, a background, a colour) weighs more whatever it names. Validation loss stays the
unweighted mean, so runs with either weighting compare on one scale.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Callable

import torch

TOKEN_WEIGHTINGS = ("uniform", "idf")


def check_token_weighting(weighting: str) -> None:
    """The one place an unknown weighting is refused (TrainConfig checks at construction, before any work)."""
    if weighting not in TOKEN_WEIGHTINGS:
        raise ValueError(f"unknown train.token_weighting {weighting!r}; choose one of {', '.join(TOKEN_WEIGHTINGS)}")


def idf_token_weights(caption_ids: list[list[int]]) -> torch.Tensor:
    """(V,) weight per token id, V = 1 + the largest id seen; ids no caption holds get 1."""
    if not caption_ids:
        raise ValueError("idf token weights need at least one caption")
    document_frequency = Counter(token for ids in caption_ids for token in set(ids))
    n = len(caption_ids)
    weights = torch.ones(1 + max(document_frequency))
    for token, df in document_frequency.items():
        weights[token] = math.log((1 + n) / (1 + df)) + 1.0
    return weights


def caption_token_weights(weighting: str, captions: list[str], caption_ids: Callable[[str], list[int]]) -> torch.Tensor | None:
    """The weights of one weighting for these training captions (None: uniform, the plain mean)."""
    check_token_weighting(weighting)
    if weighting == "uniform":
        return None
    return idf_token_weights([caption_ids(caption) for caption in captions])


def weighted_token_mean(token_losses: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor | None) -> torch.Tensor:
    """Mean of per-token losses (M,), weighted by the target tokens' weights when there are any."""
    if weights is None:
        return token_losses.mean()
    w = weights.to(token_losses.device)[targets]
    return (token_losses * w).sum() / w.sum()
