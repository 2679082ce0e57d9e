"""One scored set of explanations against captions, as every caption metric reads it (TExplain Section 4.3,
Table 1).

A scored set maps keys (image ids, or category names) to hypotheses (the sentences TExplain sampled for
that key) and references (the captions of that key). Each hypothesis sentence is one *segment*, scored
against all references of its key. The texts are cleaned once; the tokenized form (one tokenizer call for
hypotheses and references together, so PTB starts one JVM) is made only when a metric first asks for it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from harness.metrics.captions.text import clean, tokenize


@dataclass
class ScoredSet:
    hypotheses: dict[str, list[str]]
    references: dict[str, list[str]]
    config: object  # the CaptionMetricsConfig (harness/metrics/captions/__init__.py) that chose the metrics
    meteor: object | None = None  # a running MeteorJar to reuse across sets, or None (a metric starts its own)
    keys: list[str] = field(init=False)

    def __post_init__(self) -> None:
        self.keys = list(self.hypotheses)

    @cached_property
    def raw_hypotheses(self) -> dict[str, list[str]]:
        return {k: [clean(t) for t in self.hypotheses[k]] for k in self.keys}

    @cached_property
    def raw_references(self) -> dict[str, list[str]]:
        return {k: [clean(t) for t in self.references[k]] for k in self.keys}

    @cached_property
    def segments(self) -> dict[str, list[tuple[str, list[str]]]]:
        """key -> [(tokenized hypothesis, tokenized references of the key)], one per hypothesis sentence."""
        joined = tokenize(
            {**{("h", k): self.raw_hypotheses[k] for k in self.keys}, **{("r", k): self.raw_references[k] for k in self.keys}},
            self.config.tokenizer,
        )
        return {k: [(h, joined[("r", k)]) for h in joined[("h", k)]] for k in self.keys}

    def all_segments(self) -> list[tuple[str, list[str]]]:
        return [segment for k in self.keys for segment in self.segments[k]]

    def mean_over_segments(self, segment_value) -> tuple[dict[str, float], float]:
        """Each key's mean of segment_value(hypothesis, references) over its segments, and the mean over keys."""
        return self.mean_over_keys({k: float(np.mean([segment_value(h, r) for h, r in self.segments[k]])) for k in self.keys})

    @staticmethod
    def mean_over_keys(values: dict[str, float]) -> tuple[dict[str, float], float]:
        return values, float(np.mean(list(values.values())))
