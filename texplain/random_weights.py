"""Random weights for dry runs: a model built at its real shapes with seeded random weights instead of its
trained ones (``models.random_weights`` in a run config).

A dry run proves the code path a user with a GPU and the weights will take (shapes, memory, seconds per
step) on a machine that has neither. Its sentences and words mean nothing, so everything built this way
says so: the classifier's and the decoder's identities carry ``"random_weights": true`` (and so do the
translator checkpoint, the feature cache key and the run's metrics), and a translator trained on random
weights is never mistaken for one trained on the real ones (their weights hashes differ).

The weights are drawn from a fixed seed inside a forked random state: the same model gets the same
weights in every process (so reruns reuse their cached stages), and the caller's random stream is not
moved (a run's seeds stay what they are without the dry run).
"""

from __future__ import annotations

import contextlib
from typing import Iterator

import torch

RANDOM_WEIGHTS_SEED = 0
# What reports and logs say about a run on random weights.
RANDOM_WEIGHTS_NOTE = "random weights (a dry run of the code path at the real shapes): the sentences and words mean nothing"


@contextlib.contextmanager
def seeded_weights(seed: int = RANDOM_WEIGHTS_SEED) -> Iterator[None]:
    """Build models inside this block to draw their initial weights from `seed`, leaving the global
    random state as it was before the block."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield
