"""The generative-latent suite's own parts (TExplain Section 4.3, Table 1, Figure 4): the stand-in VAE keeps
SD's latent conventions, latents become the translator's token grid, aggregate reads only the records
(image means, category means of pooled scores, the jar's corpus score), the tables put the paper's Table 1
beside ours, and bad settings fail at config loading or preflight with the key named. The whole suite
runs end to end in tests/test_suite_contract.py.
"""

from __future__ import annotations

import pytest
import torch

from harness.config import ConfigError, load_config
from suites.generative_latents import stand_in_vae as sv
from suites.generative_latents.config import GenerativeLatentsConfig
from suites.generative_latents.suite import GenerativeLatentsSuite, category_table


def test_stand_in_vae_scales_and_decodes_as_stable_diffusion_does():
    torch.manual_seed(0)
    images = torch.rand(6, 3, 16, 16) * 2 - 1  # (N, 3, H, W) in [-1, 1]
    config = sv.StandInVAEConfig(block_out_channels=(8, 16), epochs=1, batch_size=3)
    vae, history = sv.train_vae(images, config)
    assert len(history) == 1 and history[0]["reconstruction_mse"] > 0
    latents = sv.encode(vae, images)
    assert latents.shape == (6, 4, 8, 8)  # (N, C, H/2, W/2)
    assert latents.std().item() == pytest.approx(1.0, rel=1e-4)  # scaling_factor = 1 / std, SD's recipe
    with torch.no_grad():
        expected = vae.decode(latents / vae.config.scaling_factor).sample.clamp(-1, 1)
    assert torch.allclose(sv.decode(vae, latents), expected, atol=1e-6)
    pictures = sv.to_pil(sv.decode(vae, latents))
    assert len(pictures) == 6 and pictures[0].size == (16, 16)


def test_latent_grid_becomes_row_major_tokens_of_channels():
    latents = torch.arange(2 * 3 * 2 * 4, dtype=torch.float32).reshape(2, 3, 2, 4)  # (N, C, h, w)
    tokens = sv.latent_tokens(latents)
    assert tokens.shape == (2, 8, 3)  # (N, h*w, C)
    y, x = 1, 2
    assert torch.equal(tokens[1, y * 4 + x], latents[1, :, y, x])


def _record(image_id, category, values, pooled, corpus=0.3):
    return {
        "image_id": image_id, "category": category,
        "per_image_metrics": {f"{ref}.{m}": values[m] for ref in ("captioner", "truth") for m in values},
        "category_scores": {ref: dict(pooled) for ref in ("captioner", "truth")},
        "set_scores": {ref: {"meteor_jar": corpus} for ref in ("captioner", "truth")},
        "metric_names": list(values), "categories": ["a", "b"], "references": {"captioner": ["x"], "truth": ["y"]},
        "path": "stand-in",
    }


def test_aggregate_reads_image_means_category_means_and_the_corpus_score():
    records = [
        _record("a/1", "a", {"rouge_l_coco": 0.2, "meteor_jar": 0.1}, {"rouge_l_coco": 0.25, "meteor_jar": 0.12}),
        _record("a/2", "a", {"rouge_l_coco": 0.4, "meteor_jar": 0.3}, {"rouge_l_coco": 0.25, "meteor_jar": 0.12}),
        _record("b/1", "b", {"rouge_l_coco": 0.9, "meteor_jar": 0.5}, {"rouge_l_coco": 0.9, "meteor_jar": 0.5}),
    ]
    suite = GenerativeLatentsSuite(GenerativeLatentsConfig())
    metrics = suite.aggregate(records)
    assert metrics["captioner.rouge_l_coco"] == pytest.approx(0.5)  # (0.2 + 0.4 + 0.9) / 3 images
    assert metrics["captioner.rouge_l_coco.category_mean"] == pytest.approx((0.25 + 0.9) / 2)  # per category, pooled
    assert metrics["truth.meteor_jar.corpus"] == 0.3
    assert metrics["num_images"] == 3 and metrics["num_categories"] == 2
    table = category_table(records)
    assert table["a"]["images"] == 2 and table["a"]["captioner"]["rouge_l_coco"]["mean"] == pytest.approx(0.3)
    assert table["b"]["captioner"]["rouge_l_coco"]["interval"] is None  # one image: no interval
    tables = suite.tables(records, {})
    paper = tables[0]["rows"][0]
    assert paper[1:] == [26, 0.845, 40.39, 38.95]
    ours = tables[0]["rows"][1]
    assert ours[3] == pytest.approx(57.5) and ours[2] == "-"  # ROUGE x100; cosine not computed here


def test_every_metric_has_a_definition_and_a_direction():
    suite = GenerativeLatentsSuite(GenerativeLatentsConfig())
    for name in ("captioner.meteor_nltk", "truth.cosine.category_mean", "captioner.meteor_jar.corpus", "truth.cider_d"):
        assert name in suite.definitions and suite.higher_is_better[name] is True
    assert "BLIP" in suite.definitions["captioner.cosine"] and "beta 1.2" in suite.definitions["captioner.rouge_l_coco"]


def test_bad_settings_fail_at_config_loading():
    with pytest.raises(ConfigError, match="unknown caption metrics"):
        load_config("quickstart", ["suites.generative_latents.metrics=rouge,cosine"])
    with pytest.raises(ConfigError, match="both 'stand-in' or both real"):
        load_config("quickstart", ["suites.generative_latents.generator=some/sd-model"])
    with pytest.raises(ConfigError, match="caption_mode"):
        load_config("quickstart", ["suites.generative_latents.caption_mode=greedy"])


def test_real_path_preflight_names_what_is_missing(tmp_path):
    config = GenerativeLatentsConfig(generator="sd", captioner="blip", coco_root=str(tmp_path), categories="kitchen")
    problems = GenerativeLatentsSuite.preflight(config)
    assert any("captions_val2017.json is missing" in p for p in problems)
    assert any("captions_train2017.json is missing" in p for p in problems)
    assert GenerativeLatentsSuite.preflight(GenerativeLatentsConfig()) == []
    assert "categories" in " ".join(GenerativeLatentsSuite.preflight(GenerativeLatentsConfig(generator="sd", captioner="blip", coco_root=str(tmp_path))))
