"""Linear translator, as in LiMBeR (Merullo et al., "Linearly mapping from image to text space"):
one linear map from the classifier's features to the LM's input space, applied token-wise, then a
linear token mix to k tokens. A LayerNorm on the input puts features of any classifier on one scale
(LiMBeR trains on fixed-scale CLIP/BEiT features; ours vary by classifier)."""

from __future__ import annotations

import torch
from torch import nn

from texplain.translators.base import TokenMixer, Translator, TranslatorShape


class LinearTranslator(Translator):
    name = "linear"
    tiny_options: dict = {}  # one linear map per token: small at any size

    def __init__(self, shape: TranslatorShape):
        super().__init__(shape)
        self.norm = nn.LayerNorm(shape.input_dim)
        self.project = nn.Linear(shape.input_dim, shape.output_dim)
        self.mixer = TokenMixer(shape.input_tokens, shape.output_tokens)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        self.check_input(features)
        return self.mixer(self.project(self.norm(features)))  # (B, T, D) -> (B, T, d) -> (B, k, d)
