"""Prefix decoder: a frozen causal LM conditioned by k input embeddings (ClipCap, LiMBeR; docs/design.md#decoder-kinds).

Training input is ``[prefix_1..prefix_k, emb(y_1)..emb(y_{L-1})]`` and the logits at positions
k-1 .. k+L-2 predict ``y_1..y_L`` (the caption tokens then EOS). Sampling prefills the prefix and
extends token by token with the model's key-value cache. For Llama-family models it also offers the
sampler a static-cache stepper (decoders/static_llama.py; its speed: README, "Benchmarks").
"""

from __future__ import annotations

from typing import Any

import torch

from texplain.decoders.base import FrozenDecoder
from texplain.decoders.llama_caption_loss import LlamaTrainingWeights, packed_caption_loss, supports_fast_caption_loss
from texplain.decoders.static_llama import StaticLlamaStepper, StaticLlamaWeights, supports_static_llama
from texplain.decoders.stepper import SlotStepper


class PrefixLMDecoder(FrozenDecoder):
    kind = "prefix"

    @classmethod
    def tiny(cls, seed: int = 0) -> "PrefixLMDecoder":
        """a 2-layer Llama with random weights over a word-level vocabulary, for tests (texplain/decoders/tiny.py)."""
        from texplain.decoders.tiny import tiny_llama

        model, tokenizer = tiny_llama(seed)
        return cls("test:tiny-llama", model, tokenizer)

    @property
    def conditioning_dim(self) -> int:
        return int(self.model.get_input_embeddings().weight.shape[1])

    @property
    def eos_token_id(self) -> int:
        eos = self.tokenizer.eos_token_id
        if eos is None:
            eos = self.model.config.eos_token_id
        return int(eos[0] if isinstance(eos, (list, tuple)) else eos)

    def _caption_text(self, caption: str) -> str:
        # Byte-level BPE: a leading space gives the caption's first word its usual word-start token.
        return " " + caption.strip()

    def caption_logits(self, conditioning, caption_ids, caption_mask):
        k = conditioning.shape[1]
        embeddings = self.model.get_input_embeddings()(caption_ids[:, :-1])  # (B, L-1, d)
        inputs = torch.cat([conditioning.to(embeddings.dtype), embeddings], dim=1)  # (B, k+L-1, d)
        prefix_mask = torch.ones(caption_mask.shape[0], k, dtype=caption_mask.dtype, device=caption_mask.device)
        attention = torch.cat([prefix_mask, caption_mask[:, :-1]], dim=1)  # (B, k+L-1)
        logits = self.model(inputs_embeds=inputs, attention_mask=attention, use_cache=False).logits
        return logits[:, k - 1 :]  # (B, L, V)

    # Training: the padding-free loss of decoders/llama_caption_loss.py for plain Llama models (same
    # quantity as FrozenDecoder.caption_loss, within float rounding); False forces the generic path.
    fast_caption_loss = True

    def caption_loss(self, conditioning: torch.Tensor, captions: list[str], token_weights: torch.Tensor | None = None) -> torch.Tensor:
        if not (self.fast_caption_loss and supports_fast_caption_loss(self.model)):
            return super().caption_loss(conditioning, captions, token_weights)
        device_type = conditioning.device.type
        # The compute dtype: the autocast dtype the training runs under, else the model's own.
        dtype = torch.get_autocast_dtype(device_type) if torch.is_autocast_enabled(device_type) else self.model.dtype
        return packed_caption_loss(self._training_weights(dtype), conditioning, [self.caption_token_ids(c) for c in captions], token_weights)

    def _training_weights(self, dtype: torch.dtype) -> LlamaTrainingWeights:
        """Fused, cast weights for the training forward, built once per dtype (a copy of the model's
        matrices: too much to redo at every step, which is what autocast does for frozen weights)."""
        cached = getattr(self, "_train_weights", None)
        if cached is None or cached.dtype != dtype:
            with torch.no_grad():
                self._train_weights = LlamaTrainingWeights(self.model, dtype)
        return self._train_weights

    def prefill(self, conditioning: torch.Tensor) -> tuple[torch.Tensor, Any]:
        out = self.model(inputs_embeds=conditioning, use_cache=True)
        return out.logits[:, -1], out.past_key_values  # (B, V)

    def extend(self, cache: Any, token_ids: torch.Tensor) -> tuple[torch.Tensor, Any]:
        out = self.model(input_ids=token_ids[:, None], past_key_values=cache, use_cache=True)
        return out.logits[:, -1], out.past_key_values

    def static_stepper(self, rows: int, max_tokens: int, dtype: torch.dtype | None = None) -> SlotStepper | None:
        """The static-cache slots of decoders/static_llama.py for Llama-family models, else None (the
        sampler then uses prefill/extend)."""
        if not supports_static_llama(self.model):
            return None
        return StaticLlamaStepper(self.model, self._static_llama_weights(dtype or self.model.dtype), rows, max_tokens, self.device)

    def _static_llama_weights(self, dtype: torch.dtype) -> StaticLlamaWeights:
        """The weights rearranged for the static-cache slots, built once per dtype and kept: fused
        projections cost a copy of the model's matrices, too much to pay at every sampler call."""
        cached = getattr(self, "_static_weights", None)
        if cached is None or cached.dtype != dtype:
            with torch.no_grad():
                self._static_weights = StaticLlamaWeights(self.model, dtype)
        return self._static_weights
