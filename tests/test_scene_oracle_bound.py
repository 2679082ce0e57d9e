"""The scene oracle of benchmarks/bound_scene_oracle.py: each item's tokens become the mean of the training
items of its (object, background), else of its object; held-out items never enter a mean."""

import importlib.util
from pathlib import Path

import torch

_SCRIPT = Path(__file__).parents[1] / "benchmarks" / "bound_scene_oracle.py"
_spec = importlib.util.spec_from_file_location("bound_scene_oracle", _SCRIPT)
bound_scene_oracle = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bound_scene_oracle)


def test_tokens_become_their_scenes_training_mean():
    tokens = torch.arange(6 * 2 * 3, dtype=torch.float32).view(6, 2, 3)
    truths = [
        {"object": "bird", "background": "sky"},  # held out
        {"object": "boat", "background": "road"},  # held out, a scene no training item has
        {"object": "bird", "background": "sky"},
        {"object": "bird", "background": "sky"},
        {"object": "boat", "background": "water"},
        {"object": "bird", "background": "forest"},
    ]
    out = bound_scene_oracle.scene_mean_tokens(tokens, truths, train_indices=[2, 3, 4, 5])
    bird_sky = (tokens[2] + tokens[3]) / 2
    assert torch.equal(out[0], bird_sky) and torch.equal(out[2], bird_sky) and torch.equal(out[3], bird_sky)
    assert torch.equal(out[1], tokens[4])  # no boat-on-road in training: the boat mean (one item)
    assert torch.equal(out[5], tokens[5])
    assert not torch.equal(out[0], tokens[0])  # the held-out item's own tokens are gone


def test_image_mean_tokens_keep_each_image_its_own_mean():
    tokens = torch.randn(3, 4, 2, generator=torch.Generator().manual_seed(0))
    out = bound_scene_oracle.image_mean_tokens(tokens)
    assert out.shape == tokens.shape
    assert torch.allclose(out[1, 2], tokens[1].mean(dim=0)) and torch.allclose(out[1, 0], out[1, 3])
