"""Nucleus sampling of N sentences per image from the frozen decoder (paper, Section 3: top-p = 0.95,
N = 1000 sentences of 20-30 words per image).

Reproducibility without coupling: every random number is a pure function of
(image seed, sentence index, step), computed with a counter-based hash (splitmix64). So an image's
sentences do not depend on the batch they were sampled in, on the chunk size, or on how many
processes share the work; the image seed itself derives from the run seed and the image's id.

Each step draws one uniform u per sentence and inverts the CDF of the nucleus: tokens sorted by
probability, the smallest prefix whose mass reaches p kept (the token that crosses p included),
renormalised. Length is counted in words as ``text.split()`` would count chunks holding a letter or digit
(decoders.base.FrozenDecoder.starts_chunk_mask): EOS is forbidden below ``min_words``; at
``max_words`` a token that would start another word ends the sentence instead. A token cap
(``SamplingConfig.max_tokens``) stops pathological runs and then wins over ``min_words``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import torch

from texplain.decoders.base import FrozenDecoder

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


@dataclass(frozen=True)
class SamplingConfig:
    num_sentences: int = 1000
    top_p: float = 0.95
    temperature: float = 1.0
    min_words: int = 20
    max_words: int = 30
    batch_size: int = 100  # sentences per forward pass; does not change the output

    def __post_init__(self):
        if not 0.0 < self.top_p <= 1.0:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {self.temperature}")
        if not 0 <= self.min_words <= self.max_words:
            raise ValueError(f"need 0 <= min_words <= max_words, got {self.min_words} and {self.max_words}")
        if self.num_sentences < 1 or self.batch_size < 1:
            raise ValueError("num_sentences and batch_size must be >= 1")

    @property
    def max_tokens(self) -> int:
        # English words average ~1.3 tokens; the bound only stops pathological runs (dates, code, emoji),
        # and for those it wins over min_words.
        return 2 * self.max_words + 8


def image_seed(run_seed: int, image_id: str) -> int:
    """A 64-bit seed for one image, from the run seed and the image's id."""
    return int.from_bytes(hashlib.sha256(f"{run_seed}:{image_id}".encode()).digest()[:8], "little")


def _splitmix64(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        z = x + _GOLDEN
        z = (z ^ (z >> np.uint64(30))) * _MIX1
        z = (z ^ (z >> np.uint64(27))) * _MIX2
        return z ^ (z >> np.uint64(31))


def counter_uniforms(seed: int, sentence_index: np.ndarray, step: int) -> torch.Tensor:
    """Uniforms in [0, 1), one per sentence, a pure function of (seed, sentence index, step)."""
    with np.errstate(over="ignore"):
        key = _splitmix64(np.uint64(seed) + _splitmix64(sentence_index.astype(np.uint64)))
        bits = _splitmix64(key + np.uint64(step))
    return torch.from_numpy((bits >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53)))


