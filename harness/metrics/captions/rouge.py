"""ROUGE-L (Lin, "ROUGE: A Package for Automatic Evaluation of Summaries", 2004) in the two definitions
caption papers use, each labelled (TExplain Table 1 reports "ROUGE" without saying which):

- ``rouge_l_coco``: pycocoevalcap 1.2's ``Rouge`` (the COCO caption evaluation). Over PTB tokens, for one
  hypothesis and several references, the longest common subsequence gives a precision and a recall per
  reference; the best precision and the best recall are taken *independently* (possibly from different
  references) and combined as F with beta = 1.2. A set's score is the mean over its images.
- ``rouge_l_f1``: Google's ``rouge-score`` (what HF ``evaluate``'s "rouge" reports): its own tokenizer
  (lowercase, every non-alphanumeric character a space, no stemming as evaluate's default), F-measure with
  beta = 1, and with several references the single reference of the highest F (``score_multi``).

Both are computed by their libraries; this file only feeds them the texts of a segment (one hypothesis
sentence against the references of its image).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from contracts.metrics import HIGHER, METRICS
from harness.metrics.captions.scored_set import ScoredSet


def rouge_l_coco(hypothesis: str, references: list[str]) -> float:
    """pycocoevalcap's ROUGE-L of one tokenized hypothesis against tokenized references (0..1)."""
    from pycocoevalcap.rouge.rouge import Rouge

    return float(Rouge().calc_score([hypothesis], references))


@lru_cache(maxsize=4)
def _rouge_score_scorer(use_stemmer: bool):
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(["rougeL"], use_stemmer=use_stemmer)


def rouge_l_f1(hypothesis: str, references: list[str], use_stemmer: bool = False) -> float:
    """rouge-score's ROUGE-L F-measure of one raw hypothesis against raw references, best single reference."""
    return float(_rouge_score_scorer(use_stemmer).score_multi(references, hypothesis)["rougeL"].fmeasure)


@METRICS.per_set(
    "caption.rouge_l_coco", HIGHER,
    "ROUGE-L as pycocoevalcap 1.2 computes it: LCS over the tokenized text, best precision and best recall over the references taken independently, F with beta 1.2; mean over segments",
    "pycocoevalcap", {"beta": 1.2, "multi_reference": "independent max precision and max recall"},
)
def score_rouge_l_coco(scored: ScoredSet) -> tuple[dict[str, float], float]:
    return scored.mean_over_segments(rouge_l_coco)


@METRICS.per_set(
    "caption.rouge_l_f1", HIGHER,
    "ROUGE-L as rouge-score (and HF evaluate) computes it: its own tokenizer, F-measure with beta 1 against the single best reference; mean over segments",
    "rouge-score", {"beta": 1.0, "multi_reference": "best single reference (score_multi)"},
)
def score_rouge_l_f1(scored: ScoredSet) -> tuple[dict[str, float], float]:
    stemmer = scored.config.rouge_use_stemmer
    return scored.mean_over_keys({
        k: float(np.mean([rouge_l_f1(h, scored.raw_references[k], stemmer) for h in scored.raw_hypotheses[k]])) for k in scored.keys
    })
