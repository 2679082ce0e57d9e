"""Typed configs: profiles load, overrides are type-checked, unknown keys are errors with a suggestion."""

import pytest

from harness.config import ConfigError, load_config


def test_quickstart_profile_loads_with_the_papers_sampling_settings():
    config = load_config("quickstart")
    assert config.sampling.top_p == 0.95
    assert (config.sampling.min_words, config.sampling.max_words) == (20, 30)
    assert config.models.classifier == "packaged:efficientnet_lite0"
    assert config.translator.name == "mlp_bn"


def test_overrides_are_parsed_and_type_checked():
    config = load_config("quickstart", ["sampling.num_sentences=7", "train.lr=1e-3", "world.class_background_correlation=0.95"])
    assert config.sampling.num_sentences == 7 and config.train.lr == 0.001
    assert config.world.class_background_correlation == 0.95
    with pytest.raises(ConfigError, match="sampling.num_sentences: expected int"):
        load_config("quickstart", ["sampling.num_sentences=many"])
    with pytest.raises(ConfigError, match="top_p"):
        load_config("quickstart", ["sampling.top_p=2.0"])


def test_unknown_keys_and_profiles_suggest_a_fix(tmp_path):
    with pytest.raises(ConfigError, match="unknown config key 'sampling.num_sentence'.*Did you mean 'num_sentences'"):
        load_config("quickstart", ["sampling.num_sentence=3"])
    with pytest.raises(ConfigError, match="Did you mean 'quickstart'"):
        load_config("quikstart")
    bad = tmp_path / "bad.yaml"
    bad.write_text("tarin:\n  epochs: 2\n")
    with pytest.raises(ConfigError, match="Did you mean 'train'"):
        load_config(bad)
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.yaml")
