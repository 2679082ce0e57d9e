"""Tiny random-weight parts for the tests, built in-process (no downloads), so that every translator x
decoder kind and every suite runs end to end in seconds.

The decoders come from the registry: each decoder kind builds its own tiny model (``tiny(seed)``,
texplain/decoders/tiny.py), and each translator declares its tiny options (``tiny_options``), so a
newly registered part is tested without anyone editing a test.
"""

from __future__ import annotations

import torch

from texplain.decoders import DECODER_KINDS, CrossAttentionDecoder, FrozenDecoder, PrefixLMDecoder
from texplain.decoders.tiny import SPECIALS, WORDS, word_tokenizer  # noqa: F401  (re-exported for the tests)
from texplain.translators import TRANSLATORS, Translator, TranslatorShape, build_translator

CAPTIONS = [
    "a small red boat floats on the water .",
    "a large blue car sits on the road .",
    "a green bird sits on the sand near the sun .",
    "a yellow house is on the snow .",
    "the picture shows a red fish in the water .",
    "a small flower sits on the grass near a ball .",
    "a large car on the road with a cloud in the sky .",
    "a blue boat floats on the water near the left side .",
]


def tiny_decoder(kind: str, seed: int = 0) -> FrozenDecoder:
    """The tiny model of a registered decoder kind; a kind without a builder is an error, not a skip."""
    decoder_class = DECODER_KINDS.get(kind)
    if not callable(getattr(decoder_class, "tiny", None)):
        raise AssertionError(
            f"decoder kind '{kind}' ({decoder_class.__module__}.{decoder_class.__qualname__}) has no tiny(seed) builder; "
            "add a classmethod that builds a random-weight model (see texplain/decoders/tiny.py) so the contract tests cover it"
        )
    return decoder_class.tiny(seed)


def tiny_prefix_decoder(seed: int = 0) -> PrefixLMDecoder:
    return PrefixLMDecoder.tiny(seed)


def tiny_cross_attention_decoder(seed: int = 0) -> CrossAttentionDecoder:
    return CrossAttentionDecoder.tiny(seed)


def tiny_translator(name: str, shape: TranslatorShape, seed: int = 1) -> Translator:
    """A registered translator with its declared tiny options (a translator without them is an error)."""
    options = TRANSLATORS.get(name).tiny_options
    if not isinstance(options, dict):
        translator_class = TRANSLATORS.get(name)
        raise AssertionError(
            f"translator '{name}' ({translator_class.__module__}.{translator_class.__qualname__}) declares no tiny_options; "
            "set a class attribute with constructor options for a model of seconds ({} when the defaults are small)"
        )
    torch.manual_seed(seed)
    return build_translator(name, shape, **options)


def tiny_classifier(seed: int = 0, num_classes: int = 4):
    """A frozen random-weight timm test ResNet at 64 px: features of (4, 96) tokens, a pooled 96-d vector."""
    import timm

    from texplain.classifier import FrozenClassifier

    torch.manual_seed(seed)
    model = timm.create_model("test_resnet", pretrained=False, num_classes=num_classes, pretrained_cfg_overlay={"input_size": (3, 64, 64)})
    return FrozenClassifier("test:tiny-resnet", model)
