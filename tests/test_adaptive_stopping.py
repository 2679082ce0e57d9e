"""Adaptive stopping: a prefix of the fixed-N sentences, stopped once the top-k words are predicted to be final."""

import dataclasses

import pytest
import torch

import numpy as np

from texplain.sampling.stopping import _DrawnWords, predicted_agreement, sample_until_stable, stopping_point
from texplain.sampling import SamplingConfig, sample_sentences
from tiny_models import tiny_prefix_decoder


def _drawn(sentences):
    drawn = _DrawnWords()
    drawn.add(sentences)
    return drawn


def test_agreement_is_high_when_the_top_k_is_clear_and_low_when_it_is_a_coin_flip():
    clear = ["boat water"] * 80 + ["boat"] * 20  # boat, water far ahead of nothing: top-2 settled
    agreement, top = predicted_agreement(_drawn(clear), k=2, total=1000, seed=1)
    assert agreement == 1.0 and top == ["boat", "water"]
    # water and grass tie for rank 2 after 40 sentences: drawing 960 more decides it, either way.
    close = ["boat water", "boat grass"] * 20
    agreement, top = predicted_agreement(_drawn(close), k=2, total=1000, seed=1)
    assert top[0] == "boat" and 0.5 <= agreement < 0.9
    # The same tie with all sentences drawn: nothing can change any more.
    assert predicted_agreement(_drawn(close), k=2, total=40, seed=1)[0] == 1.0


def test_agreement_grows_as_the_gap_at_rank_k_becomes_clear():
    rng = np.random.default_rng(0)
    sentences = [" ".join(w for w, p in (("boat", 0.9), ("water", 0.5), ("grass", 0.4), ("sky", 0.1)) if rng.random() < p) or "tree" for _ in range(1000)]
    early = predicted_agreement(_drawn(sentences[:60]), k=2, total=1000, seed=3)[0]
    late = predicted_agreement(_drawn(sentences[:600]), k=2, total=1000, seed=3)[0]
    assert early < late
    # Replayed on the fixed run, the rule stops before the end and keeps the final top-2.
    config = SamplingConfig(num_sentences=1000, stopping="adaptive", stop_top_k=2, stop_chunk=50)
    used = stopping_point(sentences, config, seed=3)
    assert 100 <= used < 1000
    assert _drawn(sentences[:used]).top_words(2) == _drawn(sentences).top_words(2) == ["boat", "water"]


def test_adaptive_sentences_are_a_prefix_of_the_fixed_run_and_stop_early():
    decoder = tiny_prefix_decoder()
    conditioning = torch.randn(3, decoder.conditioning_dim, generator=torch.Generator().manual_seed(0))
    fixed = SamplingConfig(num_sentences=400, min_words=3, max_words=6, batch_size=100)
    adaptive = dataclasses.replace(fixed, stopping="adaptive", stop_top_k=3, stop_chunk=40)
    (sentences,), (record,) = sample_until_stable(decoder, conditioning[None], [5], adaptive)
    reference = sample_sentences(decoder, conditioning, 5, fixed)
    assert sentences == reference[: len(sentences)]
    assert record["sentences"] == len(sentences) and record["checks"] >= 2
    # Through the public entry point too.
    assert sample_sentences(decoder, conditioning, 5, adaptive) == sentences
    # Several images in one call: each gets exactly what it gets alone.
    other = torch.randn(3, decoder.conditioning_dim, generator=torch.Generator().manual_seed(1))
    both, _ = sample_until_stable(decoder, torch.stack([conditioning, other]), [5, 6], adaptive)
    assert both[0] == sentences
    assert both[1] == sample_until_stable(decoder, other[None], [6], adaptive)[0][0]


def test_fixed_is_the_default_and_bad_options_are_refused():
    assert SamplingConfig().stopping == "fixed"
    with pytest.raises(ValueError, match="stopping"):
        SamplingConfig(stopping="sometimes")
    with pytest.raises(ValueError, match="stop_top_k"):
        SamplingConfig(stop_chunk=0)
    with pytest.raises(ValueError, match="stop_agreement"):
        SamplingConfig(stop_agreement=1.5)
