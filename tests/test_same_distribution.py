"""Faster must not mean different: our sampler and transformers' ``generate`` draw from the same distribution.

On a fixed soft prefix, many samples from each; two-sample chi-square tests (scipy's chi2_contingency,
categories with fewer than 5 expected samples merged) of

- the first token (next-token distribution under top-p), end to end through each engine;
- the word frequencies of the first tokens of sentences (tolerance: total variation distance below 0.05
  and no significant chi-square at alpha = 0.001).

Fixed seeds make the tests deterministic; alpha = 0.001 keeps a correct sampler from failing by chance
when seeds change. The slow test repeats the first-word check on the packaged SmolLM2-135M with modest counts.
"""

import dataclasses
from collections import Counter

import numpy as np
import pytest
import torch
from scipy import stats

from texplain.sampling import SamplingConfig, sample_sentences_batch
from tiny_models import tiny_prefix_decoder

ALPHA = 0.001


def _two_sample_test(ours: list[str], theirs: list[str]) -> tuple[float, float]:
    """p-value of a chi-square test that two samples of labels share a distribution, and their total variation distance."""
    a, b = Counter(ours), Counter(theirs)
    labels = sorted(set(a) | set(b))
    table = np.array([[a[x] for x in labels], [b[x] for x in labels]], dtype=float)  # (2, C)
    expected_min = table.sum(0) * min(table.sum(1)) / table.sum()
    rare = expected_min < 5
    if rare.any():  # merge sparse categories so the chi-square approximation holds
        table = np.concatenate([table[:, ~rare], table[:, rare].sum(1, keepdims=True)], axis=1)
        table = table[:, table.sum(0) > 0]
    p_value = stats.chi2_contingency(table).pvalue if table.shape[1] > 1 else 1.0
    frequencies = table / table.sum(1, keepdims=True)
    return p_value, 0.5 * np.abs(frequencies[0] - frequencies[1]).sum()


def _generate_texts(decoder, prefix, count, new_tokens, top_p, seed, min_new_tokens=1):
    torch.manual_seed(seed)
    banned = [[i] for i in decoder.banned_token_ids()]
    with torch.inference_mode():
        ids = decoder.model.generate(
            inputs_embeds=prefix[None], do_sample=True, top_p=top_p, top_k=0, temperature=1.0,
            num_return_sequences=count, min_new_tokens=min_new_tokens, max_new_tokens=new_tokens,
            pad_token_id=decoder.eos_token_id, bad_words_ids=banned or None,
        )
    return decoder.tokenizer.batch_decode(ids, skip_special_tokens=True)


def _first_chunks(texts):
    return [t.split()[0] if t.split() else "" for t in texts]


@pytest.mark.parametrize("engine", ["static", "generic"])
def test_first_token_distribution_matches_generate_on_a_tiny_llama(engine):
    decoder = tiny_prefix_decoder()
    prefix = torch.randn(3, decoder.conditioning_dim, generator=torch.Generator().manual_seed(2))
    # One word per sentence: the sentence's first chunk is its first token (word-level vocabulary).
    config = SamplingConfig(num_sentences=6000, min_words=1, max_words=1, top_p=0.8, batch_size=2000, engine=engine)
    ours = _first_chunks(sample_sentences_batch(decoder, prefix[None], [123], config)[0])
    theirs = _first_chunks(_generate_texts(decoder, prefix, 6000, 1, 0.8, seed=0))
    p_value, distance = _two_sample_test(ours, theirs)
    assert p_value > ALPHA and distance < 0.05, (p_value, distance, Counter(ours).most_common(5), Counter(theirs).most_common(5))


def test_word_frequencies_match_generate_on_a_tiny_llama():
    decoder = tiny_prefix_decoder()
    prefix = torch.randn(3, decoder.conditioning_dim, generator=torch.Generator().manual_seed(3))
    # EOS is forbidden in both for the first three tokens (our min_words, generate's min_new_tokens).
    config = SamplingConfig(num_sentences=3000, min_words=8, max_words=8, top_p=0.95, batch_size=1000)
    ours = sample_sentences_batch(decoder, prefix[None], [7], config)[0]
    theirs = _generate_texts(decoder, prefix, 3000, 3, 0.95, seed=1, min_new_tokens=3)
    ours_words = [w for s in ours for w in s.split()[:3]]
    their_words = [w for s in theirs for w in s.split()[:3]]
    p_value, distance = _two_sample_test(ours_words, their_words)
    assert p_value > ALPHA and distance < 0.05, (p_value, distance)


def test_the_two_engines_give_nearly_the_same_sentences():
    decoder = tiny_prefix_decoder()
    prefixes = torch.randn(2, 3, decoder.conditioning_dim, generator=torch.Generator().manual_seed(4))
    config = SamplingConfig(num_sentences=40, min_words=3, max_words=8, batch_size=16)
    static = sample_sentences_batch(decoder, prefixes, [5, 6], dataclasses.replace(config, engine="static"))
    generic = sample_sentences_batch(decoder, prefixes, [5, 6], dataclasses.replace(config, engine="generic"))
    # The logits differ by float rounding only, so a token can differ only where a uniform sits on a CDF boundary.
    same = sum(a == b for image in range(2) for a, b in zip(static[image], generic[image]))
    assert same >= 0.95 * 80, same


@pytest.mark.slow
def test_first_word_distribution_matches_generate_on_smollm2(packaged_lm):
    decoder = packaged_lm
    ids = decoder.tokenizer("A photo of a small red boat on the water.")["input_ids"][:10]
    prefix = decoder.model.get_input_embeddings().weight[ids].detach().clone()  # (10, d)
    config = SamplingConfig(num_sentences=1500, min_words=1, max_words=1, batch_size=500)
    ours = _first_chunks(sample_sentences_batch(decoder, prefix[None], [99], config)[0])
    theirs = _first_chunks(_generate_texts(decoder, prefix, 1500, 8, 0.95, seed=0))
    p_value, distance = _two_sample_test(ours, theirs)
    # Heavy-tailed: many words are seen once; the distance bound is for the merged table.
    assert p_value > ALPHA, (p_value, distance, Counter(ours).most_common(8), Counter(theirs).most_common(8))
