"""BLEU-4 (Papineni et al. 2002) and CIDEr-D (Vedantam et al. 2015) from pycocoevalcap 1.2, as extras
beside TExplain Table 1's ROUGE, METEOR and cosine.

- ``bleu4``: pycocoevalcap's corpus-level ``Bleu(4)`` (brevity penalty against the closest reference
  length) over a set's segments: a set's score is one corpus BLEU over them, not a mean.
- ``cider_d``: pycocoevalcap's ``Cider`` (CIDEr-D: TF-IDF n-grams 1..4, clipped counts, Gaussian length
  penalty sigma 6, times 10). Its IDF comes from the reference sets of the segments it is given, with
  ``log(number of segments)`` as the document count: here every call gets all segments of one scored set
  (all images, or all categories), so the IDF is over that set's references. An image's sentences all
  carry the same references, and every image has the same number of sentences, so repeating an image's
  references once per sentence scales every document frequency and the document count alike and leaves
  the IDF that of the images' reference sets. One image (or category) alone scores 0.
"""

from __future__ import annotations

import numpy as np

from contracts.metrics import HIGHER, METRICS
from harness.metrics.captions.scored_set import ScoredSet


def bleu4(segments: list[tuple[str, list[str]]]) -> float:
    """Corpus BLEU-4 of tokenized (hypothesis, references) segments."""
    from pycocoevalcap.bleu.bleu import Bleu

    gts = {i: references for i, (_, references) in enumerate(segments)}
    res = {i: [hypothesis] for i, (hypothesis, _) in enumerate(segments)}
    score, _ = Bleu(4).compute_score(gts, res, verbose=0)
    return float(score[3])


def cider_d(segments: list[tuple[str, list[str]]]) -> list[float]:
    """CIDEr-D of each tokenized segment, with the IDF over all the segments' references."""
    from pycocoevalcap.cider.cider import Cider

    gts = {i: references for i, (_, references) in enumerate(segments)}
    res = {i: [hypothesis] for i, (hypothesis, _) in enumerate(segments)}
    _, scores = Cider().compute_score(gts, res)
    return [float(s) for s in scores]


@METRICS.per_set(
    "caption.bleu4", HIGHER,
    "BLEU-4 (pycocoevalcap's corpus BLEU, closest reference length) over the segments",
    "pycocoevalcap", {"n": 4, "brevity_penalty": "closest"},
)
def score_bleu4(scored: ScoredSet) -> tuple[dict[str, float], float]:
    return {k: bleu4(scored.segments[k]) for k in scored.keys}, bleu4(scored.all_segments())


@METRICS.per_set(
    "caption.cider_d", HIGHER,
    "CIDEr-D (pycocoevalcap: n 1..4, sigma 6, x10) with IDF over the references of the whole scored set; mean over segments",
    "pycocoevalcap", {"n": 4, "sigma": 6.0, "idf": "references of the whole scored set"},
)
def score_cider_d(scored: ScoredSet) -> tuple[dict[str, float], float]:
    scores = iter(cider_d(scored.all_segments()))
    return scored.mean_over_keys({k: float(np.mean([next(scores) for _ in scored.segments[k]])) for k in scored.keys})
