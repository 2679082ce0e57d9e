"""Tiny random-weight language models over a small word-level vocabulary, built from configs in-process
(no downloads), one per decoder kind.

Every decoder kind offers ``tiny(seed)`` (a classmethod of its class in ``DECODER_KINDS``) that builds
one of these, so the contract tests build every registered kind without a list of their own, and a
new kind is tested as soon as it has its builder. Only the tests and smoke checks use them: their words
are noise, though a translator can steer them (the contract tests train one).
"""

from __future__ import annotations

import torch

SPECIALS = ["[PAD]", "[UNK]", "[BOS]", "[EOS]"]  # ids 0..3, named by the configs below
WORDS = (
    "a the small large red blue green yellow boat car bird house fish flower on in near water grass sand snow road "
    "forest sits floats is there picture shows left right center side of and with sun cloud ball sky ."
).split()


def word_tokenizer():
    """A whitespace word-level tokenizer over SPECIALS + WORDS (unknown words map to [UNK])."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {token: index for index, token in enumerate(SPECIALS + WORDS)}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    return PreTrainedTokenizerFast(
        tokenizer_object=backend, pad_token="[PAD]", unk_token="[UNK]", bos_token="[BOS]", eos_token="[EOS]"
    )


def tiny_llama(seed: int = 0):
    """(model, tokenizer): a 2-layer Llama with hidden size 32, random weights drawn from `seed`."""
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = word_tokenizer()
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
        bos_token_id=2, eos_token_id=3, pad_token_id=0, tie_word_embeddings=True,
        initializer_range=0.2,  # at the default 0.02 the tied output layer gives near-uniform logits whatever the input
    )
    return LlamaForCausalLM(config), tokenizer


def tiny_blip_text(seed: int = 0):
    """(model, tokenizer): a 2-layer BLIP text decoder (hidden 64, memory width 24), random weights from `seed`."""
    from transformers import BlipTextConfig
    from transformers.models.blip.modeling_blip_text import BlipTextLMHeadModel

    tokenizer = word_tokenizer()
    torch.manual_seed(seed)
    config = BlipTextConfig(
        vocab_size=len(tokenizer), hidden_size=64, encoder_hidden_size=24, intermediate_size=128,
        num_hidden_layers=2, num_attention_heads=4, max_position_embeddings=256,
        bos_token_id=2, sep_token_id=3, pad_token_id=0,
        initializer_range=0.1,  # at BERT's 0.02 a random decoder barely reacts to its memory
    )
    return BlipTextLMHeadModel(config), tokenizer
