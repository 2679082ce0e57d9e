"""Transformer mapper, as in ClipCap (Mokady et al., "ClipCap: CLIP prefix for image captioning"):
k learned constant tokens are appended to the projected image tokens, a small transformer encoder
runs over all of them, and the outputs at the k constant positions are the conditioning."""

from __future__ import annotations

import torch
from torch import nn

from texplain.translators.base import Translator, TranslatorShape


class TransformerTranslator(Translator):
    name = "transformer"

    def __init__(self, shape: TranslatorShape, width: int = 256, depth: int = 2, heads: int = 4, dropout: float = 0.0):
        super().__init__(shape, width=width, depth=depth, heads=heads, dropout=dropout)
        if width % heads:
            raise ValueError(f"transformer translator: width {width} must be divisible by heads {heads}")
        self.norm = nn.LayerNorm(shape.input_dim)
        self.project_in = nn.Linear(shape.input_dim, width)
        self.position = nn.Parameter(torch.randn(shape.input_tokens, width) * 0.02)
        self.queries = nn.Parameter(torch.randn(shape.output_tokens, width) * 0.02)
        layer = nn.TransformerEncoderLayer(width, heads, dim_feedforward=4 * width, dropout=dropout, batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)
        self.project_out = nn.Linear(width, shape.output_dim)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        self.check_input(features)
        batch = features.shape[0]
        image = self.project_in(self.norm(features)) + self.position  # (B, T, w)
        queries = self.queries.expand(batch, -1, -1)  # (B, k, w)
        hidden = self.encoder(torch.cat([image, queries], dim=1))  # (B, T+k, w)
        return self.project_out(hidden[:, -self.shape.output_tokens :])  # (B, k, d)
