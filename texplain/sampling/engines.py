"""The two engines that run the decoder for the sampler, and the length rules they share.

- ``sample_static``: for decoders that offer a slot stepper (``FrozenDecoder.static_stepper``,
  decoders/stepper.py; e.g. the prefix decoder with the packaged SmolLM2). Each image's prefix is run
  once, every slot holds one sentence, and a finished sentence's slot is refilled at once by the next
  sentence, of the same image or the next one (continuous batching). Several images share one batch.
- ``sample_generic``: every decoder (e.g. BLIP's cross-attention text decoder), through its
  ``prefill``/``extend``: batches of rows, possibly from several images; the prefix is run once per image
  in the batch and its cache expanded to the image's rows; finished rows are retired.

Both choose tokens with ``WordCounter``: the nucleus draw (nucleus.py) at the counter-based uniforms of
(image seed, sentence index, step) (rng.py), and length counted in words as ``text.split()`` would count
chunks holding a letter or digit (``FrozenDecoder.starts_chunk_mask``): EOS is forbidden below
``min_words``; at ``max_words`` a token that would start another word ends the sentence instead; a token
cap (``SamplingConfig.max_tokens``) stops pathological runs and then wins over ``min_words``.

``static_stepper_for`` decides between them: ``generic`` when asked; otherwise the decoder is asked for a
stepper, and ``auto`` falls back to ``generic`` where it offers none (``static`` is then an error).

The engines compute the same distribution; their logits differ by float rounding only, so a token can
differ where a uniform falls on a CDF boundary (tests/test_same_distribution.py).
"""

from __future__ import annotations

import time
from typing import Sequence

import numpy as np
import torch

from texplain.cpu_threads import keep_fair_share
from texplain.decoders.base import FrozenDecoder
from texplain.decoders.stepper import SlotStepper
from texplain.errors import TExplainError
from texplain.sampling.config import SamplingConfig
from texplain.sampling.nucleus import sample_from_uniforms
from texplain.sampling.rng import counter_uniforms


class WordCounter:
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


def static_stepper_for(decoder: FrozenDecoder, config: SamplingConfig, num_images: int, dtype: torch.dtype | None) -> SlotStepper | None:
    """The decoder's stepper, sized for ``num_images`` images of this config, or None: run ``sample_generic``.

    ``dtype``: the compute dtype (the sampler's autocast dtype; None: the decoder's own)."""
    if config.engine == "generic":
        return None
    rows = min(config.batch_size, num_images * config.num_sentences)
    stepper = decoder.static_stepper(rows, config.max_tokens, dtype)
    if stepper is None and config.engine == "static":
        raise TExplainError(
            f"sampling engine 'static' needs a decoder that offers a static-cache stepper (FrozenDecoder.static_stepper); "
            f"{decoder.spec} ({decoder.kind} decoder) offers none. Use engine 'auto' (falls back to 'generic') or 'generic'"
        )
    return stepper


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


def sample_generic(decoder: FrozenDecoder, conditionings: torch.Tensor, seeds: Sequence[int], config: SamplingConfig, first_index: int = 0, stats: dict | None = None,
                   ids_out: list[list[list[int]]] | None = None) -> list[list[str]]:
    """Batches of rows (sentences of one or more images) through the decoder's prefill/extend.

    ids_out: if given (one list per image), each sentence's token ids are appended to its image's list."""
    counter = WordCounter(decoder, config)
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
            keep_fair_share()  # fewer threads while another process keeps the cores busy (texplain/cpu_threads.py)
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
            if ids_out is not None:
                ids_out[image].append(list(row_tokens))
    return out


def sample_static(stepper: SlotStepper, decoder: FrozenDecoder, conditionings: torch.Tensor, seeds: Sequence[int], config: SamplingConfig, first_index: int = 0, stats: dict | None = None,
                  ids_out: list[list[list[int]]] | None = None) -> list[list[str]]:
    """Continuous batching over the decoder's slot stepper (decoders/stepper.py): a finished sentence's slot
    takes the next sentence at once, so every forward pass runs on a full batch until the queue is empty.

    ids_out: as in sample_generic."""
    counter = WordCounter(decoder, config)
    device = decoder.device
    seed_array = np.array([np.uint64(s) for s in seeds], dtype=np.uint64)
    job_images, job_indices = _jobs(len(seeds), config, first_index)
    # The stepper was built in the autocast dtype and computes in it (its weights cast once, not at every
    # call), so autocast is off here, for the token choice too.
    with torch.autocast(device.type, enabled=False):
        first_logits = stepper.prefill(conditionings)  # (B, V)
        _count(stats, "prefix_tokens", conditionings.shape[0] * conditionings.shape[1])
        rows = stepper.rows
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
                stepper.start(slot_index, images)
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
                keep_fair_share()  # fewer threads while another process keeps the cores busy (texplain/cpu_threads.py)
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
            if len(live) < stepper.rows:
                # The queue is empty and sentences are ending: shrink the batch so no compute goes to free slots.
                source = stepper.keep(torch.from_numpy(live).to(device))
                job = job[source.cpu().numpy()]
                steps, words, chunk_has_word = steps[source], words[source], chunk_has_word[source]
                buffer, fed = buffer[source], fed[source]
            started = time.perf_counter()
            pending_logits = stepper.step(fed)  # (R, V)
            _add_seconds(stats, "seconds_forward", started)
            _count(stats, "row_steps", stepper.rows)
            pending = np.arange(stepper.rows)
    out: list[list[str]] = [[] for _ in seeds]
    for number in range(len(job_images)):
        _count(stats, "sampled_tokens", len(results[number]))
        out[job_images[number]].append(decoder.decode(results[number]))
        if ids_out is not None:
            ids_out[job_images[number]].append(list(results[number]))
    return out
