"""The CPU kernel of nucleus sampling (paper, Section 3: top-p = 0.95), without sorting the vocabulary.

``texplain.sampling.sample_from_uniforms`` inverts the nucleus CDF: tokens in descending probability
(ties by token id), the smallest prefix whose mass reaches top_p kept (the token that crosses it
included), renormalised, and the first token whose cumulative mass exceeds ``u * nucleus mass`` chosen.
With torch ops on a CPU this cost about as much as the language model's forward pass (measured: 212-257 ms
for 256 rows of SmolLM2's 49,152 logits, against ~270 ms for the forward in bf16), because a small LM's
nucleus is wide (median 239 tokens, 99th percentile 3,824 on SmolLM2) and torch sorts, masks and
gathers the whole vocabulary several times.

Here, one row at a time (rows in parallel, compiled by numba):

1. one pass buckets the probabilities by the top bits of their float bit pattern (exponent and three
   mantissa bits: eight buckets per octave, monotone in the value) and sums each bucket's mass;
2. walking the buckets from the top finds the first bucket where the mass reaches top_p (plus a margin
   far above rounding); only tokens in that bucket or above can be in the nucleus;
3. those candidates, collected in token-id order, are sorted by a stable sort on descending probability,
   so ties stay in id order: exactly the full sort's order on that prefix;
4. the nucleus and the inversion use the torch path's arithmetic in the same order (float64 running
   sums, ``mass_before = cumsum - p``).

Two entry points:

- ``sample_from_probabilities``: float32 probabilities from torch's softmax. The chosen token equals the
  torch path's, bit for bit (tested).
- ``sample_from_bf16_logits``: bf16 logits straight from a bf16 LM head. A bf16 number has 65,536 bit
  patterns, so exp() of every one is tabulated once and a row's softmax is a table lookup, a max and a
  float64 sum: no float32 copy of the (rows, vocabulary) logits and no softmax pass (together ~30 ms a
  step at 256 rows). Probabilities are float64 here and float32 in torch's softmax; float32
  normalisation can move the edge of a wide nucleus by a token, and then the token can differ from the
  torch path's (measured: 12 of 4,608 draws on real SmolLM2 logits; every token inside the float64
  reference nucleus, tested). The distribution is the same.

Numba compiles the kernels once per machine (``cache=True`` keeps them on disk). Without numba, or on a
GPU, the torch path in sampling.py runs instead.
"""

from __future__ import annotations

import math

import numpy as np

try:  # numba is a dependency; the torch path remains for GPUs and for a broken numba install
    import numba

    HAVE_NUMBA = True
except Exception:  # pragma: no cover - exercised only where numba cannot be imported
    numba = None
    HAVE_NUMBA = False

# A bucket is the top bits of a positive float's bit pattern (monotone in the value): exponent and three
# mantissa bits, i.e. eight buckets per octave. float32: bits >> 20 (2,048 buckets); float64: bits >> 49.
_SHIFT32, _BUCKETS32 = 20, 1 << 11
_SHIFT64, _BUCKETS64 = 49, 1 << 14
# The candidate set must hold the nucleus for sure: its bucket sums reach top_p by more than any
# difference in float64 summation order could make (~1e-12 for 49k terms).
_MARGIN = 1e-9


def _nucleus_token(p, bits, shift, buckets, uniform, top_p):  # pragma: no cover - compiled
    """The token for one row of probabilities p (V,), float32 or float64, at one uniform.

    bits: p viewed as integers of its width; bits >> shift is the bucket, in range(buckets)."""
    vocab = p.shape[0]
    mass = np.zeros(buckets, dtype=np.float64)
    for token in range(vocab):
        if p[token] > 0.0:
            mass[bits[token] >> shift] += p[token]
    lowest = 0
    total = 0.0
    for bucket in range(buckets - 1, -1, -1):
        total += mass[bucket]
        if total >= top_p + _MARGIN:
            lowest = bucket
            break
    count = 0
    for token in range(vocab):
        if p[token] > 0.0 and (bits[token] >> shift) >= lowest:
            count += 1
    ids = np.empty(count, dtype=np.int64)
    negated = np.empty(count, dtype=p.dtype)
    filled = 0
    for token in range(vocab):
        if p[token] > 0.0 and (bits[token] >> shift) >= lowest:
            ids[filled] = token
            negated[filled] = -p[token]
            filled += 1
    order = np.argsort(negated, kind="mergesort")  # stable: equal probabilities stay in id order
    # The torch path's arithmetic: mass_before = cumsum - p (float64), kept while mass_before < top_p.
    cdf = np.zeros(count, dtype=np.float64)
    running = 0.0
    kept_running = 0.0
    kept_count = 0
    for i in range(count):
        value = -np.float64(negated[order[i]])
        running += value
        if running - value < top_p:
            kept_running += value
            kept_count += 1
        cdf[i] = kept_running
    if kept_count == 0:  # only for rows with no positive probability, which the sampler never produces
        return ids[order[0]] if count else 0
    target = uniform * cdf[kept_count - 1]
    for i in range(kept_count):
        if cdf[i] > target:
            return ids[order[i]]
    return ids[order[kept_count - 1]]


