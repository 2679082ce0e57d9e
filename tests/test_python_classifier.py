"""python:<module>:<factory>@<layer> classifiers (texplain/python_classifier.py): a model of one's own named
in a run config, with clear errors for a missing module, attribute or layer, preprocessing from the model's
pretrained_cfg, explicit options or the default (said in the identity), and a run and a suite on it."""

import json
import sys
import textwrap

import pytest
from PIL import Image

from texplain.classifier import FrozenClassifier
from texplain.errors import ClassifierRequiredError, TExplainError, UnknownNameError
from texplain.python_classifier import DEFAULT_SOURCE, PythonClassifier, parse_python_spec

MODULE = '''
import torch
from torch import nn


class Net(nn.Module):
    """Conv features in `layer4` (stride 8: an 8 x 8 map of 16 channels at 64 px), `num_classes` logits."""

    def __init__(self, num_classes=2):
        super().__init__()
        self.layer4 = nn.Sequential(nn.Conv2d(3, 16, 8, stride=8), nn.ReLU())
        self.head = nn.Linear(16, num_classes)

    def forward(self, x):
        return self.head(self.layer4(x).mean((2, 3)))


def build():
    torch.manual_seed(0)
    model = Net()
    model.class_names = ["cat", "dog"]
    return model


def build_timm_style():
    model = build()
    model.pretrained_cfg = {"input_size": (3, 96, 96), "mean": (0.5, 0.5, 0.5), "std": (0.5, 0.5, 0.5), "crop_pct": 1.0}
    return model


def build_imagenet():
    torch.manual_seed(0)
    return Net(num_classes=1000)


def broken():
    raise RuntimeError("weights file missing")


def not_a_model():
    return 42


class Factories:
    @staticmethod
    def build():
        return build()
'''


@pytest.fixture
def own_models(tmp_path, monkeypatch):
    # Another test may have imported a module of this name from its own folder: import ours afresh, and
    # leave none behind.
    sys.modules.pop("own_models", None)
    (tmp_path / "own_models.py").write_text(textwrap.dedent(MODULE))
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "own_models"
    sys.modules.pop("own_models", None)


def test_a_spec_names_a_module_a_factory_and_a_layer(own_models):
    classifier = FrozenClassifier.from_spec("python:own_models:build@layer4")
    assert isinstance(classifier, PythonClassifier) and classifier.spec == "python:own_models:build@layer4"
    assert classifier.feature_shape == (28 * 28, 16)  # 224 px by default, stride 8
    assert classifier.class_names == ["cat", "dog"] and classifier.class_name(1) == "dog"
    identity = classifier.identity()
    assert identity["data_config"]["input_size"] == [3, 224, 224] and identity["data_config"]["source"] == DEFAULT_SOURCE
    assert "default" in identity["data_config"]["source"] and "ImageNet mean/std" in identity["data_config"]["source"]
    again = FrozenClassifier.from_spec("python:own_models:Factories.build@layer4")  # a dotted factory
    assert again.weights_hash == classifier.weights_hash
    assert parse_python_spec("python:a.b:c.d@e.f.g") == parse_python_spec("python:a.b:c.d@e.f.g")
    assert str(parse_python_spec("python:a.b:c@layer4.0")) == "python:a.b:c@layer4.0"


def test_preprocessing_from_the_models_cfg_or_explicit_options(own_models):
    timm_style = FrozenClassifier.from_spec("python:own_models:build_timm_style@layer4")
    assert timm_style.data_config["input_size"] == (3, 96, 96) and timm_style.data_config["mean"] == (0.5, 0.5, 0.5)
    assert timm_style.identity()["data_config"]["source"] == "the model's pretrained_cfg/default_cfg"
    assert timm_style.feature_shape == (12 * 12, 16)
    explicit = FrozenClassifier.from_spec("python:own_models:build_timm_style@layer4", preprocessing={"input_size": 64, "std": [0.25, 0.25, 0.25]})
    assert explicit.data_config["input_size"] == (3, 64, 64) and explicit.data_config["std"] == (0.25, 0.25, 0.25)
    assert explicit.data_config["mean"] == (0.5, 0.5, 0.5)  # the rest from the model's cfg
    assert explicit.identity()["data_config"]["source"].startswith("input_size, std set explicitly; the rest from the model's pretrained_cfg")
    assert explicit.preprocess([Image.new("RGB", (100, 80))]).shape == (1, 3, 64, 64)
    with pytest.raises(UnknownNameError, match="unknown preprocessing option 'input_szie'. Did you mean 'input_size'"):
        FrozenClassifier.from_spec("python:own_models:build@layer4", preprocessing={"input_szie": 64})
    with pytest.raises(TExplainError, match="preprocessing options apply to python: classifiers"):
        FrozenClassifier.from_spec("packaged:efficientnet_lite0", preprocessing={"input_size": 64})
    imagenet = FrozenClassifier.from_spec("python:own_models:build_imagenet@layer4", preprocessing={"input_size": 32})
    assert imagenet.num_classes == 1000 and imagenet.class_name(1) == "goldfish, Carassius auratus"


