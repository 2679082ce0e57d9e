"""From one's own torch module to explanations in under ten lines (texplain/fit.py's train_explainer), on a
tiny random-weight module and a tiny random decoder; the translator folder it saves loads again only with
the classifier passed in (a checkpoint never imports the code its classifier is)."""

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

import texplain.fit
from texplain.checkpoint import load_translator
from texplain.decoders import load_decoder
from texplain.errors import CheckpointMismatchError, ClassifierRequiredError, InputFileError, TExplainError
from texplain.explainer import Explainer, Explanation
from texplain.fit import train_explainer
from texplain.hooked_classifier import HookedClassifier
from texplain.training import TrainConfig
from tiny_models import CAPTIONS, tiny_prefix_decoder

# The README's example, as it will read there: `model` and `preprocess` are the user's own.
TEN_LINES = '''
from texplain import HookedClassifier
from texplain.fit import train_explainer

classifier = HookedClassifier(model, layer="layer4", class_names=["cat", "dog"], transform=preprocess)
captioned = [("cat1.jpg", "a grey cat sleeps on a red sofa"), ("dog1.jpg", "a brown dog runs across the grass")]
explainer = train_explainer(classifier, captioned, epochs=3, save_to="my-translator")
for explanation in explainer.explain(["new.jpg"], num_sentences=100):
    print(explanation.classifier_top1.name, explanation.top_words[:5])
'''


class TinyCNN(nn.Module):
    def __init__(self, seed: int = 1):
        super().__init__()
        torch.manual_seed(seed)
        self.layer4 = nn.Sequential(nn.Conv2d(3, 6, 3, stride=4), nn.ReLU())
        self.head = nn.Linear(6, 2)

    def forward(self, x):
        return self.head(self.layer4(x).mean((2, 3)))


def preprocess(image: Image.Image) -> torch.Tensor:
    return torch.from_numpy(np.asarray(image.resize((32, 32)), dtype=np.float32) / 255).permute(2, 0, 1)  # (3, 32, 32)


def _photo(path, seed: int = 0):
    Image.fromarray((np.random.default_rng(seed).random((40, 56, 3)) * 255).astype("uint8")).save(path)
    return path


def test_the_ten_lines_run_as_written(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    for seed, name in enumerate(("cat1.jpg", "dog1.jpg", "new.jpg")):
        _photo(tmp_path / name, seed)
    asked = []

    def tiny_in_place_of_the_packaged_lm(kind, spec, device):  # SmolLM2 would take a minute; same interface
        asked.append((kind, spec))
        return tiny_prefix_decoder()

    monkeypatch.setattr(texplain.fit, "load_decoder", tiny_in_place_of_the_packaged_lm)
    namespace = {"model": TinyCNN(), "preprocess": preprocess}
    exec(compile(TEN_LINES, "README.md (train your own)", "exec"), namespace)
    assert len([line for line in TEN_LINES.strip().splitlines() if line.strip()]) < 10
    assert asked == [("prefix", "packaged:smollm2-135m")]
    (printed,) = capsys.readouterr().out.strip().splitlines()
    assert printed.split()[0] in ("cat", "dog")
    explainer = namespace["explainer"]
    assert isinstance(explainer, Explainer) and [e["epoch"] for e in explainer.training_history] == [1, 2, 3]
    assert (tmp_path / "my-translator" / "model.safetensors").is_file() and (tmp_path / "my-translator" / "config.json").is_file()
    assert explainer.translator.shape.output_tokens == texplain.fit.DEFAULT_PREFIX_TOKENS


def test_the_saved_translator_needs_its_classifier_passed_in(tmp_path):
    lm = tmp_path / "lm"  # a tiny LM saved as a folder: the checkpoint's decoder spec (hf:<folder>) loads again
    tiny = tiny_prefix_decoder()
    tiny.model.save_pretrained(lm)
    tiny.tokenizer.save_pretrained(lm)
    decoder = load_decoder("prefix", f"hf:{lm}")
    classifier = HookedClassifier(TinyCNN(), "layer4", ["cat", "dog"], preprocess)
    photos = [_photo(tmp_path / f"p{i}.png", i) for i in range(4)]
    captioned = [(photo, caption) for photo, caption in zip(photos * 2, CAPTIONS)]
    validation = [(Image.open(photos[0]), CAPTIONS[0])]
    explainer = train_explainer(classifier, captioned, decoder=decoder, validation=validation, output_tokens=3,
                                translator_options={"hidden_dim": 32}, train=TrainConfig(epochs=2, batch_size=4, precision="fp32"),
                                save_to=tmp_path / "translator")
    assert all(np.isfinite(epoch["val_loss"]) for epoch in explainer.training_history)
    (first,) = explainer.explain([photos[1]], num_sentences=20, precision="fp32")
    assert isinstance(first, Explanation) and len(first.sentences) == 20

    with pytest.raises(ClassifierRequiredError, match="trained for classifier module:TinyCNN:layer4.*pass the classifier in.*HookedClassifier"):
        Explainer.from_checkpoint(tmp_path / "translator")
    with pytest.raises(ClassifierRequiredError, match="classifier="):
        load_translator(tmp_path / "translator")
    # The same classifier built again (in this process or another: its identity holds no memory address).
    again = HookedClassifier(TinyCNN(), "layer4", ["cat", "dog"], preprocess)
    loaded = Explainer.from_checkpoint(tmp_path / "translator", classifier=again)
    (second,) = loaded.explain([photos[1]], num_sentences=20, precision="fp32")
    assert second.sentences == first.sentences
    translator, _ = load_translator(tmp_path / "translator", classifier=again)
    assert translator.shape.input_tokens == 64 and translator.shape.output_tokens == 3
    with pytest.raises(CheckpointMismatchError, match="weights_hash"):
        Explainer.from_checkpoint(tmp_path / "translator", classifier=HookedClassifier(TinyCNN(seed=5), "layer4", ["cat", "dog"], preprocess))


def test_bad_training_input_gets_clear_errors(tmp_path):
    classifier = HookedClassifier(TinyCNN(), "layer4", ["cat", "dog"], preprocess)
    decoder = tiny_prefix_decoder()
    with pytest.raises(InputFileError, match="2 bad pair\\(s\\): #0: .*missing.png: no such file; #1: caption '' is not a non-empty string"):
        train_explainer(classifier, [(tmp_path / "missing.png", "a cat"), (Image.new("RGB", (8, 8)), "")], decoder=decoder)
    with pytest.raises(TExplainError, match="list of \\(image, caption\\) pairs"):
        train_explainer(classifier, "cat.jpg", decoder=decoder)
    with pytest.raises(TExplainError, match="at least 2 captioned images"):
        train_explainer(classifier, [(Image.new("RGB", (8, 8)), "a cat")], decoder=decoder)
