"""Every registered translator x decoder kind on tiny random-weight models: shapes, learning, frozenness,
checkpoints. The pairs come from the registries (TRANSLATORS, DECODER_KINDS): a new translator or decoder
kind is tested here as soon as it declares its tiny options or tiny builder (tests/tiny_models.py)."""

import pytest
import torch

from texplain.checkpoint import load_translator, save_translator
from texplain.decoders import DECODER_KINDS
from texplain.errors import CheckpointMismatchError, UnknownNameError
from texplain.training import TrainConfig, train_translator
from texplain.translators import TRANSLATORS, TranslatorShape
from tiny_models import CAPTIONS, tiny_decoder, tiny_translator

TOKENS, DIM = 6, 20
# One budget for every pair: 30 steps (8 captions, batch 8). Measured loss ratios final/initial were
# 0.56-0.89 over the six pairs of today; a translator that does not learn stays near 1.
CONTRACT_STEPS, CONTRACT_LR, MAX_LOSS_RATIO = 30, 1e-2, 0.95
PAIRS = [(t, k) for t in TRANSLATORS.names() for k in DECODER_KINDS.names()]


def make(translator_name, decoder_kind, output_tokens=3):
    decoder = tiny_decoder(decoder_kind)
    shape = TranslatorShape(TOKENS, DIM, output_tokens, decoder.conditioning_dim)
    return tiny_translator(translator_name, shape), decoder


def test_unknown_translator_suggests_a_name():
    with pytest.raises(UnknownNameError, match="Did you mean 'mlp_bn'"):
        TRANSLATORS.get("mlp_nb")


def test_the_registries_are_not_empty():
    # The contract test below is parametrized over them; an empty registry would pass it vacuously.
    assert TRANSLATORS.names() and DECODER_KINDS.names()


@pytest.mark.parametrize("translator_name, decoder_kind", PAIRS)
def test_contract(translator_name, decoder_kind, tmp_path):
    """Build, forward shapes, bad input refused, a few training steps lower the loss and leave the
    decoder frozen and unchanged, and a save/load round trip gives the same outputs."""
    # A cross-attention decoder takes every classifier token as memory; a prefix LM gets k=3 tokens.
    output_tokens = TOKENS if decoder_kind == "cross_attention" else 3
    translator, decoder = make(translator_name, decoder_kind, output_tokens)
    assert translator.name == translator_name and decoder.kind == decoder_kind

    out = translator(torch.randn(4, TOKENS, DIM))
    assert out.shape == (4, output_tokens, decoder.conditioning_dim)
    ids, mask = decoder.tokenize_captions(CAPTIONS[:4])
    assert decoder.caption_logits(out, ids, mask).shape == (4, ids.shape[1], decoder.vocab_size)
    with pytest.raises(ValueError, match=r"expects features of shape \(B, 6, 20\)"):
        translator(torch.randn(4, TOKENS + 1, DIM))

    features = torch.randn(8, TOKENS, DIM, generator=torch.Generator().manual_seed(0))
    before = {k: v.clone() for k, v in decoder.model.state_dict().items()}
    translator.eval()
    with torch.no_grad():
        initial = float(decoder.caption_loss(translator(features), CAPTIONS))
    config = TrainConfig(epochs=CONTRACT_STEPS, batch_size=8, lr=CONTRACT_LR, warmup_steps=5, precision="fp32")
    history = train_translator(translator, decoder, features, CAPTIONS, features[:4], CAPTIONS[:4], config, tmp_path / "train", progress=False)
    with torch.no_grad():
        final = float(decoder.caption_loss(translator(features), CAPTIONS))
    assert final < MAX_LOSS_RATIO * initial, (initial, final, history[-1])
    assert all(not p.requires_grad for p in decoder.model.parameters())
    assert not decoder.model.training
    after = decoder.model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)

    classifier = {"spec": "test:features", "weights_hash": "abc", "feature_shape": [TOKENS, DIM]}
    save_translator(tmp_path / "translator", translator, classifier, decoder.identity())
    loaded, _ = load_translator(tmp_path / "translator", classifier, decoder.identity())
    assert type(loaded) is type(translator) and loaded.options == translator.options
    assert torch.equal(loaded(features), translator.eval()(features))


