"""The paper profile loads and validates here, and fails early naming everything that is missing."""

import pytest

from harness import preflight as preflight_module
from harness.config import ConfigError, load_config
from harness.preflight import preflight


def test_paper_profile_loads_with_the_papers_settings():
    config = load_config("paper")
    assert config.models.classifier.startswith("timm:vit_base_patch16_384")
    assert config.models.decoder_kind == "cross_attention" and "blip" in config.models.decoder
    assert config.sampling.num_sentences == 1000 and config.sampling.top_p == 0.95
    assert (config.sampling.min_words, config.sampling.max_words) == (20, 30)
    assert config.translator.output_tokens == 0  # all 577 tokens


def test_paper_profile_fails_early_listing_every_missing_part(monkeypatch, tmp_path):
    monkeypatch.setattr(preflight_module, "hub_reachable", lambda: False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty-hf-cache"))
    monkeypatch.setenv("HUGGINGFACE_HUB_CACHE", str(tmp_path / "empty-hf-cache"))
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "empty-hf-cache"))
    with pytest.raises(ConfigError) as error:
        preflight(load_config("paper"))
    message = str(error.value)
    assert "cannot start" in message
    assert "timm:vit_base_patch16_384" in message and "hub is unreachable" in message
    assert "hf:Salesforce/blip-image-captioning-base" in message
    assert "data.root: /data/coco does not exist" in message
    assert "suites.only_bg.dataset: /data/bg_challenge" in message
    if not __import__("torch").cuda.is_available():
        assert "models.device: 'cuda'" in message


def test_quickstart_passes_preflight_offline(monkeypatch):
    monkeypatch.setattr(preflight_module, "hub_reachable", lambda: False)
    preflight(load_config("quickstart"))


def test_local_checkpoint_and_paths_are_checked(tmp_path, monkeypatch):
    monkeypatch.setattr(preflight_module, "hub_reachable", lambda: False)
    config = load_config("quickstart", [f"models.classifier=timm:resnet18@{tmp_path}/nope.pt", "suites.only_bg.dataset=" + str(tmp_path / "bg")])
    with pytest.raises(ConfigError) as error:
        preflight(config)
    message = str(error.value)
    assert "nope.pt does not exist" in message and "in9_mapping" in message and "is not a folder" in message


def test_data_source_is_validated():
    with pytest.raises(ConfigError, match="data.source 'coc' is unknown. Did you mean 'coco'"):
        load_config("quickstart", ["data.source=coc"])
    with pytest.raises(ConfigError, match="needs data.root"):
        load_config("quickstart", ["data.source=coco"])
    with pytest.raises(ConfigError, match="unknown config key 'suites.only_bg.val_per_clas'"):
        load_config("quickstart", ["suites.only_bg.val_per_clas=3"])
