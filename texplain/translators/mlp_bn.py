"""The paper's translator: "a three-layer linear MLP with batch normalization" (Section 4), input and
output 577 x 768.

A dense MLP over the flattened 577*768 = 443k-dim vector would need ~2e11 weights, so the MLP is
applied token-wise (weights shared across tokens, BatchNorm over channels, statistics over batch and
tokens), followed by optional token mixing (base.TokenMixer) to the number of tokens the decoder takes
(docs/design.md#translators). The paper does not say whether "linear" excludes nonlinearities; we put an
activation (default GELU) between layers, and ``activation="identity"`` gives the purely linear reading.
"""

from __future__ import annotations

import torch
from torch import nn

from texplain.translators.base import OutputScale, TokenMixer, Translator, TranslatorShape

ACTIVATIONS = {"gelu": nn.GELU, "relu": nn.ReLU, "identity": nn.Identity}


class MLPBatchNormTranslator(Translator):
    name = "mlp_bn"
    tiny_options: dict = {"hidden_dim": 64}

    def __init__(self, shape: TranslatorShape, hidden_dim: int = 1024, num_layers: int = 3, activation: str = "gelu", dropout: float = 0.0,
                 output_rms: float | None = None, mixer_global_share: float = 0.0, mixer_global_tokens: int = 0):
        # Options at their defaults stay out of config(): older checkpoints' configs (and stage keys) are unchanged.
        options = {"output_rms": output_rms}
        if mixer_global_share:
            options["mixer_global_share"] = mixer_global_share
        if mixer_global_tokens:
            options["mixer_global_tokens"] = mixer_global_tokens
        super().__init__(shape, hidden_dim=hidden_dim, num_layers=num_layers, activation=activation, dropout=dropout, **options)
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation '{activation}'; choose one of {', '.join(ACTIVATIONS)}")
        if num_layers < 1:
            raise ValueError("mlp_bn needs num_layers >= 1")
        dims = [shape.input_dim] + [hidden_dim] * (num_layers - 1) + [shape.output_dim]
        self.linears = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))
        self.norms = nn.ModuleList(nn.BatchNorm1d(d) for d in dims[:-1])
        self.activation = ACTIVATIONS[activation]()
        self.dropout = nn.Dropout(dropout)
        self.mixer = TokenMixer(shape.input_tokens, shape.output_tokens, mixer_global_share, mixer_global_tokens)  # base.TokenMixer: why global tokens
        self.output_scale = OutputScale(shape.output_dim, output_rms)  # base.OutputScale: why a fixed scale helps

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        self.check_input(features)
        batch, tokens, _ = features.shape
        hidden = features.reshape(batch * tokens, -1)  # (B*T, D): BatchNorm over channels, stats over B and T
        for index, (norm, linear) in enumerate(zip(self.norms, self.linears)):
            hidden = linear(norm(hidden))
            if index < len(self.linears) - 1:
                hidden = self.dropout(self.activation(hidden))
        hidden = hidden.reshape(batch, tokens, -1)  # (B, T, d)
        return self.output_scale(self.mixer(hidden))  # (B, k, d)
