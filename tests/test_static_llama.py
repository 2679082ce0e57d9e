"""The static-cache decode step (texplain/decoders/static_llama.py) against transformers' own Llama forward."""

import pytest
import torch
import torch.nn.functional as F

from texplain.decoders.static_llama import PackedLinear, StaticLlamaSlots, StaticLlamaStepper, StaticLlamaWeights, prefix_cache, supports_static_llama
from tiny_models import tiny_cross_attention_decoder, tiny_prefix_decoder


def _reference_logits(model, prefix, tokens):
    """Next-token logits after prefix (1, k, d) and each prefix of tokens (T,), by one full forward."""
    embeddings = torch.cat([prefix, model.get_input_embeddings()(tokens)[None]], dim=1)  # (1, k+T, d)
    with torch.no_grad():
        return model(inputs_embeds=embeddings).logits[0, prefix.shape[1] - 1 :]  # (T+1, V)


def _check_against_reference(decoder, k, steps, atol):
    model = decoder.model
    generator = torch.Generator().manual_seed(0)
    prefixes = torch.randn(2, k, decoder.conditioning_dim, generator=generator)  # two images
    streams = torch.randint(4, decoder.vocab_size, (3, steps), generator=generator)  # three sentences
    image_of_row = torch.tensor([0, 1, 0])
    first, keys, values = prefix_cache(model, prefixes)
    slots = StaticLlamaSlots(StaticLlamaWeights(decoder.model, torch.float32), 3, k, steps + 2, decoder.device)
    slots.start(torch.arange(3), keys[:, image_of_row], values[:, image_of_row])
    got = [first[image_of_row]]
    for t in range(steps):
        got.append(slots.step(streams[:, t]))
    got = torch.stack(got, dim=1)  # (3, T+1, V)
    for row in range(3):
        expected = _reference_logits(model, prefixes[image_of_row[row] : image_of_row[row] + 1], streams[row])
        assert torch.allclose(got[row], expected, atol=atol, rtol=1e-4), (got[row] - expected).abs().max()


def test_static_step_matches_the_models_forward_on_a_tiny_llama():
    _check_against_reference(tiny_prefix_decoder(), k=3, steps=6, atol=1e-4)


def test_refilled_and_compacted_slots_match_a_fresh_start():
    decoder = tiny_prefix_decoder()
    generator = torch.Generator().manual_seed(1)
    prefixes = torch.randn(1, 3, decoder.conditioning_dim, generator=generator)
    first, keys, values = prefix_cache(decoder.model, prefixes)
    tokens = torch.randint(4, decoder.vocab_size, (4, 5), generator=generator)
    slots = StaticLlamaSlots(StaticLlamaWeights(decoder.model, torch.float32), 4, 3, 8, decoder.device)
    slots.start(torch.arange(4), keys.expand(-1, 4, -1, -1, -1), values.expand(-1, 4, -1, -1, -1))
    for t in range(3):
        slots.step(tokens[:, t])
    # Slot 1 takes a new sentence (stale cache entries beyond its length must not matter); slot 2 leaves.
    slots.start(torch.tensor([1]), keys, values)
    slots.step(torch.stack([tokens[0, 3], tokens[1, 0], tokens[2, 3], tokens[3, 3]]))
    source = slots.keep(torch.tensor([0, 1, 3]))
    assert source.tolist() == [0, 1, 3]
    source = slots.keep(torch.tensor([0, 2]))  # keeps old slots 0 and 3: slot 3's row moves to position 1
    assert source.tolist() == [0, 2]
    logits = slots.step(torch.stack([tokens[0, 4], tokens[3, 4]]))
    expected_0 = _reference_logits(decoder.model, prefixes, tokens[0])[-1]
    expected_3 = _reference_logits(decoder.model, prefixes, tokens[3])[-1]
    assert torch.allclose(logits[0], expected_0, atol=1e-4)
    assert torch.allclose(logits[1], expected_3, atol=1e-4)