def nucleus_probabilities(logits: torch.Tensor, top_p: float, temperature: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Reference: sorted, nucleus-truncated, renormalised probabilities (B, V) and their token ids (B, V).

    The smallest prefix of the descending order whose mass reaches top_p is kept (the token that
    crosses top_p included). The sampler does the same without always sorting in full.
    """
    probs = torch.softmax(logits.double() / temperature, dim=-1)
    sorted_probs, order = probs.sort(dim=-1, descending=True)
    mass_before = sorted_probs.cumsum(-1) - sorted_probs
    sorted_probs = sorted_probs * (mass_before < top_p)
    return sorted_probs / sorted_probs.sum(-1, keepdim=True), order


def _invert_nucleus(sorted_probs: torch.Tensor, order: torch.Tensor, uniforms: torch.Tensor, top_p: float) -> torch.Tensor:
    """Token ids (B,) from probabilities sorted in descending order (B, W) and their ids (B, W)."""
    sorted_probs = sorted_probs.double()
    mass_before = sorted_probs.cumsum(-1) - sorted_probs
    kept = sorted_probs * (mass_before < top_p)  # keeps the token that crosses top_p
    cdf = kept.cumsum(-1)  # (B, W), unnormalised
    targets = uniforms.to(cdf.dtype)[:, None] * cdf[:, -1:]
    position = torch.searchsorted(cdf, targets, right=True)  # first cdf > u * total
    kept_count = (kept > 0).sum(-1, keepdim=True)
    position = torch.minimum(position, kept_count - 1)  # rounding guard
    return order.gather(-1, position).squeeze(-1)


def sample_from_uniforms(logits: torch.Tensor, uniforms: torch.Tensor, top_p: float, temperature: float = 1.0, fast_k: int = 1024) -> torch.Tensor:
    """Token ids (B,) by inverting the nucleus CDF (tokens in descending probability) at uniforms (B,).

    Sorting the whole vocabulary (49k for SmolLM2) costs about a third of the LM's forward pass, so
    rows whose top ``fast_k`` tokens already hold ``top_p`` of the mass (the nucleus lies inside them)
    use a partial sort; only the other rows are sorted in full. Both give the same nucleus.
    """
    probs = torch.softmax(logits.float() / temperature, dim=-1)  # (B, V)
    chosen = torch.empty(probs.shape[0], dtype=torch.long, device=probs.device)
    fast = torch.zeros(probs.shape[0], dtype=torch.bool, device=probs.device)
    if fast_k < probs.shape[-1]:
        top_probs, top_order = probs.topk(fast_k, dim=-1, sorted=True)
        fast = top_probs.double().sum(-1) >= top_p
        if bool(fast.any()):
            chosen[fast] = _invert_nucleus(top_probs[fast], top_order[fast], uniforms[fast.cpu()], top_p)
    slow = ~fast
    if bool(slow.any()):
        sorted_probs, order = probs[slow].sort(dim=-1, descending=True)
        chosen[slow] = _invert_nucleus(sorted_probs, order, uniforms[slow.cpu()], top_p)
    return chosen


@torch.no_grad()
def sample_sentences(decoder: FrozenDecoder, conditioning: torch.Tensor, seed: int, config: SamplingConfig) -> list[str]:
    """N sentences for one image; conditioning is the translator output (k, d) for that image."""
    if conditioning.ndim != 2 or conditioning.shape[1] != decoder.conditioning_dim:
        raise ValueError(f"conditioning must be (k, {decoder.conditioning_dim}), got {tuple(conditioning.shape)}")
    starts_chunk = decoder.starts_chunk_mask().to(decoder.device)
    has_word_char = decoder.has_word_char_mask().to(decoder.device)
    ends_in_space = decoder.ends_in_space_mask().to(decoder.device)
    banned = torch.tensor(decoder.banned_token_ids(), dtype=torch.long, device=decoder.device)
    eos = decoder.eos_token_id
    sentences: list[str] = []
    for start in range(0, config.num_sentences, config.batch_size):
        indices = np.arange(start, min(start + config.batch_size, config.num_sentences))
        tokens: list[list[int]] = [[] for _ in indices]
        cond = conditioning.to(decoder.device)[None].expand(len(indices), -1, -1)  # (R, k, d)
        logits, cache = decoder.prefill(cond)  # (R, V)
        # State of the rows still being sampled; finished rows are retired from the batch (and the cache).
        active = torch.arange(len(indices), device=decoder.device)
        words = torch.zeros(len(indices), dtype=torch.long, device=decoder.device)
        # Whether the current whitespace-delimited chunk already holds a letter or digit (then it is a word).
        chunk_has_word = torch.zeros(len(indices), dtype=torch.bool, device=decoder.device)
        for step in range(config.max_tokens):
            logits = logits.float()
            if len(banned):
                logits[:, banned] = float("-inf")
            logits[words < config.min_words, eos] = float("-inf")
            uniforms = counter_uniforms(seed, indices[active.cpu().numpy()], step)
            chosen = sample_from_uniforms(logits, uniforms, config.top_p, config.temperature).to(decoder.device)
            # Words are counted as text.split() would: a chunk becomes a word at its first letter or digit.
            continues_word = chunk_has_word & ~starts_chunk[chosen]
            starts_word = has_word_char[chosen] & ~continues_word
            # A token that would begin word max_words+1 ends the sentence instead of being kept.
            ends = (chosen == eos) | (starts_word & (words >= config.max_words))
            if step == config.max_tokens - 1:
                ends = torch.ones_like(ends)
            keep = ~ends
            for row, token in zip(active[keep].tolist(), chosen[keep].tolist()):
                tokens[row].append(token)
            if not bool(keep.any()):
                break
            words = (words + starts_word.long())[keep]
            chunk_has_word = ((continues_word | has_word_char[chosen]) & ~ends_in_space[chosen])[keep]
            if not bool(keep.all()):
                cache = decoder.select_rows(cache, torch.nonzero(keep).flatten())
            active = active[keep]
            logits, cache = decoder.extend(cache, chosen[keep])
        sentences.extend(decoder.decode(row_tokens) for row_tokens in tokens)
    return sentences
