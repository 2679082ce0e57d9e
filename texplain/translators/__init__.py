"""Translator registry: the trainable map t(.) from classifier features to decoder conditioning.

Comparing translators is a main use of the harness, so they all plug into one registry:
``mlp_bn`` (the paper's), ``linear`` (LiMBeR), ``transformer`` (ClipCap). Each works with both
decoder kinds, since both take a (B, k, d) conditioning.
"""

from __future__ import annotations

from texplain.registry import Registry
from texplain.translators.base import TokenMixer, Translator, TranslatorShape
from texplain.translators.linear import LinearTranslator
from texplain.translators.mlp_bn import MLPBatchNormTranslator
from texplain.translators.transformer import TransformerTranslator

TRANSLATORS: Registry[type[Translator]] = Registry("translator")
for _cls in (MLPBatchNormTranslator, LinearTranslator, TransformerTranslator):
    TRANSLATORS.register(_cls.name)(_cls)


def build_translator(name: str, shape: TranslatorShape, **options) -> Translator:
    translator_class = TRANSLATORS.get(name)
    try:
        return translator_class(shape, **options)
    except TypeError as error:
        raise ValueError(f"bad options {options} for translator '{name}': {error}") from error


__all__ = ["TRANSLATORS", "build_translator", "Translator", "TranslatorShape", "TokenMixer"]