def test_training_resumes_from_the_last_checkpoint(tmp_path, caplog):
    import logging

    features = torch.randn(8, TOKENS, DIM, generator=torch.Generator().manual_seed(0))
    config = TrainConfig(epochs=4, batch_size=4, lr=1e-2, warmup_steps=2, precision="fp32")
    straight, decoder = make("mlp_bn", "prefix")
    train_translator(straight, decoder, features, CAPTIONS, features[:4], CAPTIONS[:4], config, tmp_path / "a", progress=False)
    # Interrupted after 2 epochs, then the same call again with 4: continues at epoch 3.
    resumed, decoder = make("mlp_bn", "prefix")
    half = TrainConfig(**{**config.__dict__, "epochs": 2})
    train_translator(resumed, decoder, features, CAPTIONS, features[:4], CAPTIONS[:4], half, tmp_path / "b", progress=False)
    fresh, decoder = make("mlp_bn", "prefix")
    state = torch.load(tmp_path / "b" / "last.pt", weights_only=True)  # plain types and tensors only: no unpickling
    assert state["epoch"] == 1
    # A different config (epochs 2 vs 4) has another fingerprint, so move the state under the full config.
    with caplog.at_level(logging.INFO, logger="texplain.training"):
        history = train_translator(fresh, decoder, features, CAPTIONS, features[:4], CAPTIONS[:4], config, tmp_path / "a", progress=False)
    assert [h["epoch"] for h in history] == [1, 2, 3, 4]  # read from the finished checkpoint, nothing retrained
    # Retraining from scratch would give the same numbers: the log shows the weights_only load resumed.
    assert any("resuming training from" in record.getMessage() for record in caplog.records)
    assert not any(record.levelno >= logging.WARNING for record in caplog.records)
    for key, value in straight.state_dict().items():
        assert torch.equal(value, fresh.state_dict()[key]), key


