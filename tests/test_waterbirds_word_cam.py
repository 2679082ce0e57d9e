"""word_cam (suites/waterbirds/localizers.py) on a tiny hand-built stack: a classifier whose feature map has a
"red" and a "green" channel, a translator that averages the tokens, and a language model whose logit of the
word "water" grows with the red channel only. The heatmap of "water" must lie on the red square, not on
the green one; and class_cam / the target layer checks behave on a real tiny timm model."""

from __future__ import annotations

import numpy as np
import pytest
import timm
import torch
from torch import nn

from suites.waterbirds.localizers import class_cam, reshape_transform, target_layer_name, word_cam, word_spans
from suites.waterbirds.masks import masktune_threshold
from texplain.errors import TExplainError

VOCAB = ["<eos>", "a", "boat", "on", "the", "water", "picture", "of", "grass"]


class ColourNet(nn.Module):
    """forward_features: (B, 2, 8, 8), channel 0 = mean red, channel 1 = mean green of each 4x4 cell."""

    def __init__(self):
        super().__init__()
        conv = nn.Conv2d(3, 2, kernel_size=1, bias=False)
        with torch.no_grad():
            conv.weight.zero_()
            conv.weight[0, 0] = 1.0  # red
            conv.weight[1, 1] = 1.0  # green
        self.stage = nn.Sequential(conv, nn.AvgPool2d(4))
        self.head = nn.Linear(2, 2)

    def forward_features(self, x):
        return self.stage(x)  # (B, 2, 8, 8)

    def forward(self, x):
        return self.head(self.forward_features(x).mean(dim=(2, 3)))


class MeanTranslator(nn.Module):
    def forward(self, tokens):  # (B, T, 2) -> (B, 1, 2)
        return tokens.mean(dim=1, keepdim=True)


class ColourLM:
    """A stand-in frozen LM: the logit of 'water' is 8 x the conditioning's red value, of 'grass' 8 x its green."""

    eos_token_id = 0
    device = torch.device("cpu")

    def tokenize_captions(self, captions):
        rows = [[VOCAB.index(w) for w in c.split()] + [0] for c in captions]
        length = max(len(r) for r in rows)
        ids = torch.zeros((len(rows), length), dtype=torch.long)
        mask = torch.zeros((len(rows), length), dtype=torch.long)
        for i, r in enumerate(rows):
            ids[i, : len(r)] = torch.tensor(r)
            mask[i, : len(r)] = 1
        return ids, mask

    def caption_logits(self, conditioning, ids, mask):
        logits = torch.zeros(ids.shape[0], ids.shape[1], len(VOCAB))  # (S, L, V)
        red, green = conditioning[:, 0, 0], conditioning[:, 0, 1]  # (S,)
        logits = logits + 0.0 * conditioning.sum()  # keeps the graph when neither word is scored
        logits[:, :, VOCAB.index("water")] = 8 * red[:, None]
        logits[:, :, VOCAB.index("grass")] = 8 * green[:, None]
        return logits


def image_with_squares() -> torch.Tensor:
    pixels = torch.zeros(1, 3, 32, 32)
    # A red square in the top-left corner, brightest in its own top-left cell (MaskTune's threshold, mean +
    # 2 std of the positive pixels, masks a map's peak, not a flat plateau), a green one bottom-right.
    pixels[0, 0, 0:8, 0:8] = 0.3
    pixels[0, 0, 0:4, 0:4] = 1.0
    pixels[0, 1, 24:32, 24:32] = 0.3
    pixels[0, 1, 28:32, 28:32] = 1.0
    return pixels


@pytest.mark.parametrize("word, where", [("water", (slice(0, 8), slice(0, 8))), ("grass", (slice(24, 32), slice(24, 32)))])
def test_word_cam_puts_its_mass_where_the_feature_driving_the_word_lies(word, where):
    model = ColourNet().requires_grad_(False)  # frozen, as the pitfall says: word_cam must still get gradients
    heatmaps, used = word_cam(model, "stage", MeanTranslator(), ColourLM(), image_with_squares(), [["a boat on the water", "the grass"]], [word], limit=2)
    assert heatmaps.shape == (1, 32, 32)
    assert used == [1]  # one of the two sentences holds the word
    heat = heatmaps[0]
    assert heat[where].sum() / heat.sum() > 0.6
    mask = masktune_threshold(heat)
    assert mask.any() and mask[where].sum() == mask.sum()  # every masked pixel lies in the driving square


def test_word_spans_find_the_word_lemmatized():
    assert word_spans(["two boats on the waters", "a car"], "water", 5) == [("two boats on the", "waters")]
    assert word_spans(["a car"], "water", 5) == []


def test_class_cam_and_target_layers_on_a_tiny_timm_model():
    torch.manual_seed(0)
    model = timm.create_model("test_resnet", pretrained=False, num_classes=2)
    assert target_layer_name(model, "auto", 64) == "layer4"  # the module whose output is forward_features
    with pytest.raises(TExplainError, match=r"no module 'layer9'.*Did you mean"):
        target_layer_name(model, "layer9", 64)
    heatmaps, classes = class_cam(model, "layer4", torch.randn(3, 3, 64, 64))
    assert heatmaps.shape == (3, 64, 64) and classes.shape == (3,)
    assert heatmaps.min() >= 0 and heatmaps.max() <= 1


def test_vit_target_layer_and_reshape_come_from_the_model():
    model = timm.create_model("vit_tiny_patch16_224", pretrained=False, img_size=64, num_classes=2)
    assert target_layer_name(model, "auto", 64) == f"blocks.{len(model.blocks) - 1}.norm1"
    tokens = torch.randn(2, model.num_prefix_tokens + 16, 192)
    assert reshape_transform(model)(tokens).shape == (2, 192, 4, 4)
    heatmaps, _ = class_cam(model, target_layer_name(model, "auto", 64), torch.randn(1, 3, 64, 64))
    assert heatmaps.shape == (1, 64, 64)
