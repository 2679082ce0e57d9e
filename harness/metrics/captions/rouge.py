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
