"""The compiled nucleus kernel (texplain/sampling/nucleus_kernel.py) against the torch path it replaces on CPUs."""

import numpy as np
import pytest
import torch
from scipy import stats

from texplain.sampling.nucleus_kernel import BF16_LOGIT_LIMIT, HAVE_NUMBA
from texplain.sampling import counter_uniforms, nucleus_probabilities, sample_from_uniforms


def test_numba_is_installed():
    # numba is a dependency (pyproject.toml): without it every test below would silently test the torch path.
    assert HAVE_NUMBA


def _lm_like_logits(rows: int, vocab: int, seed: int) -> torch.Tensor:
    """Logits with a language model's spread: some rows peaked, some with a nucleus of thousands."""
    generator = torch.Generator().manual_seed(seed)
    logits = torch.randn(rows, vocab, generator=generator) * 2.5
    logits[: rows // 3] *= 4  # peaked rows: a narrow nucleus
    logits[rows // 3 : 2 * rows // 3] *= 0.3  # flat rows: a nucleus of most of the vocabulary
    return logits


@pytest.mark.parametrize("top_p", [0.5, 0.9, 0.95, 0.999])
def test_kernel_picks_the_same_tokens_as_the_torch_path(top_p):
    logits = _lm_like_logits(96, 8000, seed=int(top_p * 1000))
    for step in range(3):
        uniforms = counter_uniforms(3, np.arange(96), step)
        kernel = sample_from_uniforms(logits, uniforms, top_p)
        torch_path = sample_from_uniforms(logits, uniforms, top_p, use_kernel=False, fast_k=100_000)
        assert torch.equal(kernel, torch_path)


def test_kernel_breaks_ties_by_token_id_like_the_torch_path():
    # Many exactly equal probabilities (as bf16 logits give): the order inside a tie decides the token.
    logits = torch.randint(-6, 3, (64, 3000), generator=torch.Generator().manual_seed(1)).float()
    uniforms = counter_uniforms(4, np.arange(64), 0)
    assert torch.equal(sample_from_uniforms(logits, uniforms, 0.9), sample_from_uniforms(logits, uniforms, 0.9, use_kernel=False, fast_k=100_000))


def test_bf16_kernel_stays_inside_the_nucleus_and_agrees_with_the_torch_path():
    logits = _lm_like_logits(128, 8000, seed=5).bfloat16()
    kept, order = nucleus_probabilities(logits.double(), 0.95)  # float64 reference nucleus
    disagreements = 0
    for step in range(4):
        uniforms = counter_uniforms(7, np.arange(128), step)
        tokens = sample_from_uniforms(logits, uniforms, 0.95)
        for row, token in enumerate(tokens.tolist()):
            position = int((order[row] == token).nonzero()[0, 0])
            assert kept[row, position] > 0, (row, token)
        # The torch path normalises in float32, which can move the nucleus edge by a token: rare differences only.
        disagreements += int((tokens != sample_from_uniforms(logits, uniforms, 0.95, use_kernel=False)).sum())
    assert disagreements <= 0.01 * 4 * 128, disagreements


def test_bf16_kernel_frequencies_match_the_nucleus():
    probabilities = torch.tensor([0.4, 0.25, 0.15, 0.1, 0.06, 0.04])
    logits = probabilities.log().bfloat16().expand(60_000, -1).contiguous()
    tokens = sample_from_uniforms(logits, counter_uniforms(3, np.arange(60_000), 0), top_p=0.9)
    counts = np.bincount(tokens.numpy(), minlength=6)
    assert counts[4] == 0 and counts[5] == 0  # outside the 0.9 nucleus
    bf16_probabilities = torch.softmax(logits[0].double(), -1)[:4]
    expected = (bf16_probabilities / bf16_probabilities.sum()).numpy() * counts[:4].sum()
    assert stats.chisquare(counts[:4], expected).pvalue > 0.001, (counts, expected)


def test_bf16_rows_beyond_the_table_range_take_the_torch_path():
    logits = _lm_like_logits(8, 500, seed=2)
    logits[3] += BF16_LOGIT_LIMIT + 100  # exp() of these would overflow float64 in the kernel's table
    logits = logits.bfloat16()
    uniforms = counter_uniforms(1, np.arange(8), 0)
    tokens = sample_from_uniforms(logits, uniforms, 0.95)
    assert tokens.min() >= 0
    assert tokens[3] == sample_from_uniforms(logits[3:4].float(), uniforms[3:4], 0.95, use_kernel=False)[0]
