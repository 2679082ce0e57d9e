"""Cross-attention decoder: a frozen text decoder that cross-attends to a (tokens, d) memory.

This is BLIP's BERT-based text decoder (``BlipTextLMHeadModel``), the paper's likely "decoder of a
pre-trained BERT-base model" fed with 577 x 768 tokens (docs/design.md#decoder-kinds). Input is
``[BOS, y_1..y_{L-1}]``; targets are ``y_1..y_L`` (caption tokens then EOS, BLIP's [SEP]); the
translator's output is passed as ``encoder_hidden_states``.
"""

from __future__ import annotations

from typing import Any

import torch

from texplain.decoders.base import FrozenDecoder


class CrossAttentionDecoder(FrozenDecoder):
    kind = "cross_attention"

    @classmethod
    def tiny(cls, seed: int = 0) -> "CrossAttentionDecoder":
        """a 2-layer BLIP text decoder with random weights over a word-level vocabulary, for tests (texplain/decoders/tiny.py)."""
        from texplain.decoders.tiny import tiny_blip_text

        model, tokenizer = tiny_blip_text(seed)
        return cls("test:tiny-blip-text", model, tokenizer)

    @property
    def conditioning_dim(self) -> int:
        return int(self.model.config.encoder_hidden_size)

    @property
    def bos_token_id(self) -> int:
        return int(self.model.config.bos_token_id)

    @property
    def eos_token_id(self) -> int:
        return int(self.model.config.sep_token_id)

    def _forward(self, input_ids, attention_mask, memory, cache=None):
        memory_mask = torch.ones(memory.shape[:2], dtype=torch.long, device=memory.device)
        return self.model(
            input_ids=input_ids,
            attention_mask=attention_mask,
            encoder_hidden_states=memory,
            encoder_attention_mask=memory_mask,
            past_key_values=cache,
            use_cache=cache is not None or attention_mask is None,
        )

    def caption_logits(self, conditioning, caption_ids, caption_mask):
        batch = caption_ids.shape[0]
        bos = torch.full((batch, 1), self.bos_token_id, dtype=caption_ids.dtype, device=caption_ids.device)
        inputs = torch.cat([bos, caption_ids[:, :-1]], dim=1)  # (B, L)
        attention = torch.cat([torch.ones_like(bos), caption_mask[:, :-1]], dim=1)  # (B, L)
        out = self._forward(inputs, attention, conditioning.to(self.model.dtype))
        return out.logits  # (B, L, V)

    def prefill(self, conditioning: torch.Tensor) -> tuple[torch.Tensor, Any]:
        batch = conditioning.shape[0]
        bos = torch.full((batch, 1), self.bos_token_id, dtype=torch.long, device=conditioning.device)
        out = self._forward(bos, None, conditioning)
        # The memory is needed at every step (the cache holds its projections, the call signature wants it).
        return out.logits[:, -1], (out.past_key_values, conditioning)

    def select_rows(self, cache: Any, rows: torch.Tensor) -> Any:
        past, memory = cache
        past.reorder_cache(rows.to(self.device))
        return past, memory[rows]

    def extend(self, cache: Any, token_ids: torch.Tensor) -> tuple[torch.Tensor, Any]:
        past, memory = cache
        out = self._forward(token_ids[:, None], None, memory, cache=past)
        return out.logits[:, -1], (out.past_key_values, memory)
