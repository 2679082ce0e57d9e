"""Adaptive stopping: draw an image's sentences in chunks until drawing the rest would probably not
change its top-k words.

TExplain explains an image by its k most frequent words (document frequency: share of sentences that
contain the word) over N = 1000 sampled sentences (paper, Section 3). Adaptive stopping draws the same
sentences in the same order (sentence i is sentence i of the fixed-N run with the same seed) and stops
at n < N once the top-k of the n drawn is predicted to be the top-k that all N would give.

The prediction is a posterior predictive check with Rubin's Bayesian bootstrap (Ann. Statist. 1981):
after every chunk of ``stop_chunk`` sentences,

1. the n sentences drawn so far are reduced to which of the candidate words (the 4k most frequent)
   each contains;
2. ``REPLICATES`` times, the N - n sentences not drawn yet are simulated: Dirichlet(1, ..., 1) weights
   over the n drawn sentences (uncertainty about the word distribution), then N - n draws with those
   weights (the sampling of the rest);
3. each replicate's final counts (drawn + simulated) give a final top-k, and its Jaccard index with
   the current top-k is taken; the predicted agreement is the mean over replicates;
4. stop when the predicted agreement reaches ``stop_agreement`` (after at least two chunks).

Why this and not a confidence bound on the k-th and (k+1)-th frequencies (LUCB, Kalyanakrishnan et al.
2012; this file's first version): with 20-30-word sentences the words around rank k sit within a few
tenths of a percent of each other, so a bound that separates them needs nearly all N sentences
(measured: 1.33x fewer sentences). What a user needs is the top-k that the fixed-N run would show, and
the sentences not drawn yet are the only thing that can still change it: the check simulates exactly
those. The replicates' randomness comes from the image seed and n, so a stop is reproducible.

Fixed N stays the default (paper parity); this is ``SamplingConfig(stopping="adaptive")``.
"""

from __future__ import annotations

import dataclasses
import hashlib

import numpy as np
import torch

from texplain.words import content_words

REPLICATES = 200
CANDIDATES_PER_K = 4  # words beyond rank 4k in the drawn sentences are taken as out of reach of the top-k


@dataclasses.dataclass
class _DrawnWords:
    """The content-word sets of the sentences drawn so far (lemmatized once per sentence)."""

    sets: list[frozenset[str]] = dataclasses.field(default_factory=list)

    def add(self, sentences: list[str]) -> None:
        self.sets.extend(frozenset(content_words(sentence)) for sentence in sentences)

    def top_words(self, count: int) -> list[str]:
        """The ``count`` words in most sentences, ties by word (as texplain.words.WordStats.top_k)."""
        counts: dict[str, int] = {}
        for words in self.sets:
            for word in words:
                counts[word] = counts.get(word, 0) + 1
        return [word for word, _ in sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:count]]


def predicted_agreement(drawn: _DrawnWords, k: int, total: int, seed: int) -> tuple[float, list[str]]:
    """The mean top-k Jaccard between now and after ``total`` sentences, and the current top-k."""
    n = len(drawn.sets)
    candidates = drawn.top_words(CANDIDATES_PER_K * k)
    top = candidates[:k]
    if n >= total or len(candidates) <= k:  # nothing left to draw, or nothing that could enter the set
        return 1.0, top
    contains = np.array([[word in words for word in candidates] for words in drawn.sets], dtype=np.float64)  # (n, M)
    rng = np.random.default_rng([seed & 0xFFFFFFFFFFFFFFFF, n])
    weights = rng.dirichlet(np.ones(n), size=REPLICATES)  # (R, n)
    future = rng.multinomial(total - n, weights)  # (R, n): how often each drawn sentence stands for an undrawn one
    final = contains.sum(0)[None] + future @ contains  # (R, M) document counts after all `total` sentences
    # Top-k per replicate, ties by word as WordStats.top_k: candidates are in (count desc, word asc) order
    # now, so rank by (final count desc, alphabetical position asc).
    alphabetical = np.argsort(np.argsort(np.array(candidates)))  # (M,)
    order = np.lexsort((np.broadcast_to(alphabetical, final.shape), -final), axis=-1)  # (R, M)
    final_top = order[:, :k]  # (R, k) candidate indices
    overlap = (final_top < k).sum(-1)  # candidates 0..k-1 are the current top-k
    return float(np.mean(overlap / (2 * k - overlap))), top


def _check_seed(seed: int) -> int:
    return int.from_bytes(hashlib.sha256(f"adaptive-stopping:{seed}".encode()).digest()[:8], "little")


def stopping_point(sentences: list[str], config, seed: int) -> int:
    """How many of these sentences (a fixed-N run with this image seed, in order) adaptive stopping
    draws: the rule of ``sample_until_stable`` replayed on growing prefixes, without sampling again."""
    drawn = _DrawnWords()
    limit = min(config.num_sentences, len(sentences))
    while len(drawn.sets) < limit:
        start = len(drawn.sets)
        drawn.add(sentences[start : min(start + config.stop_chunk, limit)])
        if _settled(drawn, config, seed):
            break
    return len(drawn.sets)


def _settled(drawn: _DrawnWords, config, seed: int) -> bool:
    if len(drawn.sets) < 2 * config.stop_chunk:
        return False
    agreement, _ = predicted_agreement(drawn, config.stop_top_k, config.num_sentences, _check_seed(seed))
    return agreement >= config.stop_agreement


def sample_until_stable(decoder, conditionings: torch.Tensor, seeds: list[int], config) -> tuple[list[list[str]], list[dict]]:
    """Sentences for each of B images (conditionings (B, k, d), one seed each), drawn in chunks until each
    image's top-k words are predicted to be final or ``config.num_sentences`` are drawn; and a record of
    each stop (sentences drawn, checks, top-k). The next chunk of every unsettled image is drawn in one
    batched call, so the batch stays wide while images remain."""
    from texplain.sampling import sample_sentences_batch

    count = len(seeds)
    sentences: list[list[str]] = [[] for _ in range(count)]
    drawn = [_DrawnWords() for _ in range(count)]
    checks = [0] * count
    active = list(range(count))
    while active:
        # Every active image has drawn the same number of sentences (whole chunks until the last).
        done = len(sentences[active[0]])
        chunk = min(config.stop_chunk, config.num_sentences - done)
        chunk_config = dataclasses.replace(config, stopping="fixed", num_sentences=chunk, batch_size=min(config.batch_size, chunk * len(active)))
        new = sample_sentences_batch(decoder, conditionings[active], [seeds[b] for b in active], chunk_config, first_index=done)
        still = []
        for b, image_sentences in zip(active, new):
            sentences[b] += image_sentences
            drawn[b].add(image_sentences)
            checks[b] += 1
            if len(sentences[b]) < config.num_sentences and not _settled(drawn[b], config, seeds[b]):
                still.append(b)
        active = still
    records = [{"sentences": len(sentences[b]), "checks": checks[b], "top_k": drawn[b].top_words(config.stop_top_k)} for b in range(count)]
    return sentences, records
