"""Translator checkpoints that load without running code (a shared translator must not be able to run code on the
receiver's machine): the safetensors folder round-trips
every registered translator bit for bit, contains no pickle, refuses damage and wrong models with clear
errors, and an old pickle translator.pt loads only with the explicit opt-in."""

import json
import logging
import os
import pickle

import pytest
import torch

from texplain.checkpoint import (
    CHECKPOINT_FORMAT,
    CONFIG_NAME,
    PICKLE_FORMAT,
    WEIGHTS_NAME,
    load_translator,
    read_checkpoint,
    save_translator,
)
from texplain.checkpoint_convert import convert
from texplain.errors import CheckpointMismatchError, InputFileError
from texplain.translators import TRANSLATORS, TranslatorShape, build_translator

SHAPE = TranslatorShape(input_tokens=6, input_dim=20, output_tokens=3, output_dim=16)
# Tiny options where a translator has them; any other registered translator runs with its defaults.
TINY_OPTIONS = {"mlp_bn": {"hidden_dim": 32}, "transformer": {"width": 32, "depth": 1, "heads": 4}}
CLASSIFIER = {"spec": "packaged:efficientnet_lite0", "weights_hash": "abc", "data_config": {"mean": [0.5, 0.5, 0.5]}, "feature_shape": [6, 20]}
DECODER = {"kind": "prefix", "spec": "tiny", "conditioning_dim": 16, "vocab_size": 50, "weights_hash": "def"}
FEATURES = torch.randn(4, 6, 20, generator=torch.Generator().manual_seed(0))


def trained_looking(name: str):
    """A translator whose buffers are not at their initial values (BatchNorm running stats moved)."""
    torch.manual_seed(3)
    translator = build_translator(name, SHAPE, **TINY_OPTIONS.get(name, {}))
    translator.train()
    with torch.no_grad():
        translator(torch.randn(8, 6, 20))
    return translator.eval()


def legacy_pickle(path, translator):
    """What save_translator wrote before the safetensors folder: one torch.save pickle."""
    torch.save({"format": PICKLE_FORMAT, "translator": translator.config(), "state_dict": translator.state_dict(),
                "classifier": CLASSIFIER, "decoder": DECODER, "extra": {"history": [{"epoch": 1}]}}, path)
    return path


@pytest.mark.parametrize("name", TRANSLATORS.names())
def test_every_translator_round_trips_bit_for_bit(name, tmp_path):
    translator = trained_looking(name)
    folder = tmp_path / "translator"
    save_translator(folder, translator, CLASSIFIER, DECODER, {"history": [{"epoch": 1, "val_loss": 2.5}]})
    # The folder, its model.safetensors and its config.json all name the same checkpoint.
    for path in (folder, folder / WEIGHTS_NAME, folder / CONFIG_NAME):
        loaded, payload = load_translator(path, CLASSIFIER, DECODER)
        assert type(loaded) is type(translator) and not loaded.training
        assert torch.equal(loaded(FEATURES), translator(FEATURES))
        state = translator.state_dict()
        assert loaded.state_dict().keys() == state.keys()
        assert all(torch.equal(value, state[key]) and value.dtype == state[key].dtype for key, value in loaded.state_dict().items())
        assert payload["extra"] == {"history": [{"epoch": 1, "val_loss": 2.5}]}


def test_the_folder_holds_safetensors_and_json_only_and_loads_with_no_unpickling(tmp_path, monkeypatch):
    folder = tmp_path / "translator"
    save_translator(folder, trained_looking("mlp_bn"), CLASSIFIER, DECODER, {"config": {"seed": 0}})
    assert sorted(p.name for p in folder.iterdir()) == [CONFIG_NAME, WEIGHTS_NAME]
    umask = os.umask(0)
    os.umask(umask)
    assert all((p.stat().st_mode & 0o777) == 0o666 & ~umask for p in folder.iterdir())  # shareable, not mkstemp's 0600
    config = json.loads((folder / CONFIG_NAME).read_text())
    assert config["format"] == CHECKPOINT_FORMAT
    assert config["translator"] == {"name": "mlp_bn", "shape": SHAPE.to_json(), "options": trained_looking("mlp_bn").options}
    assert config["classifier"] == CLASSIFIER and config["decoder"] == DECODER and config["extra"] == {"config": {"seed": 0}}
    head = (folder / WEIGHTS_NAME).read_bytes()[:4]
    assert not head.startswith(b"PK") and head[:1] != b"\x80"  # neither a torch.save zip nor a bare pickle

    def refuse(*args, **kwargs):
        raise AssertionError("a translator folder must load without unpickling")

    monkeypatch.setattr(torch, "load", refuse)
    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(pickle, "Unpickler", refuse)
    loaded, _ = load_translator(folder, CLASSIFIER, DECODER)
    assert loaded.shape == SHAPE


