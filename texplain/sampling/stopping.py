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

The rule is a policy, ``AdaptiveStopping``: it is handed a draw function (sentences first .. first+count-1
of some images) and decides when each image has enough, so it knows nothing of decoders or engines and
the sampler (sampler.py) is the one that calls it. Each image's stop is kept as a ``StopRecord``
(sentences used, chunks drawn, the predicted agreement at the stop), which the harness writes beside the
image's sentences in samples.jsonl. ``replay`` applies the same rule to sentences already drawn.

Fixed N stays the default (paper parity); this is ``SamplingConfig(stopping="adaptive")``.
"""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Callable, Sequence

import numpy as np

from texplain.sampling.config import SamplingConfig
from texplain.words import content_words

REPLICATES = 200
CANDIDATES_PER_K = 4  # words beyond rank 4k in the drawn sentences are taken as out of reach of the top-k

# draw(images, first, count): sentences first .. first + count - 1 of each listed image (its position in
# the seeds handed to AdaptiveStopping.sample), one list per image, in order.
DrawChunk = Callable[[list[int], int, int], list[list[str]]]


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
    overlap = _top_k_masks(final, alphabetical, k)[:, :k].sum(-1)  # candidates 0..k-1 are the current top-k
    return float(np.mean(overlap / (2 * k - overlap))), top


def _top_k_masks(counts: np.ndarray, alphabetical: np.ndarray, k: int) -> np.ndarray:
    """Which candidates are in the top-k of each row of document counts (..., M), ties by word as WordStats.top_k."""
    flat = counts.reshape(-1, counts.shape[-1])
    order = np.lexsort((np.broadcast_to(alphabetical, flat.shape), -flat), axis=-1)[:, :k]  # (rows, k)
    masks = np.zeros(flat.shape, dtype=bool)
    np.put_along_axis(masks, order, True, axis=-1)
    return masks.reshape(counts.shape)


def predicted_agreement_path(drawn: _DrawnWords, k: int, total: int, seed: int, step: int) -> tuple[np.ndarray, np.ndarray]:
    """The predicted top-k Jaccard with the final (``total``-sentence) top-k if one stopped now or after
    ``step``, ``2 * step``, ... more sentences: (sentences at each point, mean Jaccard at each point).

    The same Bayesian bootstrap as ``predicted_agreement``, but the undrawn sentences are simulated in order,
    segment by segment, so each replicate is a whole possible future: its top-k at every point is compared
    with its own final top-k. The first point is now (the current top-k, as ``predicted_agreement``), the
    last is ``total`` (agreement 1)."""
    n = len(drawn.sets)
    points = np.array(sorted({*range(n, total, step), total}), dtype=np.int64)
    candidates = drawn.top_words(CANDIDATES_PER_K * k)
    if n >= total or len(candidates) <= k:
        return points, np.ones(len(points))
    contains = np.array([[word in words for word in candidates] for words in drawn.sets], dtype=np.float64)  # (n, M)
    rng = np.random.default_rng([seed & 0xFFFFFFFFFFFFFFFF, n, 1])
    weights = rng.dirichlet(np.ones(n), size=REPLICATES)  # (R, n)
    # Document counts at each point: now, then after each simulated segment.
    segments = np.stack([rng.multinomial(int(size), weights) @ contains for size in np.diff(points)], axis=1)  # (R, S, M)
    counts = contains.sum(0) + np.concatenate([np.zeros_like(segments[:, :1]), segments.cumsum(axis=1)], axis=1)  # (R, S+1, M)
    alphabetical = np.argsort(np.argsort(np.array(candidates)))
    masks = _top_k_masks(counts, alphabetical, k)  # (R, S+1, M)
    masks[:, 0] = False
    masks[:, 0, :k] = True  # now: the current top-k itself (candidates are in rank order)
    overlap = (masks & masks[:, -1:]).sum(-1)  # (R, S+1)
    return points, (overlap / (2 * k - overlap)).mean(0)


def _check_seed(seed: int) -> int:
    return int.from_bytes(hashlib.sha256(f"adaptive-stopping:{seed}".encode()).digest()[:8], "little")




@dataclasses.dataclass(frozen=True)
class StopRecord:
    """How adaptive stopping ended for one image."""

    sentences: int  # sentences drawn, all of them used
    chunks: int  # chunks drawn (one check after each, from the second chunk on)
    agreement: float | None  # predicted top-k agreement at the last check; None when no check ran
    stopped_early: bool  # True: the agreement reached the target; False: all num_sentences were drawn
    top_k: list[str]  # the image's top-k words over the sentences drawn
    reason: str = "cap"  # agreement: the target was reached; gain: more sentences were predicted to gain too little; cap: all drawn

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class AdaptiveStopping:
    """The stopping rule of this file: draw ``chunk`` sentences at a time, stop once the predicted top-k
    Jaccard with the result of all ``max_sentences`` reaches ``agreement`` (checked from the second chunk on)."""

    top_k: int
    chunk: int
    agreement: float
    max_sentences: int
    gain: float = 0.0  # also stop when no number of further sentences is predicted to raise the agreement by this much per 100 (0: off)

    @classmethod
    def from_config(cls, config: SamplingConfig) -> "AdaptiveStopping":
        return cls(top_k=config.stop_top_k, chunk=config.stop_chunk, agreement=config.stop_agreement, max_sentences=config.num_sentences,
                   gain=config.stop_gain)

    def _gain_too_small(self, drawn: _DrawnWords, seed: int) -> bool:
        """True when the best predicted agreement gain per 100 further sentences, over every later stopping
        point up to max_sentences, is below ``gain``: an image whose top-k sits in a near-tie that only many
        more sentences could break stops, the budget goes to images that are close to settling."""
        points, path = predicted_agreement_path(drawn, self.top_k, self.max_sentences, seed, self.chunk)
        slopes = (path[1:] - path[0]) / (points[1:] - points[0]) * 100.0
        return slopes.size == 0 or float(slopes.max()) < self.gain

    def sample(self, draw: DrawChunk, seeds: Sequence[int]) -> tuple[list[list[str]], list[StopRecord]]:
        """Sentences for each image (one seed each), drawn chunk by chunk through ``draw`` until each
        image's top-k words are predicted to be final or ``max_sentences`` are drawn, and each stop's record.

        The next chunk of every unsettled image is asked for in one call, so the batch stays wide while
        images remain. The seeds only seed the checks' replicates (a stop is reproducible)."""
        count = len(seeds)
        sentences: list[list[str]] = [[] for _ in range(count)]
        drawn = [_DrawnWords() for _ in range(count)]
        chunks = [0] * count
        agreements: list[float | None] = [None] * count
        reasons = ["cap"] * count
        active = list(range(count))
        while active:
            # Every active image has drawn the same number of sentences (whole chunks until the last).
            done = len(sentences[active[0]])
            size = min(self.chunk, self.max_sentences - done)
            new = draw(active, done, size)
            if len(new) != len(active) or any(len(image_sentences) != size for image_sentences in new):
                got = [len(image_sentences) for image_sentences in new]
                raise ValueError(f"draw({active}, {done}, {size}) must return {size} sentences for each of {len(active)} images, got {got}")
            still = []
            for b, image_sentences in zip(active, new):
                sentences[b] += image_sentences
                drawn[b].add(image_sentences)
                chunks[b] += 1
                if len(sentences[b]) >= self.max_sentences:
                    continue  # all drawn: nothing left that could change the top-k
                if len(drawn[b].sets) >= 2 * self.chunk:
                    agreements[b], _ = predicted_agreement(drawn[b], self.top_k, self.max_sentences, _check_seed(seeds[b]))
                    if agreements[b] >= self.agreement:
                        reasons[b] = "agreement"
                        continue
                    if self.gain > 0 and self._gain_too_small(drawn[b], _check_seed(seeds[b])):
                        reasons[b] = "gain"
                        continue
                still.append(b)
            active = still
        records = [
            StopRecord(
                sentences=len(sentences[b]),
                chunks=chunks[b],
                agreement=agreements[b],
                stopped_early=len(sentences[b]) < self.max_sentences,
                top_k=drawn[b].top_words(self.top_k),
                reason=reasons[b],
            )
            for b in range(count)
        ]
        return sentences, records

    def replay(self, sentences: Sequence[str], seed: int) -> StopRecord:
        """Where this rule stops on sentences already drawn (a fixed-N run with this image seed, in order),
        without sampling again: the sentences stand in for the draws."""
        if len(sentences) < self.max_sentences:
            raise ValueError(f"replay needs the {self.max_sentences} sentences of a fixed-N run (max_sentences), got {len(sentences)}")
        _, (record,) = self.sample(lambda images, first, count: [list(sentences[first : first + count])], [seed])
        return record
