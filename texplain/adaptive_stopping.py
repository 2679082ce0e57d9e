"""Adaptive stopping: sample an image's sentences in chunks until its top-k word set is settled.

TExplain explains an image by its most frequent words over N = 1000 sentences. The top-k set is
often settled long before that: stop when the document frequencies (share of sentences containing a
word) of the k-th and (k+1)-th words are separated by more than their statistical uncertainty, in the
spirit of PAC top-k identification with an epsilon slack (Kalyanakrishnan et al., ICML 2012, "LUCB").

After every chunk of ``stop_chunk`` sentences (n so far), with f_i the i-th largest document frequency
and z the two-sided normal quantile of ``stop_confidence``:

    half-width of a frequency:  h(f, n) = z * sqrt(f (1 - f) / n) + 1 / n   (Wald interval, with a continuity term)
    settled when               f_k - h(f_k, n) >= f_{k+1} + h(f_{k+1}, n) - slack
    slack                      = h(f_k, N) + h(f_{k+1}, N)

The slack is the uncertainty the fixed-N run itself has at the boundary: two words closer than that
swap places between two N-sentence runs too, so waiting longer cannot make the ranking more
reproducible than the fixed-N reference. The set must also be unchanged since the previous check, and
at least two chunks are drawn. Sentences are numbered as in a fixed-N run, so the first n sentences
here are exactly the first n of the N-sentence run with the same seed.

Fixed N stays the default (paper parity); this is ``SamplingConfig(stopping="adaptive")``.
"""

from __future__ import annotations

import dataclasses
import math
from statistics import NormalDist

import torch

from texplain.words import word_stats


def _half_width(frequency: float, n: int, z: float) -> float:
    return z * math.sqrt(max(frequency * (1.0 - frequency), 0.0) / n) + 1.0 / n


def top_k_settled(sentences: list[str], k: int, confidence: float, max_sentences: int) -> tuple[bool, list[str]]:
    """Whether the top-k words of these sentences are separated from the rest; and that top-k list."""
    stats = word_stats(sentences)
    ranked = stats.top_k(k + 1)
    top = [word for word, _ in ranked[:k]]
    if len(ranked) <= k:  # fewer than k+1 distinct words: nothing can enter the set
        return True, top
    n = len(sentences)
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    f_k, f_next = ranked[k - 1][1], ranked[k][1]
    slack = _half_width(f_k, max_sentences, z) + _half_width(f_next, max_sentences, z)
    return f_k - _half_width(f_k, n, z) >= f_next + _half_width(f_next, n, z) - slack, top


def sample_until_stable(decoder, conditioning: torch.Tensor, seed: int, config) -> tuple[list[str], dict]:
    """Sentences for one image (conditioning (k, d)), drawn in chunks until the top-k words are settled
    or ``config.num_sentences`` are drawn; and a record of the stop (sentences drawn, checks, top-k)."""
    from texplain.sampling import sample_sentences_batch

    chunk_config = dataclasses.replace(config, stopping="fixed")
    sentences: list[str] = []
    previous: list[str] | None = None
    checks = 0
    while len(sentences) < config.num_sentences:
        count = min(config.stop_chunk, config.num_sentences - len(sentences))
        chunk = dataclasses.replace(chunk_config, num_sentences=count, batch_size=min(config.batch_size, count))
        sentences += sample_sentences_batch(decoder, conditioning[None], [seed], chunk, first_index=len(sentences))[0]
        checks += 1
        settled, top = top_k_settled(sentences, config.stop_top_k, config.stop_confidence, config.num_sentences)
        if checks >= 2 and settled and top == previous:
            break
        previous = top
    return sentences, {"sentences": len(sentences), "checks": checks, "top_k": previous}