def _sample_probability_rows(probs, uniforms, top_p, out):  # pragma: no cover - compiled
    for row in numba.prange(probs.shape[0]):
        out[row] = _nucleus_token(probs[row], probs[row].view(np.int32), _SHIFT32, _BUCKETS32, uniforms[row], top_p)


def _sample_bf16_rows(bits, values, exps, uniforms, top_p, limit, out):  # pragma: no cover - compiled
    rows, vocab = bits.shape
    for row in numba.prange(rows):
        b = bits[row]
        largest = -np.inf
        for token in range(vocab):
            largest = max(largest, values[b[token]])
        if not largest < limit or largest == -np.inf:  # the caller takes the torch path for -1
            out[row] = -1
            continue
        scale = math.exp(-largest)
        p = np.empty(vocab, dtype=np.float64)
        total = 0.0
        for token in range(vocab):
            p[token] = exps[b[token]] * scale  # exp(logit - max), in float64
            total += p[token]
        for token in range(vocab):
            p[token] /= total
        out[row] = _nucleus_token(p, p.view(np.int64), _SHIFT64, _BUCKETS64, uniforms[row], top_p)


if HAVE_NUMBA:
    _jit = numba.njit(cache=True, nogil=True)
    _nucleus_token = _jit(_nucleus_token)
    _sample_probability_rows = numba.njit(parallel=True, cache=True, nogil=True)(_sample_probability_rows)
    _sample_bf16_rows = numba.njit(parallel=True, cache=True, nogil=True)(_sample_bf16_rows)

# Every bf16 bit pattern as a float64, and its exp(). Logits beyond +-700 would overflow float64 in
# exp(logit) * exp(-max); such rows are left to the torch path (a language model's logits are far inside).
with np.errstate(over="ignore", invalid="ignore"):  # the NaN patterns cast with a warning; they are replaced
    _BF16_VALUES = (np.arange(1 << 16, dtype=np.uint32) << 16).view(np.float32).astype(np.float64)
    _BF16_VALUES[np.isnan(_BF16_VALUES)] = -np.inf  # a NaN logit must not be sampled
    _BF16_EXPS = np.exp(_BF16_VALUES)
BF16_LOGIT_LIMIT = 700.0


def _require_numba() -> None:
    if not HAVE_NUMBA:
        raise RuntimeError("numba is not installed: `pip install numba`, or use texplain.sampling.sample_from_uniforms, which falls back to torch")


def _numba_threads() -> None:
    # As many threads as torch uses, so the two thread pools do not oversubscribe the cores in turn.
    import torch

    numba.set_num_threads(max(1, min(torch.get_num_threads(), numba.config.NUMBA_NUM_THREADS)))


def sample_from_probabilities(probs: np.ndarray, uniforms: np.ndarray, top_p: float) -> np.ndarray:
    """Token ids (R,) for float32 probabilities (R, V) and float64 uniforms (R,) in [0, 1)."""
    _require_numba()
    _numba_threads()
    probs = np.ascontiguousarray(probs, dtype=np.float32)
    out = np.empty(probs.shape[0], dtype=np.int64)
    _sample_probability_rows(probs, np.ascontiguousarray(uniforms, dtype=np.float64), float(top_p), out)
    return out


def sample_from_bf16_logits(bits: np.ndarray, uniforms: np.ndarray, top_p: float) -> np.ndarray:
    """Token ids (R,) for bf16 logits given as their uint16 bit patterns (R, V), and uniforms (R,);
    -1 for a row whose largest logit is not below BF16_LOGIT_LIMIT (or has none finite)."""
    _require_numba()
    _numba_threads()
    out = np.empty(bits.shape[0], dtype=np.int64)
    _sample_bf16_rows(np.ascontiguousarray(bits, dtype=np.uint16), _BF16_VALUES, _BF16_EXPS,
                      np.ascontiguousarray(uniforms, dtype=np.float64), float(top_p), BF16_LOGIT_LIMIT, out)
    return out
