"""A classifier of one's own named by a spec string: ``python:<module>:<factory>@<layer>``.

``python:my_pkg.models:build@layer4`` imports ``my_pkg.models``, calls ``build()`` (no arguments) for the
``torch.nn.Module``, and reads Z from the output of its submodule ``layer4`` with a forward hook
(texplain/hooked_classifier.py), so ``texplain run --set models.classifier=python:...`` and the suites that
use the run's classifier explain a model that is neither packaged nor timm's. The factory may be a dotted
attribute (``Models.build``); the layer is spelled as ``model.named_modules()`` spells it.

Preprocessing, first that applies:

1. explicit options (``models.preprocessing`` in a run config, ``preprocessing=`` here): any of
   input_size, mean, std, interpolation, crop_pct, crop_mode, over the next two;
2. the model's timm-style ``pretrained_cfg`` (or ``default_cfg``) dict, read as timm reads it;
3. the default: timm's defaults at 224 px (ImageNet mean and std, bicubic resize, centre crop 0.875).

The identity's ``data_config`` says which (``"source"``), so a run's config.json and a translator's
checkpoint show whether the preprocessing was the model's own or the default guess.

Class names: the model's ``class_names`` attribute when it has one per logit, else ImageNet's names for
1000 logits, else the indices. Weights are whatever the factory loads; ``random_weights`` does not apply.

Code named by a spec runs when the spec is loaded. A translator checkpoint that names a ``python:``
classifier never loads it by itself (texplain/checkpoint.py): the user builds this classifier and passes it.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Callable

import torch

from texplain.errors import TExplainError, UnknownNameError
from texplain.classifier import imagenet_info
from texplain.hooked_classifier import HookedClassifier, check_layer, hooked_forward
from texplain.registry import did_you_mean

PREFIX = "python:"
SPEC_FORM = "python:<module>:<factory>@<layer> (e.g. python:my_pkg.models:build@layer4)"
PREPROCESSING_KEYS = ("input_size", "mean", "std", "interpolation", "crop_pct", "crop_mode")
DEFAULT_INPUT_SIZE = (3, 224, 224)
DEFAULT_SOURCE = "default: timm's defaults at 224 px (ImageNet mean/std, bicubic, centre crop 0.875); the model has no pretrained_cfg/default_cfg"


@dataclass(frozen=True)
class PythonSpec:
    module: str
    factory: str
    layer: str

    def __str__(self) -> str:
        return f"{PREFIX}{self.module}:{self.factory}@{self.layer}"


def parse_python_spec(spec: str) -> PythonSpec:
    """'python:my_pkg.models:build@layer4' -> PythonSpec, or a TExplainError showing the form."""
    if not spec.startswith(PREFIX):
        raise TExplainError(f"'{spec}' is not a python: classifier spec; write {SPEC_FORM}")
    target, at, layer = spec[len(PREFIX):].rpartition("@")
    module, colon, factory = target.partition(":")
    if not at or not layer or not colon or not module or not factory:
        raise TExplainError(f"classifier spec '{spec}' is incomplete; write {SPEC_FORM}")
    return PythonSpec(module.strip(), factory.strip(), layer.strip())


def _import_module(spec: PythonSpec):
    try:
        return importlib.import_module(spec.module)
    except ModuleNotFoundError as error:
        missing = error.name or ""
        if spec.module == missing or spec.module.startswith(missing + "."):
            raise UnknownNameError(
                f"{spec}: cannot import module '{spec.module}' (no module named '{missing}'); install its package "
                "(pip install -e <its folder>) or add the folder holding it to PYTHONPATH"
            ) from error
        raise TExplainError(f"{spec}: importing '{spec.module}' failed: it imports '{missing}', which is not installed; install it") from error
    except Exception as error:  # noqa: BLE001 - the user's module may raise anything while it loads
        raise TExplainError(f"{spec}: importing '{spec.module}' raised {type(error).__name__}: {error}; fix that module") from error


def import_factory(spec: PythonSpec) -> Callable[[], Any]:
    """The factory a spec names (its module is imported, which runs that module's code)."""
    target: Any = _import_module(spec)
    walked = spec.module
    for part in spec.factory.split("."):
        if not hasattr(target, part):
            names = [n for n in dir(target) if not n.startswith("_") and callable(getattr(target, n, None))]
            raise UnknownNameError(
                f"{spec}: '{walked}' has no attribute '{part}'.{did_you_mean(part, names)} "
                f"Its callables: {', '.join(names[:30]) or 'none'}"
            )
        target = getattr(target, part)
        walked = f"{walked}.{part}"
    if not callable(target):
        raise TExplainError(f"{spec}: {walked} is a {type(target).__name__}, not a callable; name a function that returns the model")
    return target


def build_model(spec: PythonSpec) -> torch.nn.Module:
    factory = import_factory(spec)
    try:
        model = factory()
    except Exception as error:  # noqa: BLE001 - the user's factory may raise anything
        raise TExplainError(f"{spec}: calling {spec.module}.{spec.factory}() raised {type(error).__name__}: {error}; fix the factory") from error
    if not isinstance(model, torch.nn.Module):
        raise TExplainError(f"{spec}: {spec.module}.{spec.factory}() returned {type(model).__name__}, not a torch.nn.Module; return the model")
    return model


def _as_tuple(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def preprocessing_config(model: torch.nn.Module, options: dict | None = None) -> tuple[dict, str]:
    """(timm data config, where it came from) for `model`: explicit options over the model's
    pretrained_cfg/default_cfg over the default (see the module docstring)."""
    from timm.data import resolve_data_config

    options = dict(options or {})
    for key in options:
        if key not in PREPROCESSING_KEYS:
            raise UnknownNameError(f"unknown preprocessing option '{key}'.{did_you_mean(key, list(PREPROCESSING_KEYS))} Known: {', '.join(PREPROCESSING_KEYS)}")
    own = getattr(model, "pretrained_cfg", None) or getattr(model, "default_cfg", None)
    if isinstance(own, dict) and own:
        base, source = own, "the model's pretrained_cfg/default_cfg"
    else:
        base, source = {"input_size": DEFAULT_INPUT_SIZE}, DEFAULT_SOURCE
    if isinstance(options.get("input_size"), int):
        options["input_size"] = (3, options["input_size"], options["input_size"])  # a side length, as timm's --img-size
    overrides = {key: _as_tuple(value) for key, value in options.items()}
    config = resolve_data_config({}, pretrained_cfg={**base, **overrides})
    if overrides:
        source = f"{', '.join(sorted(overrides))} set explicitly; the rest from {source}"
    return {key: config[key] for key in PREPROCESSING_KEYS if key in config}, source


class PythonClassifier(HookedClassifier):
    """The model a ``python:`` spec's factory returns, Z from the spec's layer, frozen on `device`."""

    def __init__(self, spec: str, model: torch.nn.Module, device: torch.device | str = "cpu", preprocessing: dict | None = None):
        import timm.data

        parsed = parse_python_spec(spec)
        try:
            check_layer(model, parsed.layer)  # before any forward: a wrong name fails with the list of names
        except UnknownNameError as error:
            raise UnknownNameError(f"{spec}: {error}") from error
        self.data_config, self.preprocessing_source = preprocessing_config(model, preprocessing)
        transform = timm.data.create_transform(**self.data_config, is_training=False)
        device = torch.device(device)
        model = model.to(device).eval().requires_grad_(False)
        # One forward of a blank image tells the number of logits (so the class names) and Z's shape.
        try:
            tokens, logits = hooked_forward(model, parsed.layer, torch.zeros(1, *self.data_config["input_size"], device=device))
        except TExplainError as error:
            raise TExplainError(f"{spec}: {error}") from error
        super().__init__(model, parsed.layer, _class_names(model, int(logits.shape[-1])), transform)
        self.spec = str(parsed)
        self._feature_shape = (int(tokens.shape[1]), int(tokens.shape[2]))

    @classmethod
    def from_spec(cls, spec: str, device: torch.device | str = "cpu", preprocessing: dict | None = None) -> "PythonClassifier":
        """Import the spec's module, call its factory, and wrap the model (each step's failure named)."""
        return cls(spec, build_model(parse_python_spec(spec)), device, preprocessing)

    def identity(self) -> dict:
        data_config = {key: list(value) if isinstance(value, tuple) else value for key, value in self.data_config.items()}
        return {"spec": self.spec, "weights_hash": self.weights_hash, "data_config": {**data_config, "source": self.preprocessing_source}}


def _class_names(model: torch.nn.Module, num_logits: int) -> list[str]:
    names = getattr(model, "class_names", None)
    if isinstance(names, (list, tuple)) and len(names) == num_logits:
        return [str(name) for name in names]
    if num_logits == 1000:
        return [imagenet_info().index_to_description(i) for i in range(1000)]
    return [str(i) for i in range(num_logits)]
