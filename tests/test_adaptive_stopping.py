"""Adaptive stopping: a prefix of the fixed-N sentences, stopped once the top-k words are settled."""

import dataclasses

import pytest
import torch

from texplain.adaptive_stopping import sample_until_stable, top_k_settled
from texplain.sampling import SamplingConfig, sample_sentences
from tiny_models import tiny_prefix_decoder


def test_settled_when_the_boundary_gap_exceeds_the_uncertainty():
    clear = ["boat water"] * 80 + ["boat"] * 20  # water in 80%, nothing else: settled at k = 2
    assert top_k_settled(clear, k=1, confidence=0.95, max_sentences=1000)[0]
    close = ["boat water", "boat grass"] * 50  # water and grass tie at ranks 2 and 3
    settled, top = top_k_settled(close[:40], k=2, confidence=0.95, max_sentences=1000)
    assert not settled and top[0] == "boat"


def test_adaptive_sentences_are_a_prefix_of_the_fixed_run_and_stop_early():
    decoder = tiny_prefix_decoder()
    conditioning = torch.randn(3, decoder.conditioning_dim, generator=torch.Generator().manual_seed(0))
    fixed = SamplingConfig(num_sentences=400, min_words=3, max_words=6, batch_size=100)
    adaptive = dataclasses.replace(fixed, stopping="adaptive", stop_top_k=3, stop_chunk=40)
    sentences, record = sample_until_stable(decoder, conditioning, 5, adaptive)
    reference = sample_sentences(decoder, conditioning, 5, fixed)
    assert sentences == reference[: len(sentences)]
    assert record["sentences"] == len(sentences) and record["checks"] >= 2
    # Through the public entry point too.
    assert sample_sentences(decoder, conditioning, 5, adaptive) == sentences


def test_fixed_is_the_default_and_bad_options_are_refused():
    assert SamplingConfig().stopping == "fixed"
    with pytest.raises(ValueError, match="stopping"):
        SamplingConfig(stopping="sometimes")
    with pytest.raises(ValueError, match="stop_top_k"):
        SamplingConfig(stop_chunk=0)
