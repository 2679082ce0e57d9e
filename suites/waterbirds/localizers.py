"""Where in an image the offending feature lies: two localizers, both with grad-cam's GradCAM (Selvaraju
et al., ICCV 2017; the pytorch-grad-cam package, as MaskTune uses it), differing only in the scalar whose
gradient weighs the feature map (TExplain Section 4.4: "we localize the region of the first non-bird
dominant feature with GradCAM, as MaskTune does").

- ``class_cam``: the score of the predicted (argmax) class, as MaskTune masks (its targets are the
  argmax class, not the label). What the paper cites.
- ``word_cam``: the log-likelihood, under the frozen language model, of the offending word in the
  sentences the model sampled for the image, given the translator's output for the image's features.
  Its gradient goes back through the frozen LM and the translator to the classifier's last feature map:
  the region that makes the explanation say that word. No anchor has this; it is what the paper's
  sentence describes. Both are reported and labelled.

The target layer is the one MaskTune uses: a CNN's last feature stage (the module whose output is
``forward_features``; ResNet: layer4, EfficientNet: bn2 after conv_head), a ViT's last block's norm1 (the
last block's output does not reach the class token's gradient), with the token sequence reshaped to the
patch grid read from ``model.num_prefix_tokens`` and ``model.patch_embed.grid_size``, never hard-coded.

grad-cam pitfalls handled: ``targets`` is always passed (its newest versions have no default), no
``use_cuda`` argument (the CAM uses the model's device), and gradients are on for the target layer's
parameters (a frozen layer records no gradients), or its input gradient is computed when it has none.
"""

from __future__ import annotations

import re
from typing import Callable

import numpy as np
import torch
from pytorch_grad_cam import GradCAM
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

from texplain.device import autocast
from texplain.errors import TExplainError
from texplain.registry import did_you_mean
from texplain.words import lemma


def is_vit(model: torch.nn.Module) -> bool:
    return hasattr(model, "patch_embed") and hasattr(model, "blocks") and hasattr(model, "num_prefix_tokens")


def target_layer_name(model: torch.nn.Module, name: str, image_size: int) -> str:
    """The GradCAM target layer: `name` if given (checked), else MaskTune's choice for the architecture."""
    modules = dict(model.named_modules())
    if name != "auto":
        if name not in modules or not name:
            raise TExplainError(
                f"suites.waterbirds.gradcam_layer: {type(model).__name__} has no module '{name}'."
                f"{did_you_mean(name, [n for n in modules if n])} Use 'auto' or a name from model.named_modules()"
            )
        return name
    if is_vit(model):
        return f"blocks.{len(model.blocks) - 1}.norm1"
    # A CNN: the last direct child whose output is forward_features' output (its last feature stage).
    outputs: dict[str, torch.Tensor] = {}
    hooks = [child.register_forward_hook(lambda _m, _i, out, n=n: outputs.__setitem__(n, out)) for n, child in model.named_children()]
    try:
        was_training = model.training
        model.eval()
        with torch.no_grad():
            device = next(model.parameters()).device
            features = model.forward_features(torch.zeros(1, 3, image_size, image_size, device=device))
        model.train(was_training)
    finally:
        for hook in hooks:
            hook.remove()
    matching = [n for n, out in outputs.items() if isinstance(out, torch.Tensor) and out.shape == features.shape and torch.equal(out, features)]
    if not matching:
        raise TExplainError(f"cannot find the last feature stage of {type(model).__name__}; set suites.waterbirds.gradcam_layer to a module name")
    return matching[-1]


def reshape_transform(model: torch.nn.Module) -> Callable | None:
    """ViT tokens (B, prefix + h*w, D) -> (B, D, h, w) for GradCAM; None for a CNN."""
    if not is_vit(model):
        return None
    prefix = int(model.num_prefix_tokens)
    height, width = (int(s) for s in model.patch_embed.grid_size)

    def transform(tokens: torch.Tensor) -> torch.Tensor:
        if tokens.shape[1] != prefix + height * width:
            raise TExplainError(f"ViT gave {tokens.shape[1]} tokens, expected {prefix} prefix + {height}x{width} patches; "
                                "use the image size the model was built for")
        grid = tokens[:, prefix:, :].reshape(tokens.shape[0], height, width, tokens.shape[2])  # (B, h, w, D)
        return grid.permute(0, 3, 1, 2)  # (B, D, h, w)

    return transform


def _cam(model: torch.nn.Module, layer: torch.nn.Module, reshape) -> GradCAM:
    parameters = list(layer.parameters())
    for parameter in parameters:
        parameter.requires_grad_(True)  # a frozen target layer records no gradients
    cam = GradCAM(model=model, target_layers=[layer], reshape_transform=reshape)
    if not parameters:
        cam.compute_input_gradient = True  # a layer without parameters: let gradients flow from the input
    return cam


