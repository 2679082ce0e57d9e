"""Tiny random-weight decoders and a word-level tokenizer, built from configs in-process (no downloads).

Used by the tests so that every translator x decoder kind runs end to end in seconds.
"""

from __future__ import annotations

import torch
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import BlipTextConfig, LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast
from transformers.models.blip.modeling_blip_text import BlipTextLMHeadModel

from texplain.decoders import CrossAttentionDecoder, PrefixLMDecoder

SPECIALS = ["[PAD]", "[UNK]", "[BOS]", "[EOS]"]
WORDS = (
    "a the small large red blue green yellow boat car bird house fish flower on in near water grass sand snow road "
    "forest sits floats is there picture shows left right center side of and with sun cloud ball sky ."
).split()

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


def word_tokenizer() -> PreTrainedTokenizerFast:
    vocab = {token: index for index, token in enumerate(SPECIALS + WORDS)}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    return PreTrainedTokenizerFast(
        tokenizer_object=backend, pad_token="[PAD]", unk_token="[UNK]", bos_token="[BOS]", eos_token="[EOS]"
    )


def tiny_prefix_decoder(seed: int = 0) -> PrefixLMDecoder:
    tokenizer = word_tokenizer()
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
        bos_token_id=2, eos_token_id=3, pad_token_id=0, tie_word_embeddings=True,
        initializer_range=0.2,  # at the default 0.02 the tied output layer gives near-uniform logits whatever the input
    )
    return PrefixLMDecoder("test:tiny-llama", LlamaForCausalLM(config), tokenizer)


def tiny_cross_attention_decoder(seed: int = 0) -> CrossAttentionDecoder:
    tokenizer = word_tokenizer()
    torch.manual_seed(seed)
    config = BlipTextConfig(
        vocab_size=len(tokenizer), hidden_size=64, encoder_hidden_size=24, intermediate_size=128,
        num_hidden_layers=2, num_attention_heads=4, max_position_embeddings=256,
        bos_token_id=2, sep_token_id=3, pad_token_id=0,
        initializer_range=0.1,  # at BERT's 0.02 a random decoder barely reacts to its memory
    )
    return CrossAttentionDecoder("test:tiny-blip-text", BlipTextLMHeadModel(config), tokenizer)


DECODER_BUILDERS = {"prefix": tiny_prefix_decoder, "cross_attention": tiny_cross_attention_decoder}
