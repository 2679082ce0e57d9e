"""Any ``torch.nn.Module`` as the frozen classifier: Z is the output of a submodule named by the user.

texplain/classifier.py builds timm models from a spec, for which timm says where the penultimate features
are (``forward_features``) and how to preprocess. A model of one's own (a torchvision ResNet fine-tuned on
ten classes, a research model) has neither, so the user names the three things TExplain needs:

- ``layer``: the submodule whose output is Z (the paper's penultimate features), read with a forward
  hook during the model's own forward, so the model runs exactly as it would without TExplain;
- ``class_names``: one per output logit, so the predicted class's word can be red in the word cloud
  for a model that is not an ImageNet one;
- ``transform``: the model's preprocessing, a callable from a PIL image to a (3, H, W) tensor
  (preprocessing travels with the weights: docs/design.md#house-style).

Z becomes tokens as in classifier.py: a feature map (B, C, H, W) gives (B, H*W, C); a token sequence
(B, T, D) stays as it is. The model is frozen (eval mode, no gradients) and keeps its own device.
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch
from PIL import Image

from texplain.classifier import ClassifierOutput, FrozenClassifier
from texplain.errors import TExplainError, UnknownNameError
from texplain.hashing import hash_state_dict
from texplain.registry import did_you_mean


def _logits_of(output) -> torch.Tensor:
    """The logits in what a model's forward returns: a tensor, an object with .logits (transformers), or a tuple's first item."""
    if isinstance(output, torch.Tensor):
        return output
    if isinstance(getattr(output, "logits", None), torch.Tensor):
        return output.logits
    if isinstance(output, (tuple, list)) and output and isinstance(output[0], torch.Tensor):
        return output[0]
    raise TExplainError(f"the model's forward returned {type(output).__name__}; HookedClassifier needs logits (B, classes): a tensor, .logits or a tuple starting with them")


def _as_tokens(features, layer: str) -> torch.Tensor:
    if isinstance(features, (tuple, list)):  # some blocks return (hidden, extras)
        features = features[0]
    if not isinstance(features, torch.Tensor):
        raise TExplainError(f"layer '{layer}' returned {type(features).__name__}, not a tensor; name a layer whose output is the feature map or token sequence")
    if features.ndim == 4:  # CNN: (B, C, H, W) -> (B, H*W, C)
        return features.flatten(2).transpose(1, 2)
    if features.ndim == 3:  # transformer: (B, T, D)
        return features
    raise TExplainError(f"layer '{layer}' gave shape {tuple(features.shape)}; Z must be a feature map (B, C, H, W) or tokens (B, T, D): name another layer")


@torch.no_grad()
def hooked_forward(model: torch.nn.Module, layer: str, pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Tokens (B, T, D) of `layer`'s output and the logits of one forward of `model` on `pixels`."""
    captured = []
    handle = model.get_submodule(layer).register_forward_hook(lambda module, inputs, output: captured.append(output))
    try:
        logits = _logits_of(model(pixels))  # (B, classes)
    finally:
        handle.remove()
    if not captured:
        raise TExplainError(f"layer '{layer}' did not run in the model's forward; name a layer on the path from the image to the logits")
    return _as_tokens(captured[-1], layer), logits


PROBE_IMAGE_SIZE = 224  # the grey image feature_shape runs through the transform (which resizes it)
LISTED_LAYERS = 40  # layer names an error lists before it says how many more there are


def check_layer(model: torch.nn.Module, layer: str) -> None:
    """Raise UnknownNameError, listing the model's layer names (and the closest one), unless `layer` is one."""
    names = [name for name, _ in model.named_modules() if name]
    if layer in names:
        return
    listed = ", ".join(names[:LISTED_LAYERS]) + (f", ... ({len(names) - LISTED_LAYERS} more)" if len(names) > LISTED_LAYERS else "")
    raise UnknownNameError(
        f"{type(model).__name__} has no submodule '{layer}'.{did_you_mean(layer, names)} "
        f"Name the layer whose output is Z, as model.named_modules() spells it; its layers: {listed or 'none (the model has no submodules)'}"
    )


def describe_transform(transform: Callable) -> str:
    """The preprocessing as text for identities: repr() of a transform object (torchvision's Compose lists
    its steps), but a function's qualified name, since a function's repr holds its memory address, which
    differs in every process (a translator saved in one would then never fit the same function in another)."""
    text = repr(transform)
    if " at 0x" in text and hasattr(transform, "__qualname__"):
        return f"{getattr(transform, '__module__', '?')}.{transform.__qualname__}"
    return text


class HookedClassifier:
    """A frozen ``model`` whose features Z are the output of its submodule ``layer``."""

    def __init__(self, model: torch.nn.Module, layer: str, class_names: Sequence[str], transform: Callable[[Image.Image], torch.Tensor]):
        check_layer(model, layer)
        if not callable(transform):
            raise TExplainError(f"transform must be a callable from a PIL image to a (3, H, W) tensor (the model's preprocessing), got {type(transform).__name__}")
        self.model = model.eval().requires_grad_(False)
        self.layer = layer
        self.class_names = [str(name) for name in class_names]
        self.num_classes = len(self.class_names)
        self.transform = transform
        self.spec = f"module:{type(model).__name__}:{layer}"
        self.weights_hash = hash_state_dict(model.state_dict())

    @property
    def device(self) -> torch.device:
        parameter = next(self.model.parameters(), None)
        return parameter.device if parameter is not None else torch.device("cpu")

    def identity(self) -> dict:
        """What determines the features of an image (for texplain/feature_cache.py)."""
        return {"spec": self.spec, "weights_hash": self.weights_hash, "data_config": {"transform": describe_transform(self.transform)}}

    load_image = staticmethod(FrozenClassifier.load_image)  # a path -> RGB PIL image, or a clear error

    @property
    def feature_shape(self) -> tuple[int, int]:
        """(T, D) of Z, from one forward of a plain grey image through the transform (which sets the size)."""
        if getattr(self, "_feature_shape", None) is None:
            tokens = self.forward(self.preprocess([Image.new("RGB", (PROBE_IMAGE_SIZE, PROBE_IMAGE_SIZE), (128, 128, 128))])).tokens
            self._feature_shape = (int(tokens.shape[1]), int(tokens.shape[2]))
        return self._feature_shape

    def preprocess(self, images: list[Image.Image]) -> torch.Tensor:
        return torch.stack([self.transform(image.convert("RGB")) for image in images])  # (B, 3, H, W)

    @torch.no_grad()
    def forward(self, pixels: torch.Tensor) -> ClassifierOutput:
        tokens, logits = hooked_forward(self.model, self.layer, pixels.to(self.device))
        if logits.ndim != 2 or logits.shape[1] != self.num_classes:
            raise TExplainError(f"the model gives logits of shape {tuple(logits.shape)} but {self.num_classes} class names were given; pass one name per logit")
        # A CNN's head pools its last feature map, so the mean token is its pre-logits; for other models
        # it is a stand-in (nothing in texplain's explanations reads it).
        return ClassifierOutput(tokens=tokens.float(), pooled=tokens.float().mean(1), logits=logits.float())

    def class_name(self, index: int) -> str:
        return self.class_names[index]