def class_cam(model: torch.nn.Module, layer_name: str, pixels: torch.Tensor, batch_size: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """GradCAM of the argmax class: heatmaps (N, S, S) in [0, 1] at the input size, and the classes (N,)."""
    model.eval()
    layer = dict(model.named_modules())[layer_name]
    device = next(model.parameters()).device
    heatmaps, classes = [], []
    with _cam(model, layer, reshape_transform(model)) as cam:
        for start in range(0, pixels.shape[0], batch_size):
            batch = pixels[start : start + batch_size].to(device)  # (B, 3, S, S)
            with torch.no_grad():
                predicted = model(batch).argmax(dim=1).tolist()  # MaskTune: the argmax class, not the label
            heatmaps.append(cam(input_tensor=batch, targets=[ClassifierOutputTarget(c) for c in predicted]))  # (B, S, S)
            classes.extend(predicted)
    return np.concatenate(heatmaps), np.array(classes)


# --- word_cam ----------------------------------------------------------------------------------------

_TOKEN = re.compile(r"[a-z]+")


def word_spans(sentences: list[str], word: str, limit: int) -> list[tuple[str, str]]:
    """(text before the word, the word as written) in the first `limit` sentences that hold `word`
    (compared after lemmatizing, as texplain/words.py counts it)."""
    spans = []
    for sentence in sentences:
        lowered = sentence.lower()
        for match in _TOKEN.finditer(lowered):
            if lemma(match.group()) == word:
                spans.append((sentence[: match.start()].strip(), sentence[match.start() : match.end()]))
                break
        if len(spans) == limit:
            break
    return spans


def _word_targets(decoder, spans: list[tuple[str, str]]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Caption ids (S, L), mask (S, L) and the positions of the word's tokens (S, L) for teacher forcing."""
    rows, positions = [], []
    for prefix, surface in spans:
        full_ids, full_mask = decoder.tokenize_captions([f"{prefix} {surface}".strip()])
        full = full_ids[0, : int(full_mask[0].sum()) - 1].tolist()  # without EOS
        start = 0
        if prefix:
            prefix_ids, prefix_mask = decoder.tokenize_captions([prefix])
            head = prefix_ids[0, : int(prefix_mask[0].sum()) - 1].tolist()
            if full[: len(head)] != head:  # the tokenizer merged across the boundary: score the whole sentence's tail
                head = head[:-1]
            start = len(head)
        rows.append(full)
        positions.append((start, len(full)))
    length = max(len(r) for r in rows)
    ids = torch.full((len(rows), length), decoder.eos_token_id, dtype=torch.long)
    mask = torch.zeros((len(rows), length), dtype=torch.long)
    where = torch.zeros((len(rows), length))
    for i, (row, (a, b)) in enumerate(zip(rows, positions)):
        ids[i, : len(row)] = torch.tensor(row)
        mask[i, : len(row)] = 1
        where[i, a:b] = 1.0
    return ids.to(decoder.device), mask.to(decoder.device), where.to(decoder.device)


class WordLogLikelihood(torch.nn.Module):
    """image -> classifier features -> translator -> frozen LM: the mean over sentences of the summed
    log-probability of the word's tokens, shape (1, 1), so that GradCAM can take it as its target."""

    def __init__(self, model: torch.nn.Module, translator: torch.nn.Module, decoder, ids, mask, where, precision: str = "fp32"):
        super().__init__()
        self.model, self.translator, self.decoder = model, translator, decoder
        self.ids, self.mask, self.where = ids, mask, where
        self.precision = precision  # the LM's resolved sampling precision; the classifier runs in fp32

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        features = self.model.forward_features(pixels)  # (1, C, h, w) or (1, T, D)
        tokens = features.flatten(2).transpose(1, 2) if features.ndim == 4 else features  # (1, T, D)
        conditioning = self.translator(tokens.float())  # (1, k, d)
        sentences = self.ids.shape[0]
        with autocast(self.decoder.device, self.precision):
            logits = self.decoder.caption_logits(conditioning.expand(sentences, -1, -1), self.ids, self.mask)  # (S, L, V)
        log_probs = logits.float().log_softmax(dim=-1).gather(-1, self.ids[..., None])[..., 0]  # (S, L)
        return ((log_probs * self.where).sum() / sentences).view(1, 1)


def word_cam(model: torch.nn.Module, layer_name: str, translator, decoder, pixels: torch.Tensor,
             sentences: list[list[str]], words: list[str], limit: int, precision: str = "fp32") -> tuple[np.ndarray, list[int]]:
    """GradCAM of each word's log-likelihood for its image: heatmaps (N, S, S) in [0, 1] and, per image, the
    number of its sentences that held the word (0: the word alone, "a picture of <word>", was scored)."""
    model.eval()
    translator.eval()
    layer = dict(model.named_modules())[layer_name]
    device = next(model.parameters()).device
    heatmaps, used = [], []
    for index in range(pixels.shape[0]):
        spans = word_spans(sentences[index], words[index], limit)
        used.append(len(spans))
        spans = spans or [("a picture of", words[index])]
        scorer = WordLogLikelihood(model, translator, decoder, *_word_targets(decoder, spans), precision=precision)
        with _cam(scorer, layer, reshape_transform(model)) as cam:
            heatmaps.append(cam(input_tensor=pixels[index : index + 1].to(device), targets=[ClassifierOutputTarget(0)]))  # (1, S, S)
    if not heatmaps:
        size = pixels.shape[-1]
        return np.zeros((0, size, size), dtype=np.float32), used
    return np.concatenate(heatmaps), used
