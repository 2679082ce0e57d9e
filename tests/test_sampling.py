"""Nucleus sampler: reproducibility, independence of batching, the right distribution, length limits."""

import numpy as np
import pytest
import torch
from scipy import stats

from texplain.decoders.base import FrozenDecoder
from texplain.decoders.stepper import SlotStepper
from texplain.errors import TExplainError
from texplain.sampling import (
    SamplingConfig,
    counter_uniforms,
    image_seed,
    nucleus_probabilities,
    resolve_engine,
    sample_from_uniforms,
    sample_sentences,
    sample_sentences_batch,
)
from tiny_models import tiny_cross_attention_decoder, tiny_prefix_decoder, word_tokenizer


class FixedDistributionDecoder(FrozenDecoder):
    """A 'language model' whose next-token probabilities are known and fixed at every step."""

    kind = "prefix"

    def __init__(self, probabilities: torch.Tensor):
        tokenizer = word_tokenizer()
        model = torch.nn.Module()
        model.out = torch.nn.Linear(1, len(tokenizer), bias=False)
        model.get_output_embeddings = lambda: model.out
        super().__init__("test:fixed", model, tokenizer)
        logits = torch.full((len(tokenizer),), float("-inf"))
        logits[: len(probabilities)] = probabilities.log()
        self.logits = logits

    conditioning_dim = 4
    eos_token_id = 3

    def caption_logits(self, conditioning, caption_ids, caption_mask):
        return self.logits.expand(*caption_ids.shape, -1)  # (B, L, V): the same distribution everywhere

    def prefill(self, conditioning):
        return self.logits.expand(conditioning.shape[0], -1).clone(), None

    def extend(self, cache, token_ids):
        return self.logits.expand(token_ids.shape[0], -1).clone(), None


def test_uniforms_are_a_function_of_seed_index_and_step_only():
    a = counter_uniforms(7, np.arange(0, 10), 3)
    b = counter_uniforms(7, np.arange(5, 10), 3)
    assert torch.equal(a[5:], b)
    assert not torch.equal(a, counter_uniforms(8, np.arange(0, 10), 3))
    assert not torch.equal(a, counter_uniforms(7, np.arange(0, 10), 4))
    many = counter_uniforms(1, np.arange(200_000), 0).numpy()
    assert 0.0 <= many.min() and many.max() < 1.0
    assert stats.kstest(many, "uniform").pvalue > 0.001


def test_nucleus_keeps_the_smallest_set_reaching_p():
    logits = torch.tensor([[0.5, 0.3, 0.15, 0.05]]).log()
    kept, order = nucleus_probabilities(logits, top_p=0.8)
    assert order[0].tolist() == [0, 1, 2, 3]
    # 0.5 + 0.3 = 0.8 reaches p: the third token is dropped.
    assert torch.allclose(kept[0], torch.tensor([0.625, 0.375, 0.0, 0.0], dtype=kept.dtype))
    kept, _ = nucleus_probabilities(logits, top_p=0.81)
    assert torch.allclose(kept[0], torch.tensor([0.5, 0.3, 0.15, 0.0], dtype=kept.dtype) / 0.95)


def test_empirical_frequencies_match_nucleus_probabilities():
    probabilities = torch.tensor([0.4, 0.25, 0.15, 0.1, 0.06, 0.04])
    logits = probabilities.log().expand(60_000, -1)
    tokens = sample_from_uniforms(logits, counter_uniforms(3, np.arange(60_000), 0), top_p=0.9)
    counts = np.bincount(tokens.numpy(), minlength=6)
    assert counts[4] == 0 and counts[5] == 0  # outside the 0.9 nucleus
    expected = (probabilities[:4] / probabilities[:4].sum()).double().numpy()
    expected = expected / expected.sum() * counts[:4].sum()
    chi2 = stats.chisquare(counts[:4], expected)
    assert chi2.pvalue > 0.001, (counts, expected)


def test_sampler_first_tokens_follow_the_decoders_distribution():
    # Tokens 4.. are words of the test vocabulary; EOS (3) has probability 0 here.
    probabilities = torch.tensor([0.0, 0.0, 0.0, 0.0, 0.5, 0.3, 0.2])
    decoder = FixedDistributionDecoder(probabilities + 1e-12)
    config = SamplingConfig(num_sentences=3000, min_words=1, max_words=1, top_p=1.0, batch_size=1000)
    sentences = sample_sentences(decoder, torch.zeros(2, 4), seed=5, config=config)
    words = [s.split()[0] for s in sentences]
    vocabulary = decoder.tokenizer.convert_ids_to_tokens([4, 5, 6])
    counts = np.array([words.count(w) for w in vocabulary])
    assert counts.sum() == 3000
    assert stats.chisquare(counts, np.array([0.5, 0.3, 0.2]) * 3000).pvalue > 0.001


@pytest.mark.parametrize("builder", [tiny_prefix_decoder, tiny_cross_attention_decoder])
def test_same_seed_same_sentences_whatever_the_batching(builder):
    decoder = builder()
    conditioning = torch.randn(3, decoder.conditioning_dim, generator=torch.Generator().manual_seed(0))
    config = SamplingConfig(num_sentences=12, min_words=3, max_words=8, batch_size=12)
    first = sample_sentences(decoder, conditioning, seed=11, config=config)
    again = sample_sentences(decoder, conditioning, seed=11, config=config)
    rebatched = sample_sentences(decoder, conditioning, seed=11, config=SamplingConfig(num_sentences=12, min_words=3, max_words=8, batch_size=5))
    other = sample_sentences(decoder, conditioning, seed=12, config=config)
    assert first == again == rebatched
    assert first != other
    assert len(set(first)) > 1  # sentences of one image differ from each other


