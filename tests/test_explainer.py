"""The Python API (texplain/explainer.py, texplain/hooked_classifier.py): the README's examples as written,
the same sentences as `texplain explain`, any torch module as the classifier, and texplain on its own."""

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import timm
import torch
from PIL import Image
from safetensors.torch import save_file
from torch import nn

from texplain.checkpoint import save_translator
from texplain.classifier import FrozenClassifier
from texplain.decoders import load_decoder
from texplain.errors import InputFileError, TExplainError, UnknownNameError
from texplain.explainer import Explainer, Explanation
from texplain.feature_cache import FeatureCache
from texplain.hooked_classifier import HookedClassifier
from texplain.sampling import SamplingConfig, StopRecord, image_seed
from texplain.translators import TranslatorShape, build_translator
from texplain.wordcloud_render import EMPTY_CLOUD_KEY, render_wordcloud, wordcloud_image
from tiny_models import tiny_cross_attention_decoder, tiny_prefix_decoder

README = Path(__file__).parents[1] / "README.md"


def _readme_python_blocks() -> list[str]:
    """The ```python blocks of the README's "Python API" section, in order."""
    text = README.read_text()
    section = text[text.index("## Python API") :]
    section = section[: section.index("\n## ", 1)]
    return re.findall(r"```python\n(.*?)```", section, flags=re.S)


def _photo(path: Path, seed: int = 0) -> Path:
    pixels = (np.random.default_rng(seed).random((48, 64, 3)) * 255).astype("uint8")
    Image.fromarray(pixels).save(path)
    return path


def _tiny_checkpoint(folder: Path, work: Path) -> Path:
    """A translator folder naming a tiny timm classifier (timm:resnet10t@file) and a tiny Llama (hf:<folder>),
    both saved here: from_checkpoint then loads them from the specs, as it loads a real run's."""
    work.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    save_file(timm.create_model("resnet10t", pretrained=False, num_classes=3).state_dict(), str(work / "classifier.safetensors"))
    tiny = tiny_prefix_decoder()
    tiny.model.save_pretrained(work / "lm")
    tiny.tokenizer.save_pretrained(work / "lm")
    classifier = FrozenClassifier.from_spec(f"timm:resnet10t@{work / 'classifier.safetensors'}")
    decoder = load_decoder("prefix", f"hf:{work / 'lm'}")
    tokens, dim = classifier.feature_shape
    translator = build_translator("linear", TranslatorShape(tokens, dim, 4, decoder.conditioning_dim))
    save_translator(folder, translator, {**classifier.identity(), "feature_shape": [tokens, dim]}, decoder.identity())
    return folder


def test_the_readme_example_runs_as_written(tmp_path, monkeypatch, capsys):
    first = _readme_python_blocks()[0]
    checkpoint = re.search(r'from_checkpoint\("([^"]+)"\)', first).group(1)
    image = re.search(r'explain\(\["([^"]+)"\]', first).group(1)
    monkeypatch.chdir(tmp_path)
    _tiny_checkpoint(tmp_path / checkpoint, tmp_path / "parts")
    _photo(tmp_path / image)
    exec(compile(first, "README.md (Python API)", "exec"), {})
    printed = capsys.readouterr().out.strip().splitlines()
    assert len(printed) == 1 and printed[0].split()[0] in {"0", "1", "2"}  # the tiny classifier's class names
    saved = re.search(r'\.save\("([^"]+)"\)', first).group(1)
    with Image.open(tmp_path / saved) as cloud:
        assert cloud.size == (600, 400)


