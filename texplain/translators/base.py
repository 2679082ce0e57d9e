"""What every translator t(.) is: a trainable map from classifier tokens (B, T, D) to the
conditioning of a frozen decoder (B, k, d) (paper, Section 3; docs/design.md#translators).

The shared piece here is token mixing: when the decoder wants k tokens and the classifier gives T,
a learned linear map over the token axis (weights shared across channels) turns T into k. A
prefix LM wants few tokens (each costs attention and compute at every sampling step); a
cross-attention decoder can take all T as its memory.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class TranslatorShape:
    input_tokens: int  # T from the classifier
    input_dim: int  # D from the classifier
    output_tokens: int  # k the decoder is conditioned on
    output_dim: int  # d of the decoder's conditioning

    def to_json(self) -> dict:
        return asdict(self)


class TokenMixer(nn.Module):
    """Linear map over the token axis: (B, T, d) -> (B, k, d); identity when T == k.

    ``global_share`` (0 to 1) is the part of each output token's starting weights spread evenly over all
    input tokens (the global mean), the rest on its own group: with 0 a small object reaches only the
    one or two output tokens of its rows, with 0.5 every output token starts with half of the image's mean.

    ``global_tokens`` (0 to k-1) output tokens start as the plain mean of all input tokens instead, and the
    other k - g as row groups: the global token plays the part of a ViT's class token (the paper's 577 =
    576 patches + CLS), which a CNN's feature map lacks, so what the whole image holds (the object, wherever
    it sits) reaches one prefix token at a fixed place, while the row tokens keep the layout."""

    def __init__(self, input_tokens: int, output_tokens: int, global_share: float = 0.0, global_tokens: int = 0):
        super().__init__()
        if not 0.0 <= global_share <= 1.0:
            raise ValueError(f"token mixer global_share must be in [0, 1], got {global_share}")
        if not 0 <= global_tokens < max(1, output_tokens):
            raise ValueError(f"token mixer global_tokens must be in [0, {output_tokens - 1}] (k = {output_tokens} output tokens), got {global_tokens}")
        self.identity = input_tokens == output_tokens
        if not self.identity:
            self.mix = nn.Linear(input_tokens, output_tokens)
            # Start as adaptive average pooling: output token j averages its own contiguous group of
            # input tokens (rows of the feature map), so the k tokens differ from the first step and
            # keep coarse spatial layout; the small noise breaks ties between equal groups.
            with torch.no_grad():
                self.mix.weight.fill_(global_share / input_tokens)
                self.mix.weight[:global_tokens] = 1.0 / input_tokens
                for j, group in enumerate(torch.arange(input_tokens).tensor_split(output_tokens - global_tokens), start=global_tokens):
                    if len(group):
                        self.mix.weight[j, group] += (1.0 - global_share) / len(group)
                self.mix.weight.add_(torch.randn_like(self.mix.weight) * 0.01)
                self.mix.bias.zero_()

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        if self.identity:
            return tokens
        return self.mix(tokens.transpose(1, 2)).transpose(1, 2)  # (B, k, d)


class OutputScale(nn.Module):
    """The prefix's scale, fixed from the first step: each output token RMS-normalised, times a learned
    per-channel gain that starts at ``rms`` (None: identity, the paper's plain map).

    Why: a prefix LM reads a large-norm prefix best, and an unconstrained translator gets there
    by drifting. Measured with mlp_bn on SmolLM2-135M (token embeddings: RMS 0.136 per channel), 5 epochs
    of the quickstart world: the plain translator starts at RMS 0.04 and ends at 16.8, and on the way its
    result depended on rounding (validation loss 1.44 in fp32, 1.65-1.73 in bf16, same seed). Normalised
    to the embeddings' own scale it trained worse (2.45 at RMS 0.136, 2.07 at 1.0); starting at RMS 16
    it reached 1.17 in bf16 (see the README for fp32 and the explanations)."""

    def __init__(self, dim: int, rms: float | None):
        super().__init__()
        self.dim = dim
        self.gain = None if rms is None else nn.Parameter(torch.full((dim,), float(rms)))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        if self.gain is None:
            return tokens
        return nn.functional.rms_norm(tokens.float(), (self.dim,)) * self.gain  # (B, k, d)


class Translator(nn.Module):
    """Base class: subclasses set ``name`` and ``tiny_options`` and implement ``forward(z) -> (B, k, d)``."""

    name: str = ""
    # Constructor options for a model of seconds ({} when the defaults are small already). The contract
    # tests build every registered translator with them; None, the base's, fails those tests by name.
    tiny_options: dict | None = None

    def __init__(self, shape: TranslatorShape, **options):
        super().__init__()
        self.shape = shape
        self.options = dict(options)

    def check_input(self, features: torch.Tensor) -> None:
        expected = (self.shape.input_tokens, self.shape.input_dim)
        if features.ndim != 3 or tuple(features.shape[1:]) != expected:
            raise ValueError(
                f"translator '{self.name}' expects features of shape (B, {expected[0]}, {expected[1]}), got "
                f"{tuple(features.shape)}; the classifier that produced them is not the one this translator was trained on"
            )

    def config(self) -> dict:
        return {"name": self.name, "shape": self.shape.to_json(), "options": self.options}
