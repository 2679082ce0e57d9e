"""Permutation control: each image gets the run's explanation of another held-out image (a random
derangement from the run's seed). Scored against each image's own truth, it is the null of any
per-image metric: what an explanation scores when it is about some other image of the same run."""

from __future__ import annotations

import numpy as np

from contracts.explainers import EXPLAINERS, ExplainerInputs, WordExplainer
from texplain.words import WordStats


def derangement(count: int, seed: int) -> list[int]:
    """A permutation of range(count) that moves every index (count >= 2), drawn from `seed`."""
    if count < 2:
        raise ValueError(f"a derangement needs at least two items, got {count}")
    rng = np.random.default_rng(seed)
    while True:  # about e tries on average
        order = rng.permutation(count)
        if not np.any(order == np.arange(count)):
            return [int(i) for i in order]


@EXPLAINERS.add
class Permuted(WordExplainer):
    name = "permuted"
    definition = "each image gets the run's explanation of another held-out image (a random derangement from the run's seed)"
    reads_image = False  # not its own image
    reads_classifier = True

    def explain(self, inputs: ExplainerInputs) -> dict[str, WordStats] | None:
        ids = list(inputs.image_ids)
        if len(ids) < 2:
            return None
        order = derangement(len(ids), inputs.seed)
        return {image_id: inputs.texplain[ids[other]] for image_id, other in zip(ids, order)}