def test_min_and_max_words_are_honoured():
    decoder = tiny_prefix_decoder()
    conditioning = torch.randn(3, decoder.conditioning_dim, generator=torch.Generator().manual_seed(1))
    config = SamplingConfig(num_sentences=40, min_words=4, max_words=7, batch_size=20)
    sentences = sample_sentences(decoder, conditioning, seed=1, config=config)
    # The tiny vocabulary's words are whole tokens; '.' is not a word.
    lengths = [len([w for w in s.split() if any(c.isalnum() for c in w)]) for s in sentences]
    assert min(lengths) >= 4 and max(lengths) <= 7, lengths
    assert 7 in lengths  # the cap is reached, so it is what stops long sentences


def test_image_seed_depends_on_run_seed_and_image():
    assert image_seed(0, "img_1") == image_seed(0, "img_1")
    assert len({image_seed(0, "img_1"), image_seed(1, "img_1"), image_seed(0, "img_2")}) == 3


def test_bad_sampling_config_and_conditioning():
    with pytest.raises(ValueError, match="top_p"):
        SamplingConfig(top_p=1.5)
    with pytest.raises(ValueError, match="min_words"):
        SamplingConfig(min_words=10, max_words=5)
    decoder = tiny_prefix_decoder()
    with pytest.raises(ValueError, match="conditioning must be"):
        sample_sentences(decoder, torch.zeros(3, 7), seed=0, config=SamplingConfig(num_sentences=2))


def test_partial_sort_path_picks_the_same_tokens_as_a_full_sort():
    logits = torch.randn(64, 5000, generator=torch.Generator().manual_seed(0)) * 3
    logits[:32] *= 4  # peaked rows: the nucleus fits in the top 1024
    uniforms = counter_uniforms(9, np.arange(64), 0)
    mixed = sample_from_uniforms(logits, uniforms, top_p=0.95, fast_k=1024)
    full = sample_from_uniforms(logits, uniforms, top_p=0.95, fast_k=10_000)
    assert torch.equal(mixed, full)
    kept, order = nucleus_probabilities(logits, 0.95)
    allowed = [set(order[i][kept[i] > 0].tolist()) for i in range(64)]
    assert all(int(t) in allowed[i] for i, t in enumerate(mixed))


class FixedStepper(SlotStepper):
    """A stepper that only knows the fixed distribution: what a decoder's fast path looks like to the sampler."""

    def __init__(self, logits: torch.Tensor, rows: int):
        self.logits, self.rows, self.asked_rows, self.steps = logits, rows, rows, 0

    def prefill(self, conditionings):
        return self.logits.expand(conditionings.shape[0], -1).clone()

    def start(self, slots, images):
        pass

    def step(self, token_ids):
        self.steps += 1
        return self.logits.expand(self.rows, -1).clone()

    def keep(self, slots):
        self.rows = len(slots)
        return slots


class SteppedDecoder(FixedDistributionDecoder):
    """The same fixed distribution, offering the sampler a stepper of its own."""

    def static_stepper(self, rows, max_tokens, dtype=None):
        self.stepper = FixedStepper(self.logits, rows)
        return self.stepper


def test_a_decoder_without_a_stepper_gets_the_generic_engine_under_auto_and_an_error_under_static():
    decoder = FixedDistributionDecoder(torch.tensor([0.0, 0.0, 0.0, 0.1, 0.5, 0.4]) + 1e-12)
    config = SamplingConfig(num_sentences=20, min_words=1, max_words=3, batch_size=8)
    assert resolve_engine(decoder, config) == "generic"
    assert len(sample_sentences(decoder, torch.zeros(2, 4), seed=1, config=config)) == 20
    static = SamplingConfig(num_sentences=20, min_words=1, max_words=3, batch_size=8, engine="static")
    with pytest.raises(TExplainError, match="engine 'static' needs a decoder that offers a static-cache stepper.*test:fixed"):
        sample_sentences(decoder, torch.zeros(2, 4), seed=1, config=static)
    with pytest.raises(TExplainError, match="offers none"):
        resolve_engine(decoder, static)
    assert resolve_engine(tiny_prefix_decoder(), config) == "static"
    assert resolve_engine(tiny_cross_attention_decoder(), config) == "generic"


def test_the_static_engine_runs_whatever_stepper_the_decoder_offers():
    # The sampler knows only the SlotStepper contract: a stepper of a non-Llama test double is driven
    # just like the Llama one, gives the same sentences as that decoder's prefill/extend (same logits,
    # same uniforms), and is asked for its batch rows (never more rows than sentences).
    probabilities = torch.tensor([0.0, 0.0, 0.0, 0.1, 0.5, 0.3, 0.1]) + 1e-12
    decoder = SteppedDecoder(probabilities)
    config = SamplingConfig(num_sentences=30, min_words=2, max_words=5, batch_size=64)
    stepped = sample_sentences_batch(decoder, torch.zeros(2, 2, 4), [3, 4], config)
    assert decoder.stepper.steps > 0 and decoder.stepper.asked_rows == 60
    assert resolve_engine(decoder, config) == "static"
    generic = sample_sentences_batch(decoder, torch.zeros(2, 2, 4), [3, 4], SamplingConfig(num_sentences=30, min_words=2, max_words=5, batch_size=64, engine="generic"))
    assert stepped == generic
    sample_sentences_batch(decoder, torch.zeros(1, 2, 4), [3], SamplingConfig(num_sentences=5, min_words=2, max_words=5, batch_size=64))
    assert decoder.stepper.asked_rows == 5
