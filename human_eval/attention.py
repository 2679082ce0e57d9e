"""Attention checks of the rating studies (TExplain, Section 4.2, Figure 3; tasks.py says which tasks
they are): each rater's share of checks answered as expected, and the removal of raters below a
threshold (AnalysisSettings.min_check_accuracy, default 0.75; 0 keeps everyone).

A check of study (a) is passed with at most tasks.CHECK_A_TOLERANCE words ticked (its expected answer
is "none of these"); one of study (b) by the expected Yes or No. Checks are pooled over both studies
per rater, since one person rates both; a rater who saw no check is kept, and the summary says so.
Check tasks never enter the study's statistics.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from human_eval.annotations import Rating
from human_eval.label_configs import STUDY_A
from human_eval.tasks import CHECK_A_TOLERANCE


def passed(rating: Rating) -> bool:
    if rating.study == STUDY_A:
        return rating.count is not None and rating.count <= CHECK_A_TOLERANCE
    return rating.answer == rating.expected


@dataclass(frozen=True)
class CheckSummary:
    rater: str
    checks: int
    passed: int

    @property
    def accuracy(self) -> float | None:
        return self.passed / self.checks if self.checks else None


def check_summaries(ratings: list[Rating]) -> dict[str, CheckSummary]:
    tally: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for rating in ratings:
        tally[rating.rater]  # every rater appears, with or without checks
        if rating.check:
            tally[rating.rater][0] += 1
            tally[rating.rater][1] += passed(rating)
    return {rater: CheckSummary(rater, n, ok) for rater, (n, ok) in sorted(tally.items())}


def failing_raters(summaries: dict[str, CheckSummary], min_accuracy: float) -> list[str]:
    return sorted(r for r, s in summaries.items() if s.accuracy is not None and s.accuracy < min_accuracy)
