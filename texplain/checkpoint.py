"""Translator checkpoints that know what they fit, and that load without running code.

A translator is saved in the layout of Hugging Face's ``save_pretrained``: a folder holding

- ``model.safetensors``: the state dict (safetensors holds raw tensors and a JSON header, nothing
  that can execute when read), and
- ``config.json``: the format tag, the translator's config (name, shape, options), the classifier's
  identity (spec, weights hash, preprocessing) and feature shape, the decoder's identity (kind, spec,
  conditioning size, vocabulary, weights hash), the weights file's sha256, and ``extra`` (the run
  config and training history).

So a translator someone shares can be loaded without trusting them. Nor does loading one import code: a
translator trained for a classifier that is code (a ``python:`` spec, a HookedClassifier) must be handed
that classifier by the caller, who decides to trust the code. Loading it against
another classifier or decoder raises CheckpointMismatchError naming the field that differs and the
fix, because a translator trained for one feature space produces confident nonsense in another.

The old format (one ``translator.pt`` written by torch.save, "texplain-translator/1") is a pickle,
and unpickling can run arbitrary code, so it is refused unless the caller opts in with
``trust_pickle=True`` (``texplain explain --trust-pickle``); texplain/checkpoint_convert.py turns
one into a folder once.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any, Callable

import safetensors.torch
import torch

from texplain.errors import CheckpointMismatchError, ClassifierRequiredError, InputFileError
from texplain.translators import Translator, TranslatorShape, build_translator

log = logging.getLogger(__name__)

CHECKPOINT_FORMAT = "texplain-translator/2"
PICKLE_FORMAT = "texplain-translator/1"  # the old torch.save file, loaded only with trust_pickle
WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"

# What the opt-in is called, for error messages (the CLI flag and the keyword).
TRUST_PICKLE_HINT = "pass --trust-pickle to texplain explain (trust_pickle=True in Python)"


def _atomic_write(path: Path, write: Callable[[str], None]) -> None:
    """Write through `write(temp_path)` into a temporary file beside `path`, then rename it over `path`,
    so a reader (or a killed writer) never sees half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    os.close(handle)
    try:
        write(temp)
        # mkstemp creates the file 0600; a checkpoint is meant to be shared (the umask still applies).
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temp, 0o666 & ~umask)
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise


def atomic_torch_save(obj: Any, path: Path) -> None:
    """torch.save, atomically. For the training resume file only (checkpoints/last.pt), which holds
    plain types and tensors and is read back with weights_only=True; shared translators use save_translator."""
    _atomic_write(path, lambda temp: torch.save(obj, temp))


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    def write(temp: str) -> None:
        with open(temp, "wb") as stream:
            stream.write(data)

    _atomic_write(path, write)


def _as_json(value: Any, what: str) -> Any:
    """`value` as it will read back from config.json (tuples become lists), or a clear error."""
    try:
        return json.loads(json.dumps(value))
    except (TypeError, ValueError) as error:
        raise ValueError(f"the translator checkpoint's {what} must be plain JSON values ({error}): {value!r}") from error


def save_translator(path: Path, translator: Translator, classifier: dict, decoder: dict, extra: dict | None = None) -> None:
    """Write the folder `path` (model.safetensors + config.json).

    classifier: identity + 'feature_shape'; decoder: FrozenDecoder.identity(); extra: anything
    informative (run config, history), stored as JSON with non-JSON values written as strings."""
    folder = Path(path)
    if folder.suffix in (".pt", ".pth", ".bin", ".safetensors", ".json"):
        raise ValueError(f"save_translator writes a folder ({WEIGHTS_NAME} + {CONFIG_NAME}); pass a folder such as run/translator, not {folder.name}")
    # safetensors refuses tensors sharing memory or not contiguous; detached contiguous copies are
    # what load_state_dict needs back.
    state = {key: value.detach().cpu().contiguous() for key, value in translator.state_dict().items()}
    weights = safetensors.torch.save(state, metadata={"format": "pt"})
    config = {
        "format": CHECKPOINT_FORMAT,
        "translator": _as_json(translator.config(), "translator config"),
        "classifier": _as_json(classifier, "classifier identity"),
        "decoder": _as_json(decoder, "decoder identity"),
        # Ties the pair together: weights from another save, or a damaged copy, are caught on load.
        "weights": {"file": WEIGHTS_NAME, "sha256": hashlib.sha256(weights).hexdigest()},
        "extra": json.loads(json.dumps(extra or {}, default=str)),
    }
    # Weights first: a folder whose config.json exists is complete (the sha256 checks the pair).
    _atomic_write_bytes(folder / WEIGHTS_NAME, weights)
    _atomic_write_bytes(folder / CONFIG_NAME, (json.dumps(config, indent=2, sort_keys=True) + "\n").encode())


