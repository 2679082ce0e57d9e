"""The main job end to end with the real packaged models on a tiny world, and its resume behaviour."""

import json

import pytest

from harness.config import load_config
from harness.run import run

pytestmark = pytest.mark.slow

TINY = [
    "world.num_images=30", "world.image_size=64", "explain.num_images=3", "explain.num_val=4",
    "explain.single_image_clouds=1", "train.epochs=1", "train.batch_size=8", "train.warmup_steps=2",
    "sampling.num_sentences=3", "sampling.min_words=3", "sampling.max_words=6", "sampling.batch_size=3",
    "translator.options={hidden_dim: 64, num_layers: 3}",
]


def test_run_writes_a_self_describing_directory_and_resumes(tmp_path):
    config = load_config("quickstart", TINY)
    path = run(config, tmp_path, progress=False)
    for name in ("config.json", "samples.jsonl", "records.jsonl", "metrics.json", "translator.pt", "done"):
        assert (path / name).exists(), name
    assert path.name.startswith("quickstart-")
    metrics = json.loads((path / "metrics.json").read_text())
    assert {"explain.object_top5_rate", "explain.background_top5_rate"} <= set(metrics["metrics"])
    assert metrics["provenance"]["libraries"]["torch"]
    assert metrics["seed"] == 0 and "definitions" in metrics
    records = [json.loads(line) for line in (path / "records.jsonl").read_text().splitlines()]
    assert len(records) == 3 and all(r["num_sentences"] == 3 for r in records)
    samples = (path / "samples.jsonl").read_text()
    lengths = []
    for line in samples.splitlines():
        for sentence in json.loads(line)["sentences"]:
            lengths.append(len([w for w in sentence.split() if any(c.isalnum() for c in w)]))
    assert max(lengths) <= 6, lengths
    # Below min_words only when the token cap stopped a pathological run (1 epoch of training here).
    assert sum(n >= 3 for n in lengths) >= 0.6 * len(lengths), lengths
    assert sorted(p.name for p in (path / "wordclouds").iterdir())

    # A killed explain stage: last line half-written, no done marker. The rerun repairs and completes
    # it, and gives the same sentences as the uninterrupted run (same seed).
    lines = samples.splitlines(keepends=True)
    (path / "samples.jsonl").write_text(lines[0] + lines[1][: len(lines[1]) // 2])
    (path / "done").unlink()
    again = run(config, tmp_path, progress=False)
    assert again == path
    assert (path / "samples.jsonl").read_text() == samples
    rerun_metrics = json.loads((path / "metrics.json").read_text())
    assert rerun_metrics["feature_cache"]["misses"] == 0  # features came from the cache
    assert [h["epoch"] for h in rerun_metrics["training"]] == [1]

    # Another setting is another run directory.
    other = run(load_config("quickstart", TINY + ["seed=1"]), tmp_path, progress=False)
    assert other != path

    # The trained translator explains a user's own photo through the CLI.
    from PIL import Image
    from skimage import data

    from harness.cli import main

    photo = tmp_path / "coffee.png"
    Image.fromarray(data.coffee()).save(photo)
    out = tmp_path / "explained"
    code = main(["explain", "--translator", str(path / "translator.pt"), str(photo), "--out", str(out),
                 "--num-sentences", "2", "--min-words", "2", "--max-words", "5", "--quiet"])
    assert code == 0
    row = json.loads((out / "explanations.jsonl").read_text().splitlines()[0])
    assert row["classifier_top1"]["name"] == "espresso"
    assert len(row["sentences"]) == 2 and (out / "wordclouds").is_dir()
    assert main(["explain", "--translator", str(tmp_path / "missing.pt"), str(photo), "--quiet"]) == 2
