"""Nucleus sampling of N sentences per image from the frozen decoder (paper, Section 3: top-p = 0.95,
N = 1000 sentences of 20-30 words per image): the entry points.

``sample_sentences_batch`` puts the package's parts together: every random number is a pure function of
(image seed, sentence index, step) (rng.py), so an image's sentences do not depend on the batch, the chunk
or the process they were sampled in; each step draws one token per sentence by inverting the nucleus CDF
(nucleus.py); an engine runs the decoder (engines.py: the decoder's own static-cache stepper where it
offers one, else its prefill/extend); with ``stopping="adaptive"`` the stopping policy (stopping.py)
decides how many sentences each image needs and draws them through the fixed-N path, sentence i being
sentence i of the fixed-N run.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import torch

from texplain.decoders.base import FrozenDecoder
from texplain.sampling.config import SamplingConfig
from texplain.sampling.engines import sample_generic, sample_static, static_stepper_for
from texplain.sampling.stopping import AdaptiveStopping, StopRecord


def _check_conditionings(decoder: FrozenDecoder, conditionings: torch.Tensor, seeds: Sequence[int]) -> None:
    if conditionings.ndim != 3 or conditionings.shape[2] != decoder.conditioning_dim:
        raise ValueError(f"conditionings must be (B, k, {decoder.conditioning_dim}), got {tuple(conditionings.shape)}")
    if len(seeds) != conditionings.shape[0]:
        raise ValueError(f"need one seed per image: {len(seeds)} seeds for {conditionings.shape[0]} images")


def _compute_dtype(decoder: FrozenDecoder) -> torch.dtype | None:
    # The harness samples under torch.autocast for precision bf16/fp16; a static stepper casts its
    # weights to that dtype once instead of at every call. None: the decoder's own dtype.
    device_type = decoder.device.type
    if torch.is_autocast_enabled(device_type):
        return torch.get_autocast_dtype(device_type)
    return None


def resolve_engine(decoder: FrozenDecoder, config: SamplingConfig) -> str:
    """The engine a call with this config would run on this decoder: 'static' or 'generic'.

    'auto' is 'static' where the decoder offers a stepper; 'static' on a decoder without one is an error."""
    return "static" if static_stepper_for(decoder, config, 1, _compute_dtype(decoder)) is not None else "generic"


def _sample_fixed(decoder, conditionings, seeds, config, first_index, stats) -> list[list[str]]:
    """Exactly config.num_sentences per image, sentences first_index .. first_index + N - 1."""
    conditionings = conditionings.to(decoder.device)
    with torch.inference_mode():
        stepper = static_stepper_for(decoder, config, len(seeds), _compute_dtype(decoder))
        if stepper is None:
            return sample_generic(decoder, conditionings, seeds, config, first_index, stats)
        return sample_static(stepper, decoder, conditionings, seeds, config, first_index, stats)


def sample_sentences_batch(
    decoder: FrozenDecoder,
    conditionings: torch.Tensor,
    seeds: Sequence[int],
    config: SamplingConfig,
    first_index: int = 0,
    stats: dict | None = None,
    stops: list | None = None,
) -> list[list[str]]:
    """N sentences for each of B images: conditionings (B, k, d) from the translator, one seed per image.

    ``first_index`` numbers the sentences from there (sentences first_index .. first_index + N - 1 are the
    same sentences a single call would give at those positions; fixed N only).
    ``stats``, when given, receives the work done: ``prefix_tokens`` and ``row_steps`` (token positions run
    through the LM, free slots included) and ``sampled_tokens`` (tokens kept in sentences); the static engine
    adds ``seconds_forward`` (decode steps) and ``seconds_choosing`` (nucleus sampling and length bookkeeping).
    ``stops``, when given a list, receives one entry per image: its ``StopRecord`` under adaptive stopping,
    None under fixed N."""
    _check_conditionings(decoder, conditionings, seeds)
    seeds = list(seeds)
    if config.stopping == "fixed":
        sentences = _sample_fixed(decoder, conditionings, seeds, config, first_index, stats)
        records: list[StopRecord | None] = [None] * len(seeds)
    else:
        if first_index:
            raise ValueError("first_index is for fixed-N chunks; adaptive stopping numbers an image's sentences from 0")
        fixed = dataclasses.replace(config, stopping="fixed")

        def draw(images: list[int], first: int, count: int) -> list[list[str]]:
            chunk = dataclasses.replace(fixed, num_sentences=count)
            return _sample_fixed(decoder, conditionings[images], [seeds[b] for b in images], chunk, first, stats)

        sentences, records = AdaptiveStopping.from_config(config).sample(draw, seeds)
    if stops is not None:
        stops.extend(records)
    return sentences


def sample_sentences(decoder: FrozenDecoder, conditioning: torch.Tensor, seed: int, config: SamplingConfig) -> list[str]:
    """N sentences for one image; conditioning is the translator output (k, d) for that image."""
    if conditioning.ndim != 2 or conditioning.shape[1] != decoder.conditioning_dim:
        raise ValueError(f"conditioning must be (k, {decoder.conditioning_dim}), got {tuple(conditioning.shape)}")
    return sample_sentences_batch(decoder, conditioning[None], [seed], config)[0]