class TinyCNN(nn.Module):
    """A model of one's own: conv features in `layer4`, two classes."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(1)
        self.layer4 = nn.Sequential(nn.Conv2d(3, 6, 3, stride=4), nn.ReLU())
        self.head = nn.Linear(6, 2)

    def forward(self, x):
        return self.head(self.layer4(x).mean((2, 3)))  # (B, 2)


def _preprocess(image: Image.Image) -> torch.Tensor:
    return torch.from_numpy(np.asarray(image.resize((32, 32)), dtype=np.float32) / 255).permute(2, 0, 1)  # (3, 32, 32)


def _own_parts():
    decoder = tiny_prefix_decoder()
    torch.manual_seed(2)
    translator = build_translator("linear", TranslatorShape(64, 6, 3, decoder.conditioning_dim))  # an 8x8 map of 6 channels
    return TinyCNN(), translator, decoder


def test_the_readme_example_with_parts_of_ones_own_runs_as_written(tmp_path):
    second = _readme_python_blocks()[1]
    model, translator, decoder = _own_parts()
    photo = Image.open(_photo(tmp_path / "pet.png"))
    names = {"model": model, "preprocess": _preprocess, "translator": translator, "decoder": decoder, "photo": photo}
    exec(compile(second, "README.md (Python API, own parts)", "exec"), names)
    (explanation,) = names["explanations"]
    assert isinstance(explanation, Explanation) and len(explanation.sentences) == 100
    expected = int(model(_preprocess(photo)[None]).argmax())
    assert explanation.classifier_top1.index == expected
    assert explanation.classifier_top1.name == ["cat", "dog"][expected]


def test_explanations_hold_what_the_sentences_say_and_the_class_word_is_red(tmp_path):
    model, translator, decoder = _own_parts()
    with torch.no_grad():
        model.head.bias.copy_(torch.tensor([10.0, -10.0]))  # always class 0
    # Class 0 is named after a word the tiny LM says often here, so the cloud has a large red word.
    classifier = HookedClassifier(model, "layer4", class_names=["sun", "boat"], transform=_preprocess)
    explainer = Explainer(classifier, translator, decoder)
    photo = _photo(tmp_path / "street.png")
    (explanation,) = explainer.explain([photo], num_sentences=60, seed=3, top_k=5, precision="fp32")
    assert explanation.classifier_top1.name == "sun" and explanation.class_words == {"sun"}
    assert explanation.top_words == explanation.word_stats.top_k(5) and len(explanation.top_words) == 5
    assert explanation.word_stats.num_sentences == 60 == len(explanation.sentences)
    assert explanation.seed == image_seed(3, "street.png") and explanation.precision == "fp32"
    assert explanation.stopping is None and "sun" in dict(explanation.top_words)
    cloud = np.asarray(explanation.wordcloud(width=300, height=200).convert("RGB")).astype(int)  # (H, W, 3)
    red = (cloud[..., 0] > 180) & (cloud[..., 1] < 80) & (cloud[..., 2] < 80)
    assert cloud.shape == (200, 300, 3) and red.sum() > 50
    # A path and the same file opened as a PIL image are the same image: same seed, same sentences.
    (from_pil,) = explainer.explain([Image.open(photo)], num_sentences=60, seed=3, top_k=5, precision="fp32")
    assert from_pil.sentences == explanation.sentences and from_pil.image == "street.png"
    # An image with no file name is seeded by its pixels: reproducible, and different from another image.
    pixels = Image.open(photo).convert("RGB")
    again = explainer.explain([pixels, pixels.copy(), Image.open(_photo(tmp_path / "other.png", seed=5)).convert("RGB")], num_sentences=20, precision="fp32")
    assert again[0].sentences == again[1].sentences != again[2].sentences
    # Adaptive stopping through sampling=: its record comes with the explanation.
    adaptive = SamplingConfig(num_sentences=200, min_words=3, max_words=8, stopping="adaptive", stop_top_k=2, stop_chunk=40)
    (stopped,) = explainer.explain([photo], sampling=adaptive, precision="fp32")
    assert isinstance(stopped.stopping, StopRecord) and stopped.stopping.sentences == len(stopped.sentences)


def test_features_of_image_files_can_come_from_the_feature_cache(tmp_path):
    model, translator, decoder = _own_parts()
    classifier = HookedClassifier(model, "layer4", class_names=["cat", "dog"], transform=_preprocess)
    cache = FeatureCache(tmp_path / "features", classifier)
    explainer = Explainer(classifier, translator, decoder, feature_cache=cache)
    photo = _photo(tmp_path / "pet.png")
    (first,) = explainer.explain([photo], num_sentences=20, precision="fp32")
    (second,) = explainer.explain([photo], num_sentences=20, precision="fp32")
    assert (cache.misses, cache.hits) == (1, 1) and first.sentences == second.sentences
    # Without the cache the features are rounded as the cache stores them: the same sentences.
    (uncached,) = Explainer(classifier, translator, decoder).explain([photo], num_sentences=20, precision="fp32")
    assert uncached.sentences == first.sentences


def test_explainer_gives_the_sentences_texplain_explain_gives(tmp_path, monkeypatch):
    from harness.cli.explain import explain

    monkeypatch.setenv("TEXPLAIN_CACHE", str(tmp_path / "cache"))
    folder = _tiny_checkpoint(tmp_path / "translator", tmp_path / "parts")
    photos = [_photo(tmp_path / "a.png", 1), _photo(tmp_path / "b.png", 2)]
    sampling = SamplingConfig(num_sentences=30, min_words=3, max_words=8, batch_size=30)
    rows = explain(folder, photos, tmp_path / "out", sampling, seed=4, progress=False, precision="fp32")
    # Without a feature cache: the features are computed here (rounded as the cache stores them).
    explanations = Explainer.from_checkpoint(folder).explain(photos, sampling=sampling, seed=4, precision="fp32")
    for row, explanation in zip(rows, explanations):
        assert row["sentences"] == explanation.sentences and row["seed"] == explanation.seed
        assert row["classifier_top1"] == {"index": explanation.classifier_top1.index, "name": explanation.classifier_top1.name}
        assert [list(pair) for pair in explanation.top_words] == json.loads(json.dumps(row["top_words"]))
    written = [json.loads(line) for line in (tmp_path / "out" / "explanations.jsonl").read_text().splitlines()]
    assert [w["sentences"] for w in written] == [e.sentences for e in explanations]


def test_bad_parts_and_inputs_get_clear_errors(tmp_path):
    model, translator, decoder = _own_parts()
    with pytest.raises(UnknownNameError, match="no submodule 'layer5'. Did you mean 'layer4'"):
        HookedClassifier(model, "layer5", ["cat", "dog"], _preprocess)
    three = HookedClassifier(model, "layer4", ["cat", "dog", "cow"], _preprocess)
    with pytest.raises(TExplainError, match="logits of shape \\(1, 2\\) but 3 class names"):
        Explainer(three, translator, decoder).explain([Image.new("RGB", (32, 32))], num_sentences=2)
    with pytest.raises(TExplainError, match="outputs conditionings of size 32, but decoder test:tiny-blip-text expects 24"):
        Explainer(HookedClassifier(model, "layer4", ["cat", "dog"], _preprocess), translator, tiny_cross_attention_decoder())
    explainer = Explainer(HookedClassifier(model, "layer4", ["cat", "dog"], _preprocess), translator, decoder)
    with pytest.raises(InputFileError, match=f"2 of 3 image\\(s\\) cannot be explained: {tmp_path / 'missing.png'}: no such file; 7: not a path"):
        explainer.explain([tmp_path / "missing.png", Image.new("RGB", (8, 8)), 7])
    with pytest.raises(TypeError, match="pass \\[image\\]"):
        explainer.explain(Image.new("RGB", (8, 8)))
    with pytest.raises(ValueError, match="contradicts sampling.num_sentences=5"):
        explainer.explain([Image.new("RGB", (8, 8))], num_sentences=10, sampling=SamplingConfig(num_sentences=5))


def test_the_in_memory_cloud_is_the_png_cloud(tmp_path):
    frequencies = {"boat": 10.0, "water": 6.0, "sail": 3.0}
    image = wordcloud_image(frequencies, ["boat"], width=300, height=200, seed=2)
    path = render_wordcloud(frequencies, ["boat"], tmp_path / "cloud.png", width=300, height=200, seed=2)
    with Image.open(path) as written:
        assert np.array_equal(np.asarray(written.convert("RGB")), np.asarray(image.convert("RGB")))
    placeholder = wordcloud_image({}, ["boat"], width=300, height=200, empty_text="no content words in the 3 sampled sentences")
    assert placeholder.size == (300, 200) and placeholder.info[EMPTY_CLOUD_KEY] == "no content words in the 3 sampled sentences"


def test_texplain_imports_nothing_from_harness_or_suites():
    # Every module of the method package, imported in a fresh interpreter: none may pull in the harness
    # or the suites (docs/design.md#code-layout), which is what lets texplain be used on its own.
    code = """
import importlib, pkgutil, sys
import texplain
names = sorted(m.name for m in pkgutil.walk_packages(texplain.__path__, "texplain."))
for name in names:
    importlib.import_module(name)
from texplain import Explainer, HookedClassifier
leaked = sorted(m for m in sys.modules if m.split(".")[0] in ("harness", "suites"))
print(len(names), leaked)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=Path(__file__).parents[1], check=True).stdout
    count, leaked = out.strip().split(" ", 1)
    assert int(count) > 20 and leaked == "[]", out