def _missing(path: Path) -> InputFileError:
    hint = ""
    if path.suffix == ".pt" and (path.with_suffix("") / CONFIG_NAME).is_file():
        hint = f" (runs now save a folder: did you mean {path.with_suffix('')}?)"
    return InputFileError(
        f"translator checkpoint {path} does not exist{hint}; pass the translator folder of a finished run "
        f"(runs/<run>/translator, holding {WEIGHTS_NAME} and {CONFIG_NAME})"
    )


def _read_folder(folder: Path, weights_path: Path) -> dict:
    config_path = folder / CONFIG_NAME
    for needed in (config_path, weights_path):
        if not needed.is_file():
            raise InputFileError(
                f"{needed} does not exist; a translator folder holds {WEIGHTS_NAME} and {CONFIG_NAME} "
                "(save_translator writes both): recopy the whole folder"
            )
    try:
        config = json.loads(config_path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise InputFileError(f"{config_path} cannot be read ({error}); it may be truncated, recopy the translator folder or retrain") from error
    if not isinstance(config, dict) or config.get("format") != CHECKPOINT_FORMAT:
        found = config.get("format") if isinstance(config, dict) else None
        raise InputFileError(
            f"{config_path} is not a TExplain translator config (format {CHECKPOINT_FORMAT}, found {found!r}); "
            "pass the translator folder that save_translator wrote"
        )
    try:
        data = weights_path.read_bytes()
    except OSError as error:
        raise InputFileError(f"{weights_path} cannot be read ({error}); check its permissions or recopy the translator folder") from error
    recorded = (config.get("weights") or {}).get("sha256")
    if recorded is not None and hashlib.sha256(data).hexdigest() != recorded:
        raise InputFileError(
            f"{weights_path} does not match the sha256 recorded in {config_path}: the file is damaged or from "
            "another save; recopy the whole translator folder or retrain"
        )
    try:
        state_dict = safetensors.torch.load(data)
    except Exception as error:  # safetensors raises its own SafetensorError and also plain errors
        raise InputFileError(f"{weights_path} cannot be read ({error}); it may be truncated, recopy the translator folder or retrain") from error
    return {**config, "state_dict": state_dict}


def _looks_like_pickle(path: Path) -> bool:
    """torch.save writes a zip archive (PK..) or, before torch 1.6, a bare pickle (protocol byte 0x80)."""
    with open(path, "rb") as stream:
        head = stream.read(4)
    return head.startswith(b"PK\x03\x04") or head[:1] == b"\x80"


def _read_pickle(path: Path, trust_pickle: bool) -> dict:
    if not trust_pickle:
        if _looks_like_pickle(path):
            raise InputFileError(
                f"{path} is an old pickle checkpoint ({PICKLE_FORMAT}, written by torch.save); loading a pickle "
                f"can run arbitrary code, so it is refused. If you trust whoever made it, {TRUST_PICKLE_HINT}, "
                f"or convert it once into a safe folder: python -m texplain.checkpoint_convert {path} OUT_FOLDER --trust-pickle"
            )
        raise InputFileError(
            f"{path} is not a TExplain translator checkpoint; pass the translator folder of a finished run "
            f"(holding {WEIGHTS_NAME} and {CONFIG_NAME}, format {CHECKPOINT_FORMAT})"
        )
    log.warning("unpickling %s because trust_pickle was given: a pickle can run arbitrary code, load only files you trust", path)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as error:
        raise InputFileError(f"translator checkpoint {path} cannot be read ({error}); it may be truncated, retrain or recopy it") from error
    if not isinstance(payload, dict) or payload.get("format") != PICKLE_FORMAT:
        raise InputFileError(f"{path} is not a TExplain translator checkpoint (format {PICKLE_FORMAT})")
    return payload


def read_checkpoint(path: Path, *, trust_pickle: bool = False) -> dict:
    """The checkpoint's config.json fields plus 'state_dict'.

    `path`: a translator folder, or its model.safetensors (or config.json); read with no unpickling.
    An old pickle file loads only with trust_pickle=True."""
    path = Path(path)
    if path.is_dir():
        return _read_folder(path, path / WEIGHTS_NAME)
    if path.suffix == ".safetensors":
        if not path.is_file():
            raise _missing(path)
        return _read_folder(path.parent, path)
    if path.name == CONFIG_NAME and path.is_file():
        return _read_folder(path.parent, path.parent / WEIGHTS_NAME)
    if not path.is_file():
        raise _missing(path)
    # Any other file can only be the old single-file format.
    return _read_pickle(path, trust_pickle)


def _comparable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def _compare(path: Path, what: str, recorded: dict, actual: dict, fields: tuple[str, ...]) -> None:
    for field in fields:
        # Compared as stored: config.json turns tuples into lists.
        if field in actual and _comparable(recorded.get(field)) != _comparable(actual[field]):
            raise CheckpointMismatchError(
                f"{path} was trained for {what} {field}={recorded.get(field)!r}, but this {what} has "
                f"{field}={actual[field]!r}; use the {what} it was trained with ({recorded.get('spec')}) or retrain the translator"
            )


# Classifier specs that name code rather than weights: python:<module>:<factory>@<layer>
# (texplain/python_classifier.py) and module:<class>:<layer> (a HookedClassifier around a user's module).
CODE_CLASSIFIER_SOURCES = ("python", "module")


def names_code(classifier: dict) -> bool:
    """Whether a recorded classifier identity names code (which loading a checkpoint must never import)."""
    return str(classifier.get("spec", "")).partition(":")[0] in CODE_CLASSIFIER_SOURCES


def classifier_required(path: Path, recorded: dict) -> ClassifierRequiredError:
    """The error for a checkpoint whose classifier is code and was not passed in: how to pass it."""
    spec = recorded.get("spec")
    if str(spec).startswith("python:"):
        how = (f"build it with texplain.classifier.FrozenClassifier.from_spec({spec!r}) (that imports and runs the code: "
               "only if you trust it) or as a HookedClassifier")
    else:
        how = "build it as it was built for training: HookedClassifier(model, layer=..., class_names=..., transform=...)"
    return ClassifierRequiredError(
        f"{path} was trained for classifier {spec}, which is code of one's own, and a translator checkpoint never "
        f"imports the code it names; pass the classifier in: Explainer.from_checkpoint(path, classifier=...) or "
        f"load_translator(path, classifier=...); {how}"
    )


def classifier_identity(classifier: Any) -> dict:
    """A classifier object's identity with its feature shape, as checkpoints record it (a dict passes through)."""
    if isinstance(classifier, dict):
        return classifier
    return {**classifier.identity(), "feature_shape": list(classifier.feature_shape)}


def load_translator(
    path: Path,
    classifier: Any = None,
    decoder: dict | None = None,
    *,
    trust_pickle: bool = False,
    payload: dict | None = None,
) -> tuple[Translator, dict]:
    """Rebuild the translator; when identities are given, refuse a classifier/decoder it does not fit.

    classifier: its identity (with 'feature_shape') or the classifier object itself; a checkpoint whose
    classifier is code (a python: spec, a HookedClassifier) needs it, and raises ClassifierRequiredError
    without it. payload: what read_checkpoint(path) already returned, so the file is not read (or
    unpickled) twice."""
    path = Path(path)
    if payload is None:
        payload = read_checkpoint(path, trust_pickle=trust_pickle)
    if classifier is None and names_code(payload["classifier"]):
        raise classifier_required(path, payload["classifier"])
    if classifier is not None:
        classifier = classifier_identity(classifier)
        _compare(path, "classifier", payload["classifier"], classifier, ("feature_shape", "spec", "weights_hash", "data_config"))
    if decoder is not None:
        _compare(path, "decoder", payload["decoder"], decoder, ("kind", "conditioning_dim", "vocab_size", "spec", "weights_hash"))
    config = payload["translator"]
    translator = build_translator(config["name"], TranslatorShape(**config["shape"]), **config["options"])
    try:
        translator.load_state_dict(payload["state_dict"])
    except RuntimeError as error:  # missing, unexpected or mis-shaped tensors
        raise InputFileError(f"the weights in {path} do not fit the translator its config describes ({error}); recopy the translator folder or retrain") from error
    translator.eval()
    return translator, payload
