"""Transformer mapper, as in ClipCap (Mokady et al., "ClipCap: CLIP prefix for image captioning").

ClipCap maps the image embedding linearly to k tokens, adds k learned constants, runs a transformer
and keeps the outputs at those k positions. With token features we do the same per image: the
projected tokens are pooled to k seeds (base.TokenMixer), the learned constants are added, and the
transformer runs over [image tokens, seeds] so the seeds can also attend to every image token.
Seeding from the image matters: with constants alone the outputs start identical for every image and
a frozen decoder gets no signal to learn from (measured: the loss on the tiny cross-attention decoder
plateaued at 0.7x its start).
"""

from __future__ import annotations

import torch
from torch import nn

from texplain.translators.base import OutputScale, TokenMixer, Translator, TranslatorShape


class TransformerTranslator(Translator):
    name = "transformer"
    tiny_options: dict = {"width": 32, "depth": 1, "heads": 4}

    def __init__(self, shape: TranslatorShape, width: int = 256, depth: int = 2, heads: int = 4, dropout: float = 0.0,
                 output_rms: float | None = None):
        super().__init__(shape, width=width, depth=depth, heads=heads, dropout=dropout, output_rms=output_rms)
        if width % heads:
            raise ValueError(f"transformer translator: width {width} must be divisible by heads {heads}")
        self.norm = nn.LayerNorm(shape.input_dim)
        self.project_in = nn.Linear(shape.input_dim, width)
        self.position = nn.Parameter(torch.randn(shape.input_tokens, width) * 0.02)
        self.seed_mixer = TokenMixer(shape.input_tokens, shape.output_tokens)
        self.queries = nn.Parameter(torch.randn(shape.output_tokens, width) * 0.02)
        layer = nn.TransformerEncoderLayer(width, heads, dim_feedforward=4 * width, dropout=dropout, batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)
        self.project_out = nn.Linear(width, shape.output_dim)
        self.output_scale = OutputScale(shape.output_dim, output_rms)  # base.OutputScale

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        self.check_input(features)
        image = self.project_in(self.norm(features)) + self.position  # (B, T, w)
        seeds = self.seed_mixer(image) + self.queries  # (B, k, w)
        hidden = self.encoder(torch.cat([image, seeds], dim=1))  # (B, T+k, w)
        return self.output_scale(self.project_out(hidden[:, -self.shape.output_tokens :]))  # (B, k, d)