def test_only_llama_family_prefix_models_take_the_static_path():
    assert supports_static_llama(tiny_prefix_decoder().model)
    assert not supports_static_llama(tiny_cross_attention_decoder().model)
    # What the sampler sees: the prefix decoder offers its stepper, the cross-attention decoder none.
    assert isinstance(tiny_prefix_decoder().static_stepper(4, 8), StaticLlamaStepper)
    assert tiny_cross_attention_decoder().static_stepper(4, 8) is None


def test_the_decoders_stepper_gives_the_slots_logits_and_keeps_its_weights_per_dtype():
    decoder = tiny_prefix_decoder()
    generator = torch.Generator().manual_seed(3)
    prefixes = torch.randn(2, 3, decoder.conditioning_dim, generator=generator)  # two images
    tokens = torch.randint(4, decoder.vocab_size, (3, 4), generator=generator)
    stepper = decoder.static_stepper(3, 8, torch.float32)
    first = stepper.prefill(prefixes)
    image_of_slot = torch.tensor([1, 0, 1])
    stepper.start(torch.arange(3), image_of_slot)
    got = [stepper.step(tokens[:, t]) for t in range(4)]
    for slot in range(3):
        expected = _reference_logits(decoder.model, prefixes[image_of_slot[slot] : image_of_slot[slot] + 1], tokens[slot])
        assert torch.allclose(first[image_of_slot[slot]], expected[0], atol=1e-4)
        assert torch.allclose(torch.stack([g[slot] for g in got]), expected[1:], atol=1e-4)
    assert stepper.keep(torch.tensor([0, 2])).tolist() == [0, 2] and stepper.rows == 2
    # The fused weights are built once per dtype (a copy of the model's matrices), not at every call.
    assert decoder.static_stepper(5, 8, torch.float32).weights is stepper.weights
    assert decoder.static_stepper(5, 8, torch.bfloat16).weights.dtype == torch.bfloat16
    with pytest.raises(RuntimeError, match="prefill"):
        decoder.static_stepper(2, 8).step(tokens[:2, 0])


@pytest.mark.slow
def test_static_step_matches_the_models_forward_on_smollm2(packaged_lm):
    _check_against_reference(packaged_lm, k=8, steps=5, atol=2e-3)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float32])
def test_packed_linear_rows_do_not_depend_on_the_batch(dtype):
    # The sampler promises an image's sentences do not depend on which rows share a forward pass, so
    # the packed matmul must give a row the same bits whatever the batch size; bf16 must also equal
    # F.linear bit for bit (the quickstart's sentences were made that way), fp32 within rounding.
    generator = torch.Generator().manual_seed(2)
    weight = torch.randn(960, 576, generator=generator).to(dtype)
    bias = torch.randn(960, generator=generator).to(dtype)
    x = torch.randn(256, 576, generator=generator).to(dtype)
    linear = PackedLinear(weight, bias)
    # oneDNN packs bf16 weights only on CPUs with native bf16 (it declines elsewhere, and PackedLinear
    # then falls back to F.linear): what is asserted here is the code, not the machine.
    packable = dtype == torch.float32 or torch.ops.mkldnn._is_mkldnn_bf16_supported()
    if torch.backends.mkldnn.is_available() and packable:
        assert linear.packed is not None, "oneDNN is available but the weight was not packed"
    full = linear(x)
    for rows in (1, 7, 100):
        assert torch.equal(linear(x[:rows]), full[:rows])
    reference = F.linear(x, weight, bias)
    if dtype == torch.bfloat16:
        assert torch.equal(full, reference)
    else:
        assert torch.allclose(full, reference, atol=1e-4, rtol=1e-4)


def test_packed_linear_falls_back_to_f_linear_for_other_dtypes():
    weight = torch.randn(8, 4, dtype=torch.float64)
    linear = PackedLinear(weight)
    assert linear.packed is None
    x = torch.randn(3, 4, dtype=torch.float64)
    assert torch.equal(linear(x), F.linear(x, weight))
