"""The Waterbirds suite end to end on a tiny world with one seed and tiny random-weight parts: every method
runs and the Table 2 layout is written; a rerun with another fine-tune setting reuses ERM and its translator;
bad input gets a clear error (no val split, a class without class words, no planted correlation)."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest
import torch

from harness.config import load_config
from harness.pipeline.context import RunContext
from harness.pipeline.stages import StageStore
from suites import SUITES
from suites.waterbirds.config import WaterbirdsConfig
from suites.waterbirds.data import load_data, require_planted
from suites.waterbirds.methods import METHODS
from texplain.errors import TExplainError
from texplain.feature_cache import FeatureCache
from texplain.translators import TranslatorShape
from tiny_models import tiny_classifier, tiny_decoder, tiny_translator

TINY_SAMPLING = ["sampling.num_sentences=3", "sampling.min_words=3", "sampling.max_words=6", "sampling.batch_size=3", "explain.precision=fp32"]


def tiny_run_context(overrides: list[str], root: Path) -> RunContext:
    options = [f"suites.waterbirds.{k}={json.dumps(v)}" for k, v in SUITES.get("waterbirds").tiny_options.items()]
    config = load_config("quickstart", TINY_SAMPLING + options + overrides + ["train.precision=fp32"])
    classifier, decoder = tiny_classifier(), tiny_decoder("prefix")
    tokens, dim = classifier.feature_shape
    translator = tiny_translator("mlp_bn", TranslatorShape(tokens, dim, 3, decoder.conditioning_dim)).eval()
    return RunContext(config, torch.device("cpu"), classifier, FeatureCache(root / "features", classifier), translator, "test:tiny",
                      lambda: decoder, progress=False, explain_precision="fp32", cache_root=root / "cache",
                      store=StageStore(root / "stages"), train_precision="fp32")


def test_every_method_runs_on_a_tiny_world_and_the_table_is_written(tmp_path):
    context = tiny_run_context(["translator.options={hidden_dim: 32, num_layers: 2}"], tmp_path)
    suite = SUITES.get("waterbirds")(context.config.suites.waterbirds)
    out = tmp_path / "out"
    out.mkdir()
    summary = suite.execute(context, out)
    metrics = summary["metrics"]
    for method in METHODS:
        assert f"worst_group.{method}" in metrics and f"avg_test.{method}" in metrics and f"avg_weighted.{method}" in metrics
    assert metrics["num_seeds"] == 1 and metrics["num_train"] == 16 and metrics["num_test"] == 8
    # RandMask masks as many images as TExplain selected; MaskTune and RandMask-all every image (or none without areas).
    assert metrics["masked_share.randmask"] == metrics["masked_share.texplain_class_cam"] == metrics["selected_share"]
    assert metrics["masked_share.masktune"] == 1.0
    assert metrics["masked_share.randmask_all"] == (1.0 if metrics["selected_share"] > 0 else 0.0)
    table = summary["tables"][0]
    assert table["title"].startswith("Waterbirds mitigation (TExplain Table 2 layout)")
    assert {"Worst-group", "Masked Samples", "Paper: Worst-group"} <= set(table["header"])
    assert len(table["rows"]) == len(METHODS) and all(len(row) == len(table["header"]) for row in table["rows"])
    assert summary["tables"][1]["title"].startswith("Detection")  # the synthetic world scores detection
    assert "detect.doc_freq_difference.mean" in metrics
    records = [json.loads(line) for line in (out / "records.jsonl").read_text().splitlines()]
    train = [r for r in records if r["split"] == "train"]
    selected = [r for r in train if r["selected_word"][0] is not None]
    assert len(selected) == round(metrics["selected_share"] * len(train))
    assert all(r["masked_pixels"]["texplain_class_cam"][0] is not None for r in selected)
    for figure in summary["figures"]:
        assert (tmp_path / "out" / Path(figure).name).is_file()
    assert any("cloud_train_waterbird" in f for f in summary["figures"]) and any("cloud_test_landbird" in f for f in summary["figures"])
    assert "synthetic Waterbirds-format world" in summary["stand_in"]

    # A new fine-tune setting: ERM, its translator and its explanations are reused, only the fine-tunes rerun.
    stages = tmp_path / "stages"
    before = {p.name for p in stages.iterdir()}
    changed = dataclasses.replace(context.config.suites.waterbirds, finetune_lr=0.02)
    again = tmp_path / "again"
    again.mkdir()
    SUITES.get("waterbirds")(changed).execute(context, again)
    new = {p.name for p in stages.iterdir()} - before
    assert new and all(name.startswith("waterbirds-finetune-") for name in new)


def tiny_config(**changes) -> WaterbirdsConfig:
    return WaterbirdsConfig(train_size=8, val_size=4, test_size=4, world_image_size=32, **changes)


def test_a_dataset_without_a_val_split_is_refused_by_name(tmp_path):
    data = load_data(tiny_config(), tmp_path / "cache")
    root = tmp_path / "no-val"
    shutil.copytree(data.dataset.root, root)
    lines = (root / "metadata.csv").read_text().splitlines()
    (root / "metadata.csv").write_text("\n".join([lines[0]] + [l for l in lines[1:] if l.split(",")[3] != "1"]) + "\n")
    (root / "captions.jsonl").unlink()  # its val captions would be reported as rows missing from metadata.csv
    with pytest.raises(TExplainError, match=r"metadata.csv has no val split \(no row with split=1\)"):
        load_data(tiny_config(dataset=str(root)), tmp_path / "cache")
    # A real-format dataset has no planted truth: detection cannot be scored there.
    real = load_data(tiny_config(dataset=str(data.dataset.root)), tmp_path / "cache")
    with pytest.raises(TExplainError, match="no planted|has none"):
        require_planted(real)


def test_a_class_without_class_words_is_refused(tmp_path):
    with pytest.raises(TExplainError, match=r"\['landbird'\] have no class words.*suites.waterbirds.class_words.landbird"):
        load_data(tiny_config(class_words={"landbird": []}), tmp_path / "cache")
    with pytest.raises(TExplainError, match="unknown classes"):
        load_data(tiny_config(class_words={"seabird": ["gull"]}), tmp_path / "cache")
    words = load_data(tiny_config(class_words={"landbird": ["Car", "truck"]}), tmp_path / "cache").class_words
    assert words == {"landbird": ("car", "truck"), "waterbird": ("boat",)}


def test_a_balanced_world_has_no_planted_correlation_to_score(tmp_path):
    data = load_data(tiny_config(), tmp_path / "cache")
    assert require_planted(data) == {"landbird": ("forest", "grass"), "waterbird": ("water",)}
    balanced = dataclasses.replace(data, train_correlation=None)
    with pytest.raises(TExplainError, match="score_detection=false"):
        require_planted(balanced)


def test_a_gradcam_layer_that_does_not_exist_fails_before_training(tmp_path):
    context = tiny_run_context(["suites.waterbirds.gradcam_layer=layer9"], tmp_path)
    suite = SUITES.get("waterbirds")(context.config.suites.waterbirds)
    with pytest.raises(TExplainError, match=r"gradcam_layer: .* has no module 'layer9'"):
        list(suite.run(context, tmp_path / "work"))
    assert not any(p.name.startswith("waterbirds-erm") for p in (tmp_path / "stages").glob("*"))