def test_interrupted_training_matches_uninterrupted(tmp_path, monkeypatch):
    import texplain.training as training

    features = torch.randn(8, TOKENS, DIM, generator=torch.Generator().manual_seed(0))
    config = TrainConfig(epochs=3, batch_size=4, lr=1e-2, warmup_steps=2, precision="fp32")
    straight, decoder = make("mlp_bn", "prefix")
    train_translator(straight, decoder, features, CAPTIONS, features[:4], CAPTIONS[:4], config, tmp_path / "a", progress=False)

    calls = {"n": 0}
    real_validation = training.validation_loss

    def crash_in_epoch_two(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt  # stands in for a kill after epoch 1's checkpoint
        return real_validation(*args, **kwargs)

    monkeypatch.setattr(training, "validation_loss", crash_in_epoch_two)
    interrupted, decoder = make("mlp_bn", "prefix")
    with pytest.raises(KeyboardInterrupt):
        train_translator(interrupted, decoder, features, CAPTIONS, features[:4], CAPTIONS[:4], config, tmp_path / "b", progress=False)
    monkeypatch.setattr(training, "validation_loss", real_validation)
    resumed, decoder = make("mlp_bn", "prefix")
    history = train_translator(resumed, decoder, features, CAPTIONS, features[:4], CAPTIONS[:4], config, tmp_path / "b", progress=False)
    assert [h["epoch"] for h in history] == [1, 2, 3]
    for key, value in straight.state_dict().items():
        assert torch.allclose(value, resumed.state_dict()[key], atol=1e-6), key


class NotAPlainType:
    """Stands in for an object a weights_only load refuses (a tampered or foreign last.pt)."""


def test_a_resume_file_that_needs_unpickling_is_not_loaded(tmp_path, caplog):
    import logging

    features = torch.randn(8, TOKENS, DIM, generator=torch.Generator().manual_seed(0))
    config = TrainConfig(epochs=1, batch_size=4, lr=1e-2, warmup_steps=2, precision="fp32")
    torch.save({"fingerprint": "x", "epoch": 0, "payload": NotAPlainType()}, tmp_path / "last.pt")
    translator, decoder = make("linear", "prefix")
    with caplog.at_level(logging.WARNING, logger="texplain.training"):
        history = train_translator(translator, decoder, features, CAPTIONS, features[:4], CAPTIONS[:4], config, tmp_path, progress=False)
    assert [h["epoch"] for h in history] == [1]  # trained from scratch
    assert any("cannot read" in record.getMessage() and "training from scratch" in record.getMessage() for record in caplog.records)
    assert torch.load(tmp_path / "last.pt", weights_only=True)["epoch"] == 0  # replaced by a loadable one


def test_checkpoint_refuses_another_classifier_or_decoder(tmp_path):
    translator, decoder = make("linear", "prefix")
    classifier = {"spec": "packaged:efficientnet_lite0", "weights_hash": "abc", "feature_shape": [TOKENS, DIM]}
    path = tmp_path / "translator"
    save_translator(path, translator, classifier, decoder.identity())
    loaded, payload = load_translator(path, classifier, decoder.identity())
    features = torch.randn(2, TOKENS, DIM)
    assert torch.equal(loaded(features), translator.eval()(features))
    with pytest.raises(CheckpointMismatchError, match="feature_shape"):
        load_translator(path, {**classifier, "feature_shape": [577, 768]})
    with pytest.raises(CheckpointMismatchError, match="retrain"):
        load_translator(path, {**classifier, "weights_hash": "other"})
    other_decoder = tiny_decoder("cross_attention")
    with pytest.raises(CheckpointMismatchError, match="kind"):
        load_translator(path, classifier, other_decoder.identity())


def test_missing_checkpoint_names_the_file(tmp_path):
    from texplain.errors import InputFileError

    with pytest.raises(InputFileError, match="nothere.pt"):
        load_translator(tmp_path / "nothere.pt")
    with pytest.raises(InputFileError, match="nothere"):
        load_translator(tmp_path / "nothere")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(InputFileError, match="junk.pt"):
        load_translator(tmp_path / "junk.pt")


@pytest.mark.parametrize("translator_name", ["mlp_bn", "transformer"])
def test_output_rms_fixes_the_prefix_scale_and_round_trips(translator_name, tmp_path):
    """output_rms (translators/base.py OutputScale): every output token starts at that RMS whatever the
    input's scale, the gain is a trained parameter saved with the translator, and None keeps the plain map."""
    decoder = tiny_decoder("prefix")
    shape = TranslatorShape(TOKENS, DIM, 3, decoder.conditioning_dim)
    options = {**TRANSLATORS.get(translator_name).tiny_options, "output_rms": 16.0}
    translator = TRANSLATORS.get(translator_name)(shape, **options).eval()
    for scale in (0.01, 100.0):
        out = translator(torch.randn(4, TOKENS, DIM, generator=torch.Generator().manual_seed(1)) * scale)
        assert torch.allclose(out.pow(2).mean(-1).sqrt(), torch.full((4, 3), 16.0), rtol=1e-3)
    assert any(name.endswith("output_scale.gain") for name, _ in translator.named_parameters())
    classifier = {"spec": "test:features", "weights_hash": "abc", "feature_shape": [TOKENS, DIM]}
    with torch.no_grad():
        translator.output_scale.gain.mul_(0.5)  # a "trained" gain must come back from disk
    save_translator(tmp_path / "t", translator, classifier, decoder.identity())
    loaded, _ = load_translator(tmp_path / "t", classifier, decoder.identity())
    features = torch.randn(2, TOKENS, DIM)
    assert torch.equal(loaded.eval()(features), translator(features))
    plain = TRANSLATORS.get(translator_name)(shape, **TRANSLATORS.get(translator_name).tiny_options)
    assert not any("output_scale" in name for name in plain.state_dict())


def test_token_mixer_starts_as_row_pooling_plus_a_global_share():
    """TokenMixer's start (translators/base.py): output token j averages its own group of rows, and with
    global_share s every output token also starts with share s of the mean of all tokens."""
    from texplain.translators.base import TokenMixer

    for share in (0.0, 0.5):
        weight = TokenMixer(8, 4, global_share=share).mix.weight.detach()  # (4, 8), with 0.01-scale tie-breaking noise
        expected = torch.full((4, 8), share / 8)
        for j in range(4):
            expected[j, 2 * j : 2 * j + 2] += (1 - share) / 2
        assert torch.allclose(weight, expected, atol=0.05)
        assert torch.allclose(weight.sum(1), torch.ones(4), atol=0.1)  # an average: the token scale is kept
    with pytest.raises(ValueError, match="global_share"):
        TokenMixer(8, 4, global_share=1.5)
    # The option reaches mlp_bn and is saved in its config only when set (older translators keep their keys).
    shape = TranslatorShape(8, 2, 4, 16)
    assert "mixer_global_share" not in TRANSLATORS.get("mlp_bn")(shape, hidden_dim=8).config()["options"]
    assert TRANSLATORS.get("mlp_bn")(shape, hidden_dim=8, mixer_global_share=0.5).config()["options"]["mixer_global_share"] == 0.5


def test_token_mixer_global_tokens_start_as_the_mean_of_all_tokens():
    """mixer_global_tokens g (translators/base.py): the first g output tokens start as the plain mean of every
    input token (a CNN's stand-in for a ViT's class token), the other k - g as row groups."""
    from texplain.translators.base import TokenMixer

    weight = TokenMixer(8, 4, global_tokens=1).mix.weight.detach()  # (4, 8)
    assert torch.allclose(weight[0], torch.full((8,), 1 / 8), atol=0.05)
    for j, group in enumerate(torch.arange(8).tensor_split(3), start=1):
        expected = torch.zeros(8)
        expected[group] = 1 / len(group)
        assert torch.allclose(weight[j], expected, atol=0.05)
    with pytest.raises(ValueError, match="global_tokens"):
        TokenMixer(8, 4, global_tokens=4)
    shape = TranslatorShape(8, 2, 4, 16)
    assert "mixer_global_tokens" not in TRANSLATORS.get("mlp_bn")(shape, hidden_dim=8).config()["options"]
    assert TRANSLATORS.get("mlp_bn")(shape, hidden_dim=8, mixer_global_tokens=1).config()["options"]["mixer_global_tokens"] == 1
