"""Counter-based random numbers for the sampler: every uniform is a pure function of
(image seed, sentence index, step).

Why counter-based and not a stateful generator: an image's sentences must not depend on the batch
they were sampled in, on the chunk size, on which other images share the batch, or on how many
processes share the work (docs/design.md#determinism-and-scale-out: same seed, same words). A generator's stream depends on
how many numbers were drawn before; a hash of the counter does not. The hash is splitmix64 (Steele,
Lea and Flood, "Fast splittable pseudorandom number generators", OOPSLA 2014), applied twice: once to
mix the sentence index into the seed, once to mix in the step. The image seed itself derives from the
run seed and the image's id (``image_seed``).
"""

from __future__ import annotations

import hashlib

import numpy as np
import torch

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


def image_seed(run_seed: int, image_id: str) -> int:
    """A 64-bit seed for one image, from the run seed and the image's id."""
    return int.from_bytes(hashlib.sha256(f"{run_seed}:{image_id}".encode()).digest()[:8], "little")


def splitmix64(x: np.ndarray) -> np.ndarray:
    """The splitmix64 finaliser, elementwise on uint64 (wrapping arithmetic is the point, not a bug)."""
    with np.errstate(over="ignore"):
        z = x + _GOLDEN
        z = (z ^ (z >> np.uint64(30))) * _MIX1
        z = (z ^ (z >> np.uint64(27))) * _MIX2
        return z ^ (z >> np.uint64(31))


def counter_uniforms(seed, sentence_index: np.ndarray, step) -> torch.Tensor:
    """Uniforms in [0, 1), one per sentence, a pure function of (seed, sentence index, step).

    ``seed`` and ``step`` are scalars or arrays matching ``sentence_index`` (rows of different images
    and at different steps share a batch in the static engine)."""
    seed = np.asarray(seed, dtype=np.uint64)
    step = np.asarray(step, dtype=np.uint64)
    with np.errstate(over="ignore"):
        key = splitmix64(seed + splitmix64(np.asarray(sentence_index).astype(np.uint64)))
        bits = splitmix64(key + step)
    # The top 53 bits make a double in [0, 1) with every value equally likely.
    return torch.from_numpy(np.asarray((bits >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))).reshape(-1))
