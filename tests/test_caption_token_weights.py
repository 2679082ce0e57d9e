"""Token weights of the caption loss (texplain/caption_token_weights.py): the idf formula, the weighted
loss on the fast and the generic path, and the training option (a config error when unknown)."""

from __future__ import annotations

import math

import pytest
import torch
from tiny_models import tiny_prefix_decoder

from harness.config import ConfigError, load_config
from texplain.caption_token_weights import caption_token_weights, idf_token_weights
from texplain.training import TrainConfig

CAPTIONS = [
    "a small red boat on the water",
    "a bird in the sky",
    "a large blue car on the road near a house",
]


def test_idf_weights_follow_the_smoothed_formula():
    weights = idf_token_weights([[1, 2, 9], [1, 3], [1, 2, 2]])
    assert weights.shape == (10,)
    assert float(weights[1]) == pytest.approx(1.0)  # in every caption
    assert float(weights[2]) == pytest.approx(math.log(4 / 3) + 1)  # in two of three (twice in one: still one document)
    assert float(weights[3]) == pytest.approx(math.log(4 / 2) + 1)
    assert float(weights[5]) == 1.0  # in no caption


def test_uniform_weighting_is_none_and_unknown_ones_are_refused():
    assert caption_token_weights("uniform", CAPTIONS, lambda c: [0]) is None
    with pytest.raises(ValueError, match="token_weighting"):
        caption_token_weights("tf", CAPTIONS, lambda c: [0])
    with pytest.raises(ValueError, match="choose one of uniform, idf"):
        TrainConfig(token_weighting="tf")


def test_config_error_names_the_key():
    with pytest.raises(ConfigError, match="token_weighting"):
        load_config("quickstart", ["train.token_weighting=tf"])


@pytest.mark.parametrize("fast", [True, False])
def test_weighted_loss_is_the_weighted_mean_of_token_losses(fast):
    decoder = tiny_prefix_decoder()
    decoder.fast_caption_loss = fast
    conditioning = torch.randn(len(CAPTIONS), 3, decoder.conditioning_dim, generator=torch.Generator().manual_seed(0))
    weights = caption_token_weights("idf", CAPTIONS, decoder.caption_token_ids)
    with torch.no_grad():
        weighted = float(decoder.caption_loss(conditioning, CAPTIONS, weights))
        ones = float(decoder.caption_loss(conditioning, CAPTIONS, torch.ones_like(weights)))
        plain = float(decoder.caption_loss(conditioning, CAPTIONS))
        # By hand: each caption's per-token losses from the generic logits.
        ids, mask = decoder.tokenize_captions(CAPTIONS)
        logits = decoder.caption_logits(conditioning, ids, mask).float()
    assert ones == pytest.approx(plain, rel=1e-5)
    real = mask.reshape(-1) == 1
    targets = ids.reshape(-1)[real]
    losses = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1])[real], targets, reduction="none")
    w = weights[targets]
    assert weighted == pytest.approx(float((losses * w).sum() / w.sum()), rel=1e-5)
    assert weighted != pytest.approx(plain, rel=1e-3)  # the weights do change the loss