def test_a_pickle_checkpoint_is_refused_without_the_opt_in(tmp_path, caplog):
    translator = trained_looking("linear")
    old = legacy_pickle(tmp_path / "translator.pt", translator)
    for call in (lambda: load_translator(old, CLASSIFIER, DECODER), lambda: read_checkpoint(old)):
        with pytest.raises(InputFileError, match=r"--trust-pickle") as refused:
            call()
        assert "translator.pt" in str(refused.value) and "run arbitrary code" in str(refused.value)
    with caplog.at_level(logging.WARNING, logger="texplain.checkpoint"):
        loaded, payload = load_translator(old, CLASSIFIER, DECODER, trust_pickle=True)
    assert payload["format"] == PICKLE_FORMAT
    assert torch.equal(loaded(FEATURES), translator(FEATURES))
    assert any(record.levelno == logging.WARNING and "trust_pickle" in record.getMessage() for record in caplog.records)
    # The identity checks hold for old checkpoints too.
    with pytest.raises(CheckpointMismatchError, match="weights_hash"):
        load_translator(old, {**CLASSIFIER, "weights_hash": "other"}, trust_pickle=True)


def test_explain_cli_refuses_a_pickle_and_passes_trust_pickle_through(tmp_path, monkeypatch, capsys):
    import harness.cli.explain
    from harness.cli.main import main

    old = legacy_pickle(tmp_path / "translator.pt", trained_looking("linear"))
    from PIL import Image

    image = tmp_path / "photo.png"
    Image.new("RGB", (8, 8)).save(image)  # a valid image: only the checkpoint is refused
    assert main(["explain", "--translator", str(old), str(image), "--quiet"]) == 2
    assert "--trust-pickle" in capsys.readouterr().err

    seen = {}
    monkeypatch.setattr(harness.cli.explain, "explain", lambda *args, **kwargs: seen.update(kwargs) or [])
    assert main(["explain", "--translator", str(old), str(image), "--quiet", "--trust-pickle"]) == 0
    assert seen["trust_pickle"] is True
    assert main(["explain", "--translator", str(old), str(image), "--quiet"]) == 0 and seen["trust_pickle"] is False


def test_a_pickle_converts_once_into_a_safe_folder(tmp_path):
    translator = trained_looking("mlp_bn")
    old = legacy_pickle(tmp_path / "translator.pt", translator)
    with pytest.raises(InputFileError, match="--trust-pickle"):
        convert(old, tmp_path / "translator")
    convert(old, tmp_path / "translator", trust_pickle=True)
    loaded, payload = load_translator(tmp_path / "translator", CLASSIFIER, DECODER)  # no opt-in needed now
    assert torch.equal(loaded(FEATURES), translator(FEATURES))
    assert payload["format"] == CHECKPOINT_FORMAT and payload["extra"] == {"history": [{"epoch": 1}]}


