"""The harness keeps adaptive stopping's records: samples.jsonl carries each image's stop beside its sentences."""

import dataclasses
import json

import torch

from harness.pipeline.explain_step import explain_images
from texplain.sampling import AdaptiveStopping, SamplingConfig, image_seed
from texplain.translators import TranslatorShape, build_translator
from tiny_models import tiny_prefix_decoder


def _explain(tmp_path, sampling, name):
    decoder = tiny_prefix_decoder()
    torch.manual_seed(0)
    translator = build_translator("linear", TranslatorShape(6, 5, 3, decoder.conditioning_dim))
    tokens = torch.randn(2, 6, 5, generator=torch.Generator().manual_seed(1))  # (images, T, D)
    path = tmp_path / f"{name}.jsonl"
    sentences = explain_images(decoder, translator, ["img_a", "img_b"], tokens, sampling, 0, "fp32", path, progress=False)
    return sentences, [json.loads(line) for line in path.read_text().splitlines()]


def test_samples_jsonl_holds_each_images_stop_under_adaptive_stopping_and_no_field_under_fixed_n(tmp_path):
    fixed = SamplingConfig(num_sentences=160, min_words=3, max_words=6, batch_size=80)
    adaptive = dataclasses.replace(fixed, stopping="adaptive", stop_top_k=2, stop_chunk=40)
    fixed_sentences, fixed_rows = _explain(tmp_path, fixed, "fixed")
    assert all(set(row) == {"image_id", "seed", "sentences"} for row in fixed_rows)
    sentences, rows = _explain(tmp_path, adaptive, "adaptive")
    assert [row["image_id"] for row in rows] == ["img_a", "img_b"]
    for row in rows:
        stop = row["stopping"]
        assert set(stop) == {"sentences", "chunks", "agreement", "stopped_early", "top_k", "reason"}
        assert stop["sentences"] == len(row["sentences"]) == len(sentences[row["image_id"]])
        # The record is the one the rule gives when replayed on that image's fixed-N sentences.
        replayed = AdaptiveStopping.from_config(adaptive).replay(fixed_sentences[row["image_id"]], image_seed(0, row["image_id"]))
        assert stop == replayed.to_json()
    assert any(row["stopping"]["stopped_early"] for row in rows)


def test_stop_gain_enters_the_explain_key_only_where_it_acts():
    from harness.config import load_config
    from harness.pipeline.run import sampling_key

    base = sampling_key(load_config("quickstart"))
    assert "stop_gain" not in base  # off: the keys of runs made before the option existed are unchanged
    assert sampling_key(load_config("quickstart", ["sampling.stop_gain=0.03"])) == base  # fixed N: the gain is unused
    adaptive = sampling_key(load_config("quickstart", ["sampling.stopping=adaptive", "sampling.stop_gain=0.03"]))
    assert adaptive["stop_gain"] == 0.03
