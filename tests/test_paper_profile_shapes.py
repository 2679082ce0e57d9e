"""The paper profile's code path at its real shapes, on a CPU without its weights: `paper-dry-run` (the
paper profile with random weights, a tiny synthetic world, one training step, 2 images x 3 sentences)
runs end to end: ViT-B/16 at 384 px gives 577 x 768 tokens, the mlp_bn translator keeps 577 x 768 for
BLIP's 12-layer text decoder, the loss is finite, and the run says its weights were random."""

import dataclasses
import json
import math

import pytest
import torch

from harness.config import load_config, to_dict
from harness.pipeline.run import run
from texplain.checkpoint import load_translator
from texplain.decoders.random_init import BLIP_TEXT_CONFIGS

pytestmark = pytest.mark.slow

# fp32 as the other end-to-end tests (tests/tiny_run.py): no dependence on the CPU's bf16 speed.
FP32 = ["train.precision=fp32", "explain.precision=fp32"]


def test_the_dry_run_differs_from_the_paper_only_in_sizes_counts_and_weights():
    paper, dry = to_dict(load_config("paper")), to_dict(load_config("paper-dry-run"))
    assert dry["models"] == {**paper["models"], "device": "auto", "random_weights": True}
    assert dry["translator"] == paper["translator"] and dry["translator"]["output_tokens"] == 0  # all 577 tokens
    for key in ("top_p", "min_words", "max_words", "stopping"):
        assert dry["sampling"][key] == paper["sampling"][key]
    for key in ("lr", "weight_decay", "grad_clip", "precision", "token_weighting"):
        assert dry["train"][key] == paper["train"][key]
    assert dry["world"]["image_size"] == 384 and dry["data"]["source"] == "synthetic"
    assert not any(section["enabled"] for section in dry["suites"].values())
    # The decoder is built from BLIP captioning-base's real text config.
    blip = BLIP_TEXT_CONFIGS["Salesforce/blip-image-captioning-base"]
    assert (blip["num_hidden_layers"], blip["hidden_size"], blip["vocab_size"], blip["encoder_hidden_size"]) == (12, 768, 30524, 768)


def test_paper_dry_run_at_real_shapes(tmp_path, monkeypatch):
    monkeypatch.setenv("TEXPLAIN_CACHE", str(tmp_path / "cache"))
    config = load_config("paper-dry-run", FP32)
    path = run(config, tmp_path / "runs", progress=False)

    translator_config = json.loads((path / "translator" / "config.json").read_text())
    assert translator_config["classifier"]["feature_shape"] == [577, 768]
    assert translator_config["translator"]["shape"] == {"input_tokens": 577, "input_dim": 768, "output_tokens": 577, "output_dim": 768}
    decoder = translator_config["decoder"]
    assert (decoder["kind"], decoder["conditioning_dim"], decoder["vocab_size"]) == ("cross_attention", 768, 30524)
    assert translator_config["classifier"]["random_weights"] is True and decoder["random_weights"] is True

    translator, _ = load_translator(path / "translator", translator_config["classifier"])
    with torch.no_grad():
        assert translator(torch.randn(2, 577, 768)).shape == (2, 577, 768)

    metrics = json.loads((path / "metrics.json").read_text())
    (epoch,) = metrics["training"]
    assert epoch["train_steps"] == 1 and math.isfinite(epoch["train_loss"]) and math.isfinite(epoch["val_loss"])
    samples = [json.loads(line) for line in (path / "samples.jsonl").read_text().splitlines()]
    assert len(samples) == 2 and all(len(row["sentences"]) == 3 for row in samples)

    # Random weights are recorded and reported; peak memory and seconds per step are measured.
    assert json.loads((path / "config.json").read_text())["models"]["random_weights"] is True
    assert metrics["models"]["random_weights"] is True and "mean nothing" in metrics["models"]["note"]
    resources = metrics["resources"]
    assert resources["peak_rss_mb"] > 500 and resources["seconds_per_train_step"] > 0 and resources["train_steps"] == 1
    assert resources["cuda_peak_mb"] is None or resources["cuda_peak_mb"] > 0
    report = (path / "report.md").read_text()
    assert "random weights" in report and "per training step" in report

    # A rerun builds the same random weights, so every stage is reused.
    again = run(dataclasses.replace(config), tmp_path / "runs", progress=False)
    stages = json.loads((again / "stages.json").read_text())
    assert again == path and stages["translator"]["status"] == stages["explain"]["status"] == "reused"
