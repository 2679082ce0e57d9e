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


# --- habits from Hydra and lm-eval ----------------------------------------------------------------------

def test_one_seed_drives_the_world_training_and_suite_worlds_unless_set():
    default = load_config("quickstart")
    assert (default.seed, default.world.seed, default.train.seed, default.suites.only_bg.world_seed) == (0, 0, 0, 1)
    reseeded = load_config("quickstart", ["seed=3"])
    assert (reseeded.world.seed, reseeded.train.seed, reseeded.suites.only_bg.world_seed) == (3, 3, 4)
    pinned = load_config("quickstart", ["seed=3", "world.seed=0", "train.seed=7", "suites.only_bg.world_seed=1"])
    assert (pinned.world.seed, pinned.train.seed, pinned.suites.only_bg.world_seed) == (0, 7, 1)


def test_a_user_yaml_extends_a_profile_and_keeps_its_own_name(tmp_path):
    own = tmp_path / "my_smoke.yaml"
    own.write_text("extends: quickstart\nsampling:\n  num_sentences: 7\n")
    config = load_config(own)
    base = load_config("quickstart")
    assert config.name == "my_smoke" and config.sampling.num_sentences == 7
    assert config.sampling.top_p == base.sampling.top_p and config.world == base.world  # the rest comes from the profile
    named = tmp_path / "named.yaml"
    named.write_text("extends: my_smoke.yaml\nname: nightly\nexplain: {num_images: 4}\n")  # a path relative to the file
    chained = load_config(named)
    assert chained.name == "nightly" and chained.sampling.num_sentences == 7 and chained.explain.num_images == 4
    loop = tmp_path / "loop.yaml"
    loop.write_text("extends: loop.yaml\n")
    with pytest.raises(ConfigError, match="loops back on itself"):
        load_config(loop)
    bad = tmp_path / "bad.yaml"
    bad.write_text("extends: quikstart\n")
    with pytest.raises(ConfigError, match="Did you mean 'quickstart'"):
        load_config(bad)


def test_limit_is_validated():
    assert load_config("quickstart", ["limit=2"]).limit == 2
    with pytest.raises(ConfigError, match="limit must be >= 1"):
        load_config("quickstart", ["limit=0"])


def test_print_config_prints_the_resolved_config_and_runs_nothing(capsys, monkeypatch):
    import yaml

    import harness.pipeline.run
    from harness.cli import main

    monkeypatch.setattr(harness.pipeline.run, "run", lambda *a, **k: pytest.fail("ran"))
    assert main(["run", "--print-config", "--limit", "2", "--set", "seed=5"]) == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed["limit"] == 2 and printed["seed"] == 5 and printed["world"]["seed"] == 5


def test_version_and_log_level(capsys):
    from harness.cli import main

    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0 and capsys.readouterr().out.startswith("texplain ")
    with pytest.raises(SystemExit) as exited:
        main(["--log-level", "LOUD", "profiles"])
    assert exited.value.code == 2  # a usage error
    assert main(["--log-level", "warning", "profiles"]) == 0


def test_tuple_settings_read_lists_and_check_their_items():
    """config.json writes tuples as lists; a run's config must load back from it (texplain validate)."""
    from harness.config import ConfigError, load_config

    config = load_config("quickstart", ["controls.trained=[shuffled_captions]", "explain.extra_words=[waterbird]"])
    assert config.controls.trained == ("shuffled_captions",) and config.explain.extra_words == ("waterbird",)
    with pytest.raises(ConfigError, match=r"controls.trained\[0\]"):
        load_config("quickstart", ["controls.trained=[3]"])