def test_a_damaged_or_incomplete_folder_names_the_file(tmp_path):
    folder = tmp_path / "translator"
    save_translator(folder, trained_looking("linear"), CLASSIFIER, DECODER)
    weights = (folder / WEIGHTS_NAME).read_bytes()

    # One flipped byte: caught by the sha256 that config.json records.
    (folder / WEIGHTS_NAME).write_bytes(weights[:-1] + bytes([weights[-1] ^ 1]))
    with pytest.raises(InputFileError, match=r"model\.safetensors does not match the sha256"):
        load_translator(folder)
    # Truncated, with no sha256 to compare: safetensors itself refuses it.
    config = json.loads((folder / CONFIG_NAME).read_text())
    del config["weights"]
    (folder / CONFIG_NAME).write_text(json.dumps(config))
    (folder / WEIGHTS_NAME).write_bytes(weights[: len(weights) // 2])
    with pytest.raises(InputFileError, match=r"model\.safetensors cannot be read.*recopy"):
        load_translator(folder)
    (folder / WEIGHTS_NAME).write_bytes(b"not safetensors at all")
    with pytest.raises(InputFileError, match=r"model\.safetensors cannot be read"):
        load_translator(folder / WEIGHTS_NAME)

    (folder / WEIGHTS_NAME).write_bytes(weights)
    (folder / CONFIG_NAME).write_text('{"format": "texplain-translator/2", ')
    with pytest.raises(InputFileError, match=r"config\.json cannot be read"):
        load_translator(folder)
    (folder / CONFIG_NAME).write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(InputFileError, match=r"config\.json is not a TExplain translator config"):
        load_translator(folder)
    (folder / CONFIG_NAME).unlink()
    with pytest.raises(InputFileError, match=r"config\.json does not exist"):
        load_translator(folder)
    (folder / WEIGHTS_NAME).unlink()
    with pytest.raises(InputFileError, match=r"model\.safetensors does not exist"):
        load_translator(folder / WEIGHTS_NAME)


def test_weights_that_do_not_fit_their_config_are_an_input_error(tmp_path):
    folder = tmp_path / "translator"
    save_translator(folder, trained_looking("linear"), CLASSIFIER, DECODER)
    config = json.loads((folder / CONFIG_NAME).read_text())
    config["translator"]["shape"]["output_dim"] = 17
    (folder / CONFIG_NAME).write_text(json.dumps(config))
    with pytest.raises(InputFileError, match="do not fit"):
        load_translator(folder)


def test_the_wrong_classifier_or_decoder_is_refused(tmp_path):
    folder = tmp_path / "translator"
    save_translator(folder, trained_looking("linear"), CLASSIFIER, DECODER)
    with pytest.raises(CheckpointMismatchError, match="feature_shape"):
        load_translator(folder, {**CLASSIFIER, "feature_shape": [577, 768]})
    with pytest.raises(CheckpointMismatchError, match="weights_hash.*retrain"):
        load_translator(folder, {**CLASSIFIER, "weights_hash": "other"})
    with pytest.raises(CheckpointMismatchError, match="data_config"):
        load_translator(folder, {**CLASSIFIER, "data_config": {"mean": [0.4, 0.5, 0.5]}})
    with pytest.raises(CheckpointMismatchError, match="kind"):
        load_translator(folder, CLASSIFIER, {**DECODER, "kind": "cross_attention"})
    # A tuple feature shape is the same shape (config.json stores lists).
    load_translator(folder, {**CLASSIFIER, "feature_shape": (6, 20)}, DECODER)


def test_missing_paths_and_junk_files_say_what_to_pass(tmp_path):
    with pytest.raises(InputFileError, match="nothere.*does not exist.*translator folder"):
        load_translator(tmp_path / "nothere")
    # An old path whose run now has a folder points at it.
    save_translator(tmp_path / "run" / "translator", trained_looking("linear"), CLASSIFIER, DECODER)
    with pytest.raises(InputFileError, match="did you mean .*run/translator"):
        load_translator(tmp_path / "run" / "translator.pt")
    (tmp_path / "junk.bin").write_bytes(b"not a checkpoint")
    with pytest.raises(InputFileError, match="junk.bin is not a TExplain translator checkpoint"):
        load_translator(tmp_path / "junk.bin")
    (tmp_path / "junk.pt").write_bytes(b"PK\x03\x04 but not a zip")
    with pytest.raises(InputFileError, match="junk.pt cannot be read"):
        load_translator(tmp_path / "junk.pt", trust_pickle=True)


def test_save_translator_refuses_a_file_name(tmp_path):
    with pytest.raises(ValueError, match="writes a folder"):
        save_translator(tmp_path / "translator.pt", trained_looking("linear"), CLASSIFIER, DECODER)
