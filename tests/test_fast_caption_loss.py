"""The padding-free caption loss of texplain/decoders/llama_caption_loss.py against the generic one
(transformers' forward over the padded batch): the same loss and the same gradient reaching the
conditioning, in fp32 to float rounding and in bf16 within bf16 rounding; and it is what training uses."""

from __future__ import annotations

import pytest
import torch
from tiny_models import tiny_cross_attention_decoder, tiny_prefix_decoder

from texplain.device import autocast

CAPTIONS = [
    "a small red boat on the water",
    "a bird",
    "the large blue car sits on the road near the left side of the picture with a sun in the sky",
    "there is a house on the grass and a cloud",
]


def _loss_and_grad(decoder, conditioning, captions, fast, precision="fp32"):
    decoder.fast_caption_loss = fast
    conditioning = conditioning.detach().clone().requires_grad_()
    with autocast(torch.device("cpu"), precision):
        loss = decoder.caption_loss(conditioning, captions)
    loss.backward()
    return float(loss.detach()), conditioning.grad


def test_fast_loss_equals_the_generic_loss_in_fp32():
    decoder = tiny_prefix_decoder()
    conditioning = torch.randn(len(CAPTIONS), 3, decoder.conditioning_dim, generator=torch.Generator().manual_seed(0))
    generic_loss, generic_grad = _loss_and_grad(decoder, conditioning, CAPTIONS, fast=False)
    fast_loss, fast_grad = _loss_and_grad(decoder, conditioning, CAPTIONS, fast=True)
    assert fast_loss == pytest.approx(generic_loss, rel=1e-5)
    assert torch.allclose(fast_grad, generic_grad, rtol=1e-4, atol=1e-6)
    assert fast_grad.abs().sum() > 0  # gradients do reach the conditioning


def test_fast_loss_is_the_token_weighted_mean_of_per_caption_losses():
    # No padding leaks in: a batch's loss is the mean over all its target tokens, whatever the lengths.
    decoder = tiny_prefix_decoder()
    conditioning = torch.randn(len(CAPTIONS), 3, decoder.conditioning_dim, generator=torch.Generator().manual_seed(1))
    batch_loss, _ = _loss_and_grad(decoder, conditioning, CAPTIONS, fast=True)
    singles = [_loss_and_grad(decoder, conditioning[i : i + 1], [c], fast=True)[0] for i, c in enumerate(CAPTIONS)]
    tokens = [len(decoder.caption_token_ids(c)) for c in CAPTIONS]
    assert batch_loss == pytest.approx(sum(l * n for l, n in zip(singles, tokens)) / sum(tokens), rel=1e-5)


@pytest.mark.skipif(not torch.ops.mkldnn._is_mkldnn_bf16_supported(), reason="bf16 is emulated (and ~100x slower) on this CPU")
def test_fast_loss_matches_in_bf16_within_rounding():
    decoder = tiny_prefix_decoder()
    conditioning = torch.randn(len(CAPTIONS), 3, decoder.conditioning_dim, generator=torch.Generator().manual_seed(2))
    generic_loss, generic_grad = _loss_and_grad(decoder, conditioning, CAPTIONS, fast=False, precision="bf16")
    fast_loss, fast_grad = _loss_and_grad(decoder, conditioning, CAPTIONS, fast=True, precision="bf16")
    assert fast_loss == pytest.approx(generic_loss, rel=2e-2)
    assert torch.nn.functional.cosine_similarity(fast_grad.flatten(), generic_grad.flatten(), dim=0) > 0.99


def test_decoders_without_the_fast_path_keep_the_generic_loss():
    decoder = tiny_cross_attention_decoder()
    assert not hasattr(decoder, "fast_caption_loss")  # the cross-attention decoder has only the generic loss
    memory = torch.randn(2, 3, decoder.conditioning_dim, generator=torch.Generator().manual_seed(3), requires_grad=True)
    decoder.caption_loss(memory, CAPTIONS[:2]).backward()
    assert memory.grad.abs().sum() > 0
