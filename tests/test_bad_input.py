"""Bad input gives a clear error that names the thing to fix."""

import pytest
import torch

from texplain.classifier import FrozenClassifier
from texplain.decoders import load_decoder
from texplain.errors import InputFileError, UnknownNameError
from texplain.feature_cache import FeatureCache


def test_unknown_classifier_spec_suggests_a_fix():
    with pytest.raises(UnknownNameError, match="Did you mean 'packaged'"):
        FrozenClassifier.from_spec("packged:efficientnet_lite0")
    with pytest.raises(UnknownNameError, match="Did you mean 'efficientnet_lite0'"):
        FrozenClassifier.from_spec("packaged:efficientnet_lite")
    with pytest.raises(UnknownNameError, match="Did you mean 'resnet50'"):
        FrozenClassifier.from_spec("timm:resnet5O")


def test_unknown_decoder_spec_suggests_a_fix():
    with pytest.raises(UnknownNameError, match="Did you mean 'smollm2-135m'"):
        load_decoder("prefix", "packaged:smollm2-135")
    with pytest.raises(UnknownNameError, match="Did you mean 'prefix'"):
        load_decoder("prefx", "packaged:smollm2-135m")


def test_missing_classifier_checkpoint_names_the_path(tmp_path):
    with pytest.raises(InputFileError, match="nothere.pth"):
        FrozenClassifier.from_spec(f"timm:resnet18@{tmp_path / 'nothere.pth'}")


def test_local_checkpoint_of_a_timm_architecture_loads(tmp_path):
    import timm

    model = timm.create_model("resnet10t", pretrained=False, num_classes=3)
    torch.save({"state_dict": model.state_dict()}, tmp_path / "r.pth")
    classifier = FrozenClassifier.from_spec(f"timm:resnet10t@{tmp_path / 'r.pth'}")
    assert classifier.num_classes == 3
    assert classifier.identity()["weights_hash"] == FrozenClassifier("x", model).weights_hash
    with pytest.raises(Exception, match="does not fit timm architecture 'resnet18'"):
        FrozenClassifier.from_spec(f"timm:resnet18@{tmp_path / 'r.pth'}")


def test_missing_and_unreadable_images_name_the_file(tmp_path):
    import timm

    classifier = FrozenClassifier("timm:resnet10t", timm.create_model("resnet10t", pretrained=False, num_classes=3))
    cache = FeatureCache(tmp_path / "cache", classifier)
    with pytest.raises(InputFileError, match="missing.png"):
        cache.extract([tmp_path / "missing.png"])
    (tmp_path / "broken.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(InputFileError, match="broken.png"):
        cache.extract([tmp_path / "broken.png"])


def test_feature_cache_hits_and_recomputes_corrupt_entries(tmp_path):
    import timm
    from PIL import Image

    classifier = FrozenClassifier("timm:resnet10t", timm.create_model("resnet10t", pretrained=False, num_classes=3))
    paths = []
    for i in range(3):
        Image.new("RGB", (40, 40), (i * 80, 10, 200)).save(tmp_path / f"{i}.png")
        paths.append(tmp_path / f"{i}.png")
    cache = FeatureCache(tmp_path / "cache", classifier)
    first = cache.extract(paths, progress=False)
    assert (cache.hits, cache.misses) == (0, 3)
    second = cache.extract(paths, progress=False)
    assert (cache.hits, cache.misses) == (3, 3)
    assert torch.equal(first.tokens, second.tokens) and torch.equal(first.logits, second.logits)
    # A corrupt entry is recomputed, not trusted.
    from texplain.feature_cache import image_content_hash

    cache.path_for(image_content_hash(paths[1])).write_bytes(b"garbage")
    third = cache.extract(paths, progress=False)
    assert cache.misses == 4  # recomputed alone: equal up to batch-size numerics and fp16 storage
    assert torch.allclose(third.tokens, first.tokens, rtol=1e-2, atol=1e-3)
    # Another preprocessing or weights -> other keys.
    other = FrozenClassifier("timm:resnet10t", timm.create_model("resnet10t", pretrained=False, num_classes=3))
    assert FeatureCache(tmp_path / "cache", other).path_for("x") != cache.path_for("x")


def test_explain_lists_every_bad_image_before_loading_any_model(tmp_path, monkeypatch, capsys):
    import texplain.explainer
    from harness.cli.main import main
    from PIL import Image

    loaded = []

    def no_model(*args, **kwargs):
        loaded.append(args)
        raise AssertionError("a model was loaded before the images were checked")

    # The command loads its models through texplain.Explainer.from_checkpoint.
    for name in ("read_checkpoint", "load_decoder", "load_translator"):
        monkeypatch.setattr(texplain.explainer, name, no_model)
    monkeypatch.setattr(texplain.explainer.FrozenClassifier, "from_spec", no_model)
    good = tmp_path / "good.png"
    Image.new("RGB", (16, 16), (10, 200, 30)).save(good)
    missing = tmp_path / "missing.jpg"
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    translator = tmp_path / "translator"
    translator.mkdir()

    code = main(["explain", "--translator", str(translator), str(missing), str(good), str(broken), "--out", str(tmp_path / "out"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and not loaded
    assert "2 of 3 image file(s) cannot be read; nothing was loaded or explained" in err
    assert f"{missing}: no such file" in err
    assert f"{broken}: not a readable image" in err
    assert f"{good}:" not in err
    assert not (tmp_path / "out").exists()
