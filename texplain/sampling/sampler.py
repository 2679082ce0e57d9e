"""Nucleus sampling of N sentences per image from the frozen decoder (paper, Section 3: top-p = 0.95,
N = 1000 sentences of 20-30 words per image).

Reproducibility without coupling: every random number is a pure function of
(image seed, sentence index, step), computed with a counter-based hash (splitmix64). So an image's
sentences do not depend on the batch they were sampled in, on the chunk size, on which other images
share the batch, or on how many processes share the work; the image seed itself derives from the run
seed and the image's id.

Each step draws one uniform u per sentence and inverts the CDF of the nucleus (Holtzman et al. 2020):
tokens sorted by probability (ties by token id), the smallest prefix whose mass reaches p kept (the
token that crosses p included), renormalised; on CPUs a compiled kernel does this without sorting the
vocabulary (texplain/sampling/nucleus_kernel.py, same tokens). Length is counted in words as ``text.split()`` would count
chunks holding a letter or digit (decoders.base.FrozenDecoder.starts_chunk_mask): EOS is forbidden below
``min_words``; at ``max_words`` a token that would start another word ends the sentence instead. A token
cap (``SamplingConfig.max_tokens``) stops pathological runs and then wins over ``min_words``.

Two engines run the decoder (``SamplingConfig.engine``):

- ``static`` (Llama-family prefix decoders, e.g. the packaged SmolLM2): the prefix's keys and values are
  computed once per image, a preallocated cache holds one sentence per slot, and a finished sentence's
  slot is refilled at once by the next sentence, of the same image or the next one (continuous batching;
  decoders/static_llama.py). Several images share one batch.
- ``generic`` (every decoder, e.g. BLIP's cross-attention text decoder): batches of rows, possibly from
  several images, through the decoder's ``prefill``/``extend``; the prefix is run once per image in the
  batch and its cache expanded to the image's rows; finished rows are retired.

``auto`` picks ``static`` where it applies. The engines compute the same distribution; their logits
differ by float rounding only, so a token can differ where a uniform falls on a CDF boundary.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from texplain.decoders.base import FrozenDecoder
from texplain.sampling.nucleus_kernel import HAVE_NUMBA, sample_from_bf16_logits, sample_from_probabilities

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)

ENGINES = ("auto", "static", "generic")
STOPPING = ("fixed", "adaptive")


@dataclass(frozen=True)
class SamplingConfig:
    num_sentences: int = 1000  # N per image; with stopping="adaptive" the most that are drawn
    top_p: float = 0.95
    temperature: float = 1.0
    min_words: int = 20
    max_words: int = 30
    batch_size: int = 100  # sentences per forward pass; does not change the output
    engine: str = "auto"  # auto | static | generic (see the module docstring); does not change the distribution
    stopping: str = "fixed"  # fixed: exactly num_sentences (paper parity); adaptive: texplain/sampling/stopping.py
    stop_top_k: int = 10  # adaptive: the top-k word set that must be stable
    stop_chunk: int = 50  # adaptive: sentences drawn between two checks
    stop_agreement: float = 0.9  # adaptive: predicted top-k Jaccard with the fixed-N result needed to stop

    def __post_init__(self):
        if not 0.0 < self.top_p <= 1.0:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {self.temperature}")
        if not 0 <= self.min_words <= self.max_words:
            raise ValueError(f"need 0 <= min_words <= max_words, got {self.min_words} and {self.max_words}")
        if self.num_sentences < 1 or self.batch_size < 1:
            raise ValueError("num_sentences and batch_size must be >= 1")
        if self.engine not in ENGINES:
            raise ValueError(f"engine must be one of {', '.join(ENGINES)}, got '{self.engine}'")
        if self.stopping not in STOPPING:
            raise ValueError(f"stopping must be one of {', '.join(STOPPING)}, got '{self.stopping}'")
        if self.stop_top_k < 1 or self.stop_chunk < 1 or not 0.0 < self.stop_agreement <= 1.0:
            raise ValueError("need stop_top_k >= 1, stop_chunk >= 1 and 0 < stop_agreement <= 1")

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


def counter_uniforms(seed, sentence_index: np.ndarray, step) -> torch.Tensor:
    """Uniforms in [0, 1), one per sentence, a pure function of (seed, sentence index, step).

    ``seed`` and ``step`` are scalars or arrays matching ``sentence_index`` (rows of different images
    and at different steps share a batch in the static engine)."""
    seed = np.asarray(seed, dtype=np.uint64)
    step = np.asarray(step, dtype=np.uint64)
    with np.errstate(over="ignore"):
        key = _splitmix64(seed + _splitmix64(np.asarray(sentence_index).astype(np.uint64)))
        bits = _splitmix64(key + step)
    return torch.from_numpy(np.asarray((bits >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))).reshape(-1))


def nucleus_probabilities(logits: torch.Tensor, top_p: float, temperature: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Reference: sorted, nucleus-truncated, renormalised probabilities (B, V) and their token ids (B, V).

    The smallest prefix of the descending order whose mass reaches top_p is kept (the token that
    crosses top_p included). The sampler does the same without sorting the whole vocabulary.
    """
    probs = torch.softmax(logits.double() / temperature, dim=-1)
    sorted_probs, order = probs.sort(dim=-1, descending=True, stable=True)
    mass_before = sorted_probs.cumsum(-1) - sorted_probs
    sorted_probs = sorted_probs * (mass_before < top_p)
    return sorted_probs / sorted_probs.sum(-1, keepdim=True), order


