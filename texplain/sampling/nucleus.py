"""The nucleus draw (Holtzman et al., "The curious case of neural text degeneration", ICLR 2020):
one token per row from the smallest set of most probable tokens whose mass reaches top_p, chosen by
inverting that set's CDF at a given uniform.

Tokens are ordered by probability, ties by token id; the token that crosses top_p is kept; the kept
mass is renormalised. Inverting the CDF at a uniform from texplain/sampling/rng.py (rather than calling
a generator) keeps a token a pure function of (logits, seed, sentence, step). ``nucleus_probabilities``
is the reference (a full sort); ``sample_from_uniforms`` gives the same tokens without sorting the
whole vocabulary: by sorting only the candidates, or, on CPUs with numba, in the compiled kernel of
texplain/sampling/nucleus_kernel.py (bit for bit the same tokens, tested).
"""

from __future__ import annotations

import torch

from texplain.sampling.nucleus_kernel import HAVE_NUMBA, sample_from_bf16_logits, sample_from_probabilities


def nucleus_probabilities(logits: torch.Tensor, top_p: float, temperature: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Reference: sorted, nucleus-truncated, renormalised probabilities (B, V) and their token ids (B, V).

    The smallest prefix of the descending order whose mass reaches top_p is kept (the token that
    crosses top_p included). The sampler does the same without sorting the whole vocabulary.
    """
    probs = torch.softmax(logits.double() / temperature, dim=-1)
    sorted_probs, order = probs.sort(dim=-1, descending=True, stable=True)
    mass_before = sorted_probs.cumsum(-1) - sorted_probs
    sorted_probs = sorted_probs * (mass_before < top_p)
    return sorted_probs / sorted_probs.sum(-1, keepdim=True), order


def _invert_nucleus(sorted_probs: torch.Tensor, order: torch.Tensor, uniforms: torch.Tensor, top_p: float) -> torch.Tensor:
    """Token ids (B,) from probabilities sorted in descending order (B, W) and their ids (B, W).

    Rows may be zero-padded on the right; a row's result depends on that row only (per-row cumsum)."""
    sorted_probs = sorted_probs.double()
    mass_before = sorted_probs.cumsum(-1) - sorted_probs
    kept = sorted_probs * (mass_before < top_p)  # keeps the token that crosses top_p
    cdf = kept.cumsum(-1)  # (B, W), unnormalised
    kept_count = (kept > 0).sum(-1, keepdim=True)  # (B, 1)
    total = cdf.gather(-1, kept_count - 1)  # (B, 1): the nucleus mass
    targets = uniforms.to(cdf.dtype)[:, None] * total
    position = torch.searchsorted(cdf, targets, right=True)  # first cdf > u * total
    position = torch.minimum(position, kept_count - 1)  # rounding guard
    return order.gather(-1, position).squeeze(-1)


def _sorted_candidates(probs: torch.Tensor, threshold: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The tokens with probability >= threshold, per row in descending order (ties by token id),
    zero-padded to the longest row: probabilities (B, W) and ids (B, W).

    A ragged sort of the candidates only: one stable sort by probability, one stable sort by row
    (radix-like), instead of sorting the whole vocabulary in every row."""
    mask = probs >= threshold  # (B, V)
    rows, ids = mask.nonzero(as_tuple=True)  # (n,) each, row-major: ids ascending within a row
    values = probs[rows, ids]  # (n,)
    by_value = values.sort(descending=True, stable=True).indices
    rows, ids, values = rows[by_value], ids[by_value], values[by_value]
    by_row = rows.sort(stable=True).indices
    rows, ids, values = rows[by_row], ids[by_row], values[by_row]
    counts = mask.sum(-1)  # (B,)
    starts = counts.cumsum(0) - counts  # (B,)
    slot = torch.arange(len(rows), device=probs.device) - starts[rows]  # (n,) position within the row
    width = max(int(counts.max()), 1)
    dense_probs = torch.zeros(probs.shape[0], width, dtype=probs.dtype, device=probs.device)  # (B, W)
    dense_ids = torch.zeros(probs.shape[0], width, dtype=torch.long, device=probs.device)  # (B, W)
    dense_probs[rows, slot] = values
    dense_ids[rows, slot] = ids
    return dense_probs, dense_ids


def sample_from_uniforms(
    logits: torch.Tensor,
    uniforms: torch.Tensor,
    top_p: float,
    temperature: float = 1.0,
    fast_k: int = 1024,
    threshold: float = 1e-5,
    use_kernel: bool = True,
) -> torch.Tensor:
    """Token ids (B,) by inverting the nucleus CDF (tokens in descending probability) at uniforms (B,).

    Sorting the whole vocabulary (49k for SmolLM2) costs more than the LM's forward pass for that row,
    and a small LM's nucleus often holds thousands of tokens, so a fixed top-k is not enough. The
    nucleus is a top set of mass >= top_p, so it lies inside any top set of mass >= top_p: the tokens
    with probability >= ``threshold``, when they hold that much mass, contain it; those rows sort only
    their candidates. Other rows (flat distributions, top_p = 1) are sorted in full. Both give the
    same nucleus in the same order. ``fast_k`` only bounds the candidate width (rows with more
    candidates also take the full sort). On a CPU with numba, ``texplain/sampling/nucleus_kernel.py`` does the
    same per row in compiled code (``use_kernel=False`` forces the torch path, for tests).
    """
    kernel = use_kernel and HAVE_NUMBA and logits.device.type == "cpu" and top_p < 1.0
    if kernel and logits.dtype == torch.bfloat16 and temperature == 1.0:
        # bf16 logits: softmax by table lookup inside the kernel (texplain/sampling/nucleus_kernel.py).
        chosen = torch.from_numpy(sample_from_bf16_logits(logits.view(torch.uint16).numpy(), uniforms.double().numpy(), top_p))
        overflow = chosen < 0  # logits beyond the kernel's range: the float32 path below
        if bool(overflow.any()):
            chosen[overflow] = sample_from_uniforms(logits[overflow].float(), uniforms[overflow], top_p, temperature, fast_k, threshold, use_kernel)
        return chosen
    # Dividing by 1.0 changes nothing but costs a pass over (B, V): skip it.
    scaled = logits.float() if temperature == 1.0 else logits.float() / temperature
    probs = torch.softmax(scaled, dim=-1)  # (B, V)
    if kernel:
        # The same tokens as the torch path below, bit for bit (tested), several times faster.
        return torch.from_numpy(sample_from_probabilities(probs.numpy(), uniforms.double().numpy(), top_p))
    chosen = torch.empty(probs.shape[0], dtype=torch.long, device=probs.device)
    fast = torch.zeros(probs.shape[0], dtype=torch.bool, device=probs.device)
    if top_p < 1.0 and probs.shape[-1] > 1:
        mask = probs >= threshold  # (B, V)
        mass = torch.where(mask, probs, 0.0).double().sum(-1)  # (B,)
        fast = (mass >= top_p) & (mask.sum(-1) <= max(fast_k, 1) * 8)
        if bool(fast.any()):
            candidate_probs, candidate_ids = _sorted_candidates(probs[fast], threshold)
            chosen[fast] = _invert_nucleus(candidate_probs, candidate_ids, uniforms[fast.cpu()], top_p)
    slow = ~fast
    if bool(slow.any()):
        sorted_probs, order = probs[slow].sort(dim=-1, descending=True, stable=True)
        chosen[slow] = _invert_nucleus(sorted_probs, order, uniforms[slow.cpu()], top_p)
    return chosen
