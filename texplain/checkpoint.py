"""Translator checkpoints that know what they fit.

A checkpoint records the translator's config (name, shape, options), the classifier's identity
(spec, weights hash, preprocessing) and feature shape, and the decoder's identity (kind, spec,
conditioning size, vocabulary, weights hash). Loading it against another classifier or decoder
raises CheckpointMismatchError naming the field that differs and the fix, because a translator
trained for one feature space produces confident nonsense in another.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch

from texplain.errors import CheckpointMismatchError, InputFileError
from texplain.translators import Translator, TranslatorShape, build_translator

CHECKPOINT_FORMAT = "texplain-translator/1"


def atomic_torch_save(obj: Any, path: Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    os.close(handle)
    torch.save(obj, temp)
    # mkstemp creates the file 0600; a checkpoint is meant to be shared (the umask still applies).
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(temp, 0o666 & ~umask)
    os.replace(temp, path)


def save_translator(path: Path, translator: Translator, classifier: dict, decoder: dict, extra: dict | None = None) -> None:
    """classifier: identity + 'feature_shape'; decoder: FrozenDecoder.identity()."""
    atomic_torch_save(
        {
            "format": CHECKPOINT_FORMAT,
            "translator": translator.config(),
            "state_dict": translator.state_dict(),
            "classifier": classifier,
            "decoder": decoder,
            "extra": extra or {},
        },
        path,
    )


def read_checkpoint(path: Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise InputFileError(f"translator checkpoint {path} does not exist; pass the translator.pt of a finished run")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as error:
        raise InputFileError(f"translator checkpoint {path} cannot be read ({error}); it may be truncated, retrain or recopy it") from error
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise InputFileError(f"{path} is not a TExplain translator checkpoint (format {CHECKPOINT_FORMAT})")
    return payload


def _compare(path: Path, what: str, recorded: dict, actual: dict, fields: tuple[str, ...]) -> None:
    for field in fields:
        if field in actual and recorded.get(field) != actual[field]:
            raise CheckpointMismatchError(
                f"{path} was trained for {what} {field}={recorded.get(field)!r}, but this {what} has "
                f"{field}={actual[field]!r}; use the {what} it was trained with ({recorded.get('spec')}) or retrain the translator"
            )


def load_translator(path: Path, classifier: dict | None = None, decoder: dict | None = None) -> tuple[Translator, dict]:
    """Rebuild the translator; when identities are given, refuse a classifier/decoder it does not fit."""
    path = Path(path)
    payload = read_checkpoint(path)
    if classifier is not None:
        _compare(path, "classifier", payload["classifier"], classifier, ("feature_shape", "spec", "weights_hash", "data_config"))
    if decoder is not None:
        _compare(path, "decoder", payload["decoder"], decoder, ("kind", "conditioning_dim", "vocab_size", "spec", "weights_hash"))
    config = payload["translator"]
    translator = build_translator(config["name"], TranslatorShape(**config["shape"]), **config["options"])
    translator.load_state_dict(payload["state_dict"])
    translator.eval()
    return translator, payload