def _invert_nucleus(sorted_probs: torch.Tensor, order: torch.Tensor, uniforms: torch.Tensor, top_p: float) -> torch.Tensor:
    """Token ids (B,) from probabilities sorted in descending order (B, W) and their ids (B, W).

    Rows may be zero-padded on the right; a row's result depends on that row only (per-row cumsum)."""
    sorted_probs = sorted_probs.double()
    mass_before = sorted_probs.cumsum(-1) - sorted_probs
    kept = sorted_probs * (mass_before < top_p)  # keeps the token that crosses top_p
    cdf = kept.cumsum(-1)  # (B, W), unnormalised
    kept_count = (kept > 0).sum(-1, keepdim=True)  # (B, 1)
    total = cdf.gather(-1, kept_count - 1)  # (B, 1): the nucleus mass
    targets = uniforms.to(cdf.dtype)[:, None] * total
    position = torch.searchsorted(cdf, targets, right=True)  # first cdf > u * total
    position = torch.minimum(position, kept_count - 1)  # rounding guard
    return order.gather(-1, position).squeeze(-1)


def _sorted_candidates(probs: torch.Tensor, threshold: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The tokens with probability >= threshold, per row in descending order (ties by token id),
    zero-padded to the longest row: probabilities (B, W) and ids (B, W).

    A ragged sort of the candidates only: one stable sort by probability, one stable sort by row
    (radix-like), instead of sorting the whole vocabulary in every row."""
    mask = probs >= threshold  # (B, V)
    rows, ids = mask.nonzero(as_tuple=True)  # (n,) each, row-major: ids ascending within a row
    values = probs[rows, ids]  # (n,)
    by_value = values.sort(descending=True, stable=True).indices
    rows, ids, values = rows[by_value], ids[by_value], values[by_value]
    by_row = rows.sort(stable=True).indices
    rows, ids, values = rows[by_row], ids[by_row], values[by_row]
    counts = mask.sum(-1)  # (B,)
    starts = counts.cumsum(0) - counts  # (B,)
    slot = torch.arange(len(rows), device=probs.device) - starts[rows]  # (n,) position within the row
    width = max(int(counts.max()), 1)
    dense_probs = torch.zeros(probs.shape[0], width, dtype=probs.dtype, device=probs.device)  # (B, W)
    dense_ids = torch.zeros(probs.shape[0], width, dtype=torch.long, device=probs.device)  # (B, W)
    dense_probs[rows, slot] = values
    dense_ids[rows, slot] = ids
    return dense_probs, dense_ids


def sample_from_uniforms(
    logits: torch.Tensor,
    uniforms: torch.Tensor,
    top_p: float,
    temperature: float = 1.0,
    fast_k: int = 1024,
    threshold: float = 1e-5,
    use_kernel: bool = True,
) -> torch.Tensor:
    """Token ids (B,) by inverting the nucleus CDF (tokens in descending probability) at uniforms (B,).

    Sorting the whole vocabulary (49k for SmolLM2) costs more than the LM's forward pass for that row,
    and a small LM's nucleus often holds thousands of tokens, so a fixed top-k is not enough. The
    nucleus is a top set of mass >= top_p, so it lies inside any top set of mass >= top_p: the tokens
    with probability >= ``threshold``, when they hold that much mass, contain it; those rows sort only
    their candidates. Other rows (flat distributions, top_p = 1) are sorted in full. Both give the
    same nucleus in the same order. ``fast_k`` only bounds the candidate width (rows with more
    candidates also take the full sort). On a CPU with numba, ``texplain/sampling/nucleus_kernel.py`` does the
    same per row in compiled code (``use_kernel=False`` forces the torch path, for tests).
    """
    kernel = use_kernel and HAVE_NUMBA and logits.device.type == "cpu" and top_p < 1.0
    if kernel and logits.dtype == torch.bfloat16 and temperature == 1.0:
        # bf16 logits: softmax by table lookup inside the kernel (texplain/sampling/nucleus_kernel.py).
        chosen = torch.from_numpy(sample_from_bf16_logits(logits.view(torch.uint16).numpy(), uniforms.double().numpy(), top_p))
        overflow = chosen < 0  # logits beyond the kernel's range: the float32 path below
        if bool(overflow.any()):
            chosen[overflow] = sample_from_uniforms(logits[overflow].float(), uniforms[overflow], top_p, temperature, fast_k, threshold, use_kernel)
        return chosen
    # Dividing by 1.0 changes nothing but costs a pass over (B, V): skip it.
    scaled = logits.float() if temperature == 1.0 else logits.float() / temperature
    probs = torch.softmax(scaled, dim=-1)  # (B, V)
    if kernel:
        # The same tokens as the torch path below, bit for bit (tested), several times faster.
        return torch.from_numpy(sample_from_probabilities(probs.numpy(), uniforms.double().numpy(), top_p))
    chosen = torch.empty(probs.shape[0], dtype=torch.long, device=probs.device)
    fast = torch.zeros(probs.shape[0], dtype=torch.bool, device=probs.device)
    if top_p < 1.0 and probs.shape[-1] > 1:
        mask = probs >= threshold  # (B, V)
        mass = torch.where(mask, probs, 0.0).double().sum(-1)  # (B,)
        fast = (mass >= top_p) & (mask.sum(-1) <= max(fast_k, 1) * 8)
        if bool(fast.any()):
            candidate_probs, candidate_ids = _sorted_candidates(probs[fast], threshold)
            chosen[fast] = _invert_nucleus(candidate_probs, candidate_ids, uniforms[fast.cpu()], top_p)
    slow = ~fast
    if bool(slow.any()):
        sorted_probs, order = probs[slow].sort(dim=-1, descending=True, stable=True)
        chosen[slow] = _invert_nucleus(sorted_probs, order, uniforms[slow.cpu()], top_p)
    return chosen


class _WordCounter:
    """The per-row length state: words so far, and whether the current chunk already holds a word character.

    The per-token masks are computed once per decoder (token strings), so a step is a few gathers."""

    def __init__(self, decoder: FrozenDecoder, config: SamplingConfig):
        device = decoder.device
        self.starts_chunk = decoder.starts_chunk_mask().to(device)  # (V,)
        self.has_word_char = decoder.has_word_char_mask().to(device)  # (V,)
        self.ends_in_space = decoder.ends_in_space_mask().to(device)  # (V,)
        self.banned = torch.tensor(decoder.banned_token_ids(), dtype=torch.long, device=device)
        self.eos = decoder.eos_token_id
        self.config = config

    def choose(self, logits, words, chunk_has_word, steps, seeds, indices):
        """Tokens (R,), whether each ends its sentence (R,), and the updated words / chunk state (R,).

        logits (R, V); words, chunk_has_word, steps: the rows' state (R,); seeds, indices: numpy (R,)."""
        config = self.config
        # bf16 logits stay bf16 (the kernel reads them directly); the edits below are in place.
        if logits.dtype not in (torch.float32, torch.float64, torch.bfloat16):
            logits = logits.float()
        if len(self.banned):
            logits[:, self.banned] = float("-inf")
        logits[words < config.min_words, self.eos] = float("-inf")
        uniforms = counter_uniforms(seeds, indices, steps.cpu().numpy())
        chosen = sample_from_uniforms(logits, uniforms, config.top_p, config.temperature).to(logits.device)
        # Words are counted as text.split() would: a chunk becomes a word at its first letter or digit.
        continues_word = chunk_has_word & ~self.starts_chunk[chosen]
        starts_word = self.has_word_char[chosen] & ~continues_word
        # A token that would begin word max_words+1 ends the sentence instead of being kept.
        ends = (chosen == self.eos) | (starts_word & (words >= config.max_words)) | (steps >= config.max_tokens - 1)
        words = words + starts_word.long()
        chunk_has_word = (continues_word | self.has_word_char[chosen]) & ~self.ends_in_space[chosen]
        return chosen, ends, words, chunk_has_word


def _check_conditionings(decoder: FrozenDecoder, conditionings: torch.Tensor, seeds: Sequence[int]) -> None:
    if conditionings.ndim != 3 or conditionings.shape[2] != decoder.conditioning_dim:
        raise ValueError(f"conditionings must be (B, k, {decoder.conditioning_dim}), got {tuple(conditionings.shape)}")
    if len(seeds) != conditionings.shape[0]:
        raise ValueError(f"need one seed per image: {len(seeds)} seeds for {conditionings.shape[0]} images")


def resolve_engine(decoder: FrozenDecoder, config: SamplingConfig) -> str:
    from texplain.decoders.static_llama import supports_static_llama

    fits = decoder.kind == "prefix" and supports_static_llama(decoder.model)
    if config.engine == "static" and not fits:
        raise ValueError(f"engine 'static' needs a Llama-family prefix decoder; {decoder.spec} ({decoder.kind}) is not. Use engine 'generic' or 'auto'")
    if config.engine == "auto":
        return "static" if fits else "generic"
    return config.engine


def _compute_dtype(decoder: FrozenDecoder) -> torch.dtype:
    # The harness samples under torch.autocast for precision bf16/fp16; the static engine casts its
    # weights once instead of at every call.
    device_type = decoder.device.type
    if torch.is_autocast_enabled(device_type):
        return torch.get_autocast_dtype(device_type)
    return decoder.model.dtype


def sample_sentences_batch(
    decoder: FrozenDecoder,
    conditionings: torch.Tensor,
    seeds: Sequence[int],
    config: SamplingConfig,
    first_index: int = 0,
    stats: dict | None = None,
) -> list[list[str]]:
    """N sentences for each of B images: conditionings (B, k, d) from the translator, one seed per image.

    ``first_index`` numbers the sentences from there (adaptive stopping draws sentences
    first_index .. first_index + N - 1 in later chunks; they are the same sentences a single call would give).
    ``stats``, when given, receives the work done: ``prefix_tokens`` and ``row_steps`` (token positions run
    through the LM, free slots included) and ``sampled_tokens`` (tokens kept in sentences); the static engine
    adds ``seconds_forward`` (decode steps) and ``seconds_choosing`` (nucleus sampling and length bookkeeping)."""
    _check_conditionings(decoder, conditionings, seeds)
    if config.stopping == "adaptive":
        from texplain.sampling.stopping import sample_until_stable

        return sample_until_stable(decoder, conditionings, list(seeds), config)[0]
    engine = resolve_engine(decoder, config)
    conditionings = conditionings.to(decoder.device)
    with torch.inference_mode():
        if engine == "static":
            out = _sample_static(decoder, conditionings, seeds, config, first_index, stats)
        else:
            out = _sample_generic(decoder, conditionings, seeds, config, first_index, stats)
    return out


def sample_sentences(decoder: FrozenDecoder, conditioning: torch.Tensor, seed: int, config: SamplingConfig) -> list[str]:
    """N sentences for one image; conditioning is the translator output (k, d) for that image."""
    if conditioning.ndim != 2 or conditioning.shape[1] != decoder.conditioning_dim:
        raise ValueError(f"conditioning must be (k, {decoder.conditioning_dim}), got {tuple(conditioning.shape)}")
    return sample_sentences_batch(decoder, conditioning[None], [seed], config)[0]


def _jobs(num_images: int, config: SamplingConfig, first_index: int) -> tuple[np.ndarray, np.ndarray]:
    """Every sentence to draw, image by image: image numbers (J,) and sentence indices (J,)."""
    images = np.repeat(np.arange(num_images), config.num_sentences)
    indices = np.tile(np.arange(first_index, first_index + config.num_sentences), num_images)
    return images, indices


def _count(stats: dict | None, key: str, amount: int) -> None:
    if stats is not None:
        stats[key] = stats.get(key, 0) + int(amount)


def _add_seconds(stats: dict | None, key: str, started: float) -> None:
    if stats is not None:
        stats[key] = stats.get(key, 0.0) + time.perf_counter() - started


def _sample_generic(decoder, conditionings, seeds, config, first_index, stats=None) -> list[list[str]]:
    """Batches of rows (sentences of one or more images) through the decoder's prefill/extend."""
    counter = _WordCounter(decoder, config)
    device = decoder.device
    seed_array = np.array([np.uint64(s) for s in seeds], dtype=np.uint64)
    job_images, job_indices = _jobs(len(seeds), config, first_index)
    out: list[list[str]] = [[] for _ in seeds]
    for start in range(0, len(job_images), config.batch_size):
        images = job_images[start : start + config.batch_size]  # (R,)
        indices = job_indices[start : start + config.batch_size]  # (R,)
        # The prefix is run once per image of the batch, then its cache is expanded to that image's rows.
        unique, row_image = np.unique(images, return_inverse=True)
        logits, cache = decoder.prefill(conditionings[torch.from_numpy(unique).to(device)])  # (U, V)
        _count(stats, "prefix_tokens", len(unique) * conditionings.shape[1])
        expand = torch.from_numpy(row_image).to(device)  # (R,)
        cache = decoder.select_rows(cache, expand)
        logits = logits[expand]  # (R, V)
        tokens: list[list[int]] = [[] for _ in indices]
        active = torch.arange(len(indices), device=device)
        words = torch.zeros(len(indices), dtype=torch.long, device=device)
        chunk_has_word = torch.zeros(len(indices), dtype=torch.bool, device=device)
        for step in range(config.max_tokens):
            rows = active.cpu().numpy()
            steps = torch.full((len(rows),), step, dtype=torch.long, device=device)
            chosen, ends, words, chunk_has_word = counter.choose(logits, words, chunk_has_word, steps, seed_array[images[rows]], indices[rows])
            keep = ~ends
            for row, token in zip(active[keep].tolist(), chosen[keep].tolist()):
                tokens[row].append(token)
            if not bool(keep.any()):
                break
            words, chunk_has_word = words[keep], chunk_has_word[keep]
            if not bool(keep.all()):
                cache = decoder.select_rows(cache, torch.nonzero(keep).flatten())
            active = active[keep]
            logits, cache = decoder.extend(cache, chosen[keep])
            _count(stats, "row_steps", int(keep.sum()))
        for image, row_tokens in zip(images, tokens):
            _count(stats, "sampled_tokens", len(row_tokens))
            out[image].append(decoder.decode(row_tokens))
    return out


def _sample_static(decoder, conditionings, seeds, config, first_index, stats=None) -> list[list[str]]:
    """Continuous batching over a static cache (decoders/static_llama.py): a finished sentence's slot
    takes the next sentence at once, so every forward pass runs on a full batch until the queue is empty."""
    from texplain.decoders.static_llama import StaticLlamaSlots, prefix_cache

    counter = _WordCounter(decoder, config)
    device = decoder.device
    dtype = _compute_dtype(decoder)
    weights = decoder.static_weights(dtype)
    seed_array = np.array([np.uint64(s) for s in seeds], dtype=np.uint64)
    job_images, job_indices = _jobs(len(seeds), config, first_index)
    with torch.autocast(device.type, enabled=False):
        first_logits, prefix_keys, prefix_values = prefix_cache(decoder.model, conditionings)  # (B, V), (L, B, Hkv, k, hd)
        _count(stats, "prefix_tokens", conditionings.shape[0] * conditionings.shape[1])
        rows = min(config.batch_size, len(job_images))
        slots = StaticLlamaSlots(weights, rows, conditionings.shape[1], config.max_tokens, device)
        # Per-slot state; job = -1 marks a free slot.
        job = np.full(rows, -1)
        steps = torch.zeros(rows, dtype=torch.long, device=device)
        words = torch.zeros(rows, dtype=torch.long, device=device)
        chunk_has_word = torch.zeros(rows, dtype=torch.bool, device=device)
        buffer = torch.zeros(rows, config.max_tokens, dtype=torch.long, device=device)  # tokens kept so far
        fed = torch.zeros(rows, dtype=torch.long, device=device)  # the token each slot feeds next
        results: dict[int, list[int]] = {}
        next_job = 0

        def begin(free: np.ndarray) -> np.ndarray:
            """Start the next sentences in the free slots; the slots that got one."""
            nonlocal next_job
            count = min(len(free), len(job_images) - next_job)
            taken = free[:count]
            if count:
                job[taken] = np.arange(next_job, next_job + count)
                next_job += count
                images = torch.from_numpy(job_images[job[taken]]).to(device)
                slot_index = torch.from_numpy(taken).to(device)
                slots.start(slot_index, prefix_keys[:, images], prefix_values[:, images])
                steps[slot_index] = 0
                words[slot_index] = 0
                chunk_has_word[slot_index] = False
            return taken

        pending = begin(np.arange(rows))
        pending_logits = first_logits[torch.from_numpy(job_images[job[pending]]).to(device)]  # (n, V)
        while True:
            # Sample for the pending slots; slots whose sentence ends take a new sentence, which samples
            # its first token from its image's prefix logits in the same round.
            while len(pending):
                index = torch.from_numpy(pending).to(device)
                images = job_images[job[pending]]
                started = time.perf_counter()
                chosen, ends, new_words, new_chunk = counter.choose(
                    pending_logits, words[index], chunk_has_word[index], steps[index], seed_array[images], job_indices[job[pending]]
                )
                _add_seconds(stats, "seconds_choosing", started)
                keep = ~ends
                kept = index[keep]
                buffer[kept, steps[kept]] = chosen[keep]
                fed[kept] = chosen[keep]
                words[kept], chunk_has_word[kept] = new_words[keep], new_chunk[keep]
                steps[kept] += 1
                finished = pending[ends.cpu().numpy()]
                for slot in finished:
                    results[int(job[slot])] = buffer[slot, : int(steps[slot])].tolist()
                    job[slot] = -1
                pending = begin(finished)
                pending_logits = first_logits[torch.from_numpy(job_images[job[pending]]).to(device)]
            live = np.nonzero(job >= 0)[0]
            if not len(live):
                break
            if len(live) < slots.rows:
                # The queue is empty and sentences are ending: shrink the batch so no compute goes to free slots.
                source = slots.keep(torch.from_numpy(live).to(device))
                job = job[source.cpu().numpy()]
                steps, words, chunk_has_word = steps[source], words[source], chunk_has_word[source]
                buffer, fed = buffer[source], fed[source]
            started = time.perf_counter()
            pending_logits = slots.step(fed)  # (R, V)
            _add_seconds(stats, "seconds_forward", started)
            _count(stats, "row_steps", slots.rows)
            pending = np.arange(slots.rows)
    out: list[list[str]] = [[] for _ in seeds]
    for number in range(len(job_images)):
        _count(stats, "sampled_tokens", len(results[number]))
        out[job_images[number]].append(decoder.decode(results[number]))
    return out