def test_missing_module_attribute_or_layer_get_clear_errors(own_models):
    with pytest.raises(UnknownNameError, match="cannot import module 'own_modelz' .*PYTHONPATH"):
        FrozenClassifier.from_spec("python:own_modelz:build@layer4")
    with pytest.raises(UnknownNameError, match="cannot import module 'own_models.sub'"):
        FrozenClassifier.from_spec("python:own_models.sub:build@layer4")
    with pytest.raises(UnknownNameError, match="has no attribute 'biuld'. Did you mean 'build'\\? Its callables: .*build_timm_style"):
        FrozenClassifier.from_spec("python:own_models:biuld@layer4")
    with pytest.raises(UnknownNameError, match="no submodule 'layer5'. Did you mean 'layer4'\\?.*its layers: layer4, layer4.0, layer4.1, head"):
        FrozenClassifier.from_spec("python:own_models:build@layer5")
    with pytest.raises(TExplainError, match="is incomplete; write python:<module>:<factory>@<layer>"):
        FrozenClassifier.from_spec("python:own_models:build")
    with pytest.raises(TExplainError, match="calling own_models.broken\\(\\) raised RuntimeError: weights file missing"):
        FrozenClassifier.from_spec("python:own_models:broken@layer4")
    with pytest.raises(TExplainError, match="returned int, not a torch.nn.Module"):
        FrozenClassifier.from_spec("python:own_models:not_a_model@layer4")
    with pytest.raises(TExplainError, match="random weights apply to packaged: and timm: classifiers"):
        FrozenClassifier.from_spec("python:own_models:build@layer4", random_weights=True)
    with pytest.raises(UnknownNameError, match="python:<module>:<factory>@<layer>"):
        FrozenClassifier.from_spec("pyhton:own_models:build@layer4")


@pytest.mark.slow
def test_texplain_run_and_its_suite_on_a_python_classifier(own_models, tmp_path, monkeypatch):
    """The tiny quickstart with a python: classifier (64 px by an explicit option): the run, the Only-BG suite
    on the run's classifier, and the shared translator, which asks for the classifier instead of importing it."""
    from harness.config import load_config
    from harness.pipeline.run import run
    from texplain.checkpoint import load_translator
    from texplain.explainer import Explainer
    from tiny_run import TINY_QUICKSTART

    monkeypatch.setenv("TEXPLAIN_CACHE", str(tmp_path / "cache"))
    spec = "python:own_models:build@layer4"
    config = load_config("quickstart", [*TINY_QUICKSTART, f"models.classifier={spec}", "models.preprocessing={input_size: 64}"])
    path = run(config, tmp_path / "runs", progress=False)
    metrics = json.loads((path / "metrics.json").read_text())
    assert metrics["models"]["classifier"] == spec and "only_bg" in metrics["suites"]
    saved = json.loads((path / "translator" / "config.json").read_text())["classifier"]
    assert saved["spec"] == spec and saved["feature_shape"] == [64, 16] and "input_size set explicitly" in saved["data_config"]["source"]

    with pytest.raises(ClassifierRequiredError, match="never imports the code it names; pass the classifier in"):
        Explainer.from_checkpoint(path / "translator")
    with pytest.raises(ClassifierRequiredError, match=f"FrozenClassifier.from_spec\\('{spec}'\\)"):
        load_translator(path / "translator")
    classifier = FrozenClassifier.from_spec(spec, preprocessing={"input_size": 64})
    explainer = Explainer.from_checkpoint(path / "translator", classifier=classifier)
    (explanation,) = explainer.explain([Image.new("RGB", (64, 64))], num_sentences=3)
    assert explanation.classifier_top1.name in ("cat", "dog") and len(explanation.sentences) == 3
