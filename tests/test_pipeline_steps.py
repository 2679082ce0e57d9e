"""Pipeline steps that suites reuse, so a suite that needs a translator of its own does not re-implement training: a translator
for any feature source as a cached, resumable step, and a run context's own cached sub-steps."""

import pytest
import torch

from harness.config import load_config
from harness.pipeline.context import RunContext
from harness.pipeline.stages import StageStore
from harness.pipeline.translator_step import CaptionedFeatures, translator_step
from texplain.training import TrainConfig
from tiny_models import tiny_decoder

CAPTIONS = ["a red boat on water", "a blue car on the road", "a small bird near the forest", "a green fish in water"]


def _latents(n: int = 16) -> CaptionedFeatures:
    """A stand-in for a non-classifier feature source (e.g. VAE latents as an H*W x C token grid)."""
    generator = torch.Generator().manual_seed(0)
    tokens = torch.randn(n, 4, 6, generator=generator)  # (N, T, D): 2x2 grid of 6 channels
    return CaptionedFeatures(tokens, [[CAPTIONS[i % 4]] for i in range(n)], {"spec": "vae:stand-in", "weights_hash": "abc"}, {"items": n})


def test_a_translator_for_another_feature_source_is_trained_once_then_reused(tmp_path):
    store = StageStore(tmp_path)
    source = _latents()
    loads = []

    def load_decoder():
        loads.append(1)
        return tiny_decoder("prefix")

    train = TrainConfig(epochs=2, batch_size=4, lr=1e-2, warmup_steps=1, precision="fp32")
    translator_config = {"name": "linear", "output_tokens": 2, "options": {}}
    args = (store, "vae-translator", source, list(range(4, 16)), list(range(4)), translator_config, train, {"kind": "prefix", "spec": "tiny"})
    first = translator_step(*args, load_decoder, progress=False)
    assert len(first.history) == 2 and first.stage.done and (first.folder / "model.safetensors").exists()
    again = translator_step(*args, lambda: pytest.fail("a finished step must not load the LM"), progress=False)
    assert again.stage.key == first.stage.key and again.history == first.history and len(loads) == 1
    x = source.tokens[:3]
    assert torch.equal(again.translator(x), first.translator.eval()(x))
    # Another feature source is another step.
    other = CaptionedFeatures(source.tokens, source.captions, {"spec": "vae:other", "weights_hash": "def"}, source.data)
    assert translator_step(store, "vae-translator", other, *args[3:], load_decoder, progress=False).stage.key != first.stage.key
    with pytest.raises(ValueError, match="resolved training precision"):
        translator_step(*args[:6], TrainConfig(precision="auto"), args[7], load_decoder)


def test_captioned_features_refuse_mismatched_items():
    with pytest.raises(ValueError, match="3 feature items but 2 caption lists"):
        CaptionedFeatures(torch.zeros(3, 2, 2), [["a"], ["b"]], {}, {})
    with pytest.raises(ValueError, match=r"\(N, T, D\)"):
        CaptionedFeatures(torch.zeros(3, 2), [["a"]] * 3, {}, {})


def test_run_context_offers_cached_sub_steps_and_translators(tmp_path):
    config = load_config("quickstart", ["translator.name=linear", "translator.output_tokens=2", "translator.options={}",
                                        "train.epochs=1", "train.batch_size=4", "train.warmup_steps=1", "train.precision=fp32"])
    context = RunContext(config, torch.device("cpu"), None, None, None, "translator-key", lambda: tiny_decoder("prefix"),
                         progress=False, store=StageStore(tmp_path), train_precision="fp32")
    step = context.stage("waterbirds-erm-seed0", {"epochs": 3})
    assert not step.done
    step.mark_done({"accuracy": 0.9})
    again = context.stage("waterbirds-erm-seed0", {"epochs": 3})
    assert again.done and again.outputs() == {"accuracy": 0.9} and again.key == step.key
    assert context.stage("waterbirds-erm-seed0", {"epochs": 4}).key != step.key
    trained = context.train_translator("waterbirds-translator", _latents(), list(range(4, 16)), list(range(4)))
    assert trained.stage.done and trained.translator.shape.output_tokens == 2
