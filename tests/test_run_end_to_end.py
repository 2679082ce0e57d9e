"""The main job end to end with the real packaged models on a tiny world: the run directory, stage
reuse, which stages a changed setting reruns, and SIGKILL-and-resume giving identical outputs."""

import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from harness.config import load_config
from harness.pipeline.run import run

from tiny_run import TINY_QUICKSTART

pytestmark = pytest.mark.slow

TINY = TINY_QUICKSTART


def _stages(path: Path) -> dict:
    return json.loads((path / "stages.json").read_text())


def _outputs(path: Path) -> dict[str, str]:
    names = ["samples.jsonl", "records.jsonl", "suites/only_bg/records.jsonl"]
    return {name: (path / name).read_text() for name in names}


def test_run_directory_stage_reuse_and_reruns(tmp_path, caplog):
    caplog.set_level(logging.INFO)  # as `texplain --log-level INFO` (the default) does; run.log follows the level
    config = load_config("quickstart", TINY)
    path = run(config, tmp_path, progress=False)
    for name in ("config.json", "samples.jsonl", "records.jsonl", "metrics.json", "translator/model.safetensors", "translator/config.json", "stages.json",
                 "report.html", "report.md", "suites/only_bg/metrics.json", "suites/only_bg/records.jsonl", "done"):
        assert (path / name).exists(), name
    assert path.name.startswith("quickstart-")
    metrics = json.loads((path / "metrics.json").read_text())
    assert {"explain.object_in_top_k_rate", "explain.background_in_top_k_rate"} <= set(metrics["metrics"])
    assert metrics["format"] == "texplain-metrics/2" and metrics["intervals"]["explain.object_in_top_k_rate"]["n"] == 3
    assert metrics["provenance"]["libraries"]["torch"] and metrics["provenance"]["git_commit"]
    assert metrics["seed"] == 0 and "definitions" in metrics
    assert set(metrics["stage_seconds"]) >= {"data", "features", "translator", "explain", "words", "suite:only_bg"}
    suite = json.loads((path / "suites/only_bg/metrics.json").read_text())
    assert {"acc.original", "acc.only_bg_t", "keep_rate", "bg_gap", "recall_at_k.shortcut", "recall_at_k.balanced"} <= set(suite["metrics"])
    assert suite["stand_in"] and suite["figures"]
    records = [json.loads(line) for line in (path / "records.jsonl").read_text().splitlines()]
    assert len(records) == 3 and all(r["num_sentences"] == 3 for r in records)
    lengths = []
    for line in (path / "samples.jsonl").read_text().splitlines():
        for sentence in json.loads(line)["sentences"]:
            lengths.append(len([w for w in sentence.split() if any(c.isalnum() for c in w)]))
    assert max(lengths) <= 6, lengths
    # Below min_words only when the token cap stopped a pathological run (1 epoch of training here).
    assert sum(n >= 3 for n in lengths) >= 0.6 * len(lengths), lengths
    assert all(entry["status"] == "ran" for name, entry in _stages(path).items() if "key" in entry)
    first = _outputs(path)

    # The same config again: every keyed stage is reused and the outputs are the same.
    assert run(config, tmp_path, progress=False) == path
    assert all(entry["status"] == "reused" for entry in _stages(path).values() if "key" in entry)
    assert _outputs(path) == first
    assert json.loads((path / "metrics.json").read_text())["feature_cache"]["misses"] == 0

    # A sampling setting reruns what samples and what is downstream of it, not the translator.
    more = run(load_config("quickstart", TINY + ["sampling.num_sentences=4"]), tmp_path, progress=False)
    status = {name: entry["status"] for name, entry in _stages(more).items() if "key" in entry}
    assert more != path
    assert status == {"translator": "reused", "explain": "ran", "words": "ran", "suite:only_bg": "ran"}
    # Only the word counting setting: only the words stage reruns.
    top3 = run(load_config("quickstart", TINY + ["explain.top_k=3"]), tmp_path, progress=False)
    status = {name: entry["status"] for name, entry in _stages(top3).items() if "key" in entry}
    assert status == {"translator": "reused", "explain": "reused", "words": "ran", "suite:only_bg": "reused"}
    # A smoke run (--limit 1): one image per stage, the translator reused, marked as such, its own stages.
    smoke = run(load_config("quickstart", TINY + ["limit=1"]), tmp_path, progress=False)
    status = {name: entry["status"] for name, entry in _stages(smoke).items() if "key" in entry}
    assert status == {"translator": "reused", "explain": "ran", "words": "ran", "suite:only_bg": "ran"}
    smoke_metrics = json.loads((smoke / "metrics.json").read_text())
    assert smoke_metrics["smoke_run"] is True and smoke_metrics["limit"] == 1 and smoke_metrics["metrics"]["explain.num_images"] == 1
    assert len((smoke / "samples.jsonl").read_text().splitlines()) == 1
    only_bg_samples = (tmp_path / ".stages").glob(f"{_stages(smoke)['suite:only_bg']['dir'].split('/')[-1]}/samples.jsonl")
    assert all(len(p.read_text().splitlines()) <= 2 for p in only_bg_samples)  # <= 1 per variation
    # Every run keeps its log beside its outputs.
    assert "stage translator" in (path / "run.log").read_text() and "precision of train: fp32" in (smoke / "run.log").read_text()

    # A training setting reruns the translator and everything after it.
    lr = run(load_config("quickstart", TINY + ["train.lr=0.001"]), tmp_path, progress=False)
    assert all(entry["status"] == "ran" for entry in _stages(lr).values() if "key" in entry)

    # The trained translator explains a user's own photo through the CLI.
    from PIL import Image
    from skimage import data

    from harness.cli.main import main

    photo = tmp_path / "coffee.png"
    Image.fromarray(data.coffee()).save(photo)
    out = tmp_path / "explained"
    code = main(["explain", "--translator", str(path / "translator"), str(photo), "--out", str(out),
                 "--num-sentences", "2", "--min-words", "2", "--max-words", "5", "--quiet"])
    assert code == 0
    row = json.loads((out / "explanations.jsonl").read_text().splitlines()[0])
    assert row["classifier_top1"]["name"] == "espresso"
    assert len(row["sentences"]) == 2 and (out / "wordclouds").is_dir()
    assert main(["explain", "--translator", str(tmp_path / "missing.pt"), str(photo), "--quiet"]) == 2


def _start(overrides: list[str], out: Path) -> subprocess.Popen:
    command = [sys.executable, "-m", "harness.cli", "run", "--config", "quickstart", "--out", str(out), "--quiet"]
    for assignment in overrides:
        command += ["--set", assignment]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "OMP_NUM_THREADS": "2"})


def _kill_when(process: subprocess.Popen, ready, timeout: float = 300.0) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if ready():
            process.send_signal(signal.SIGKILL)
            process.wait()
            return
        assert process.poll() is None, "the run finished before it could be killed; make the stage longer"
        time.sleep(0.05)
    process.kill()
    raise AssertionError("the stage never reached the point to kill it")


def _losses(path: Path) -> list[dict]:
    """The per-epoch training history of a run without its wall-clock fields."""
    history = json.loads((path / "metrics.json").read_text())["training"]
    return [{k: v for k, v in epoch.items() if k not in ("seconds", "captions_per_second", "seconds_per_step")} for epoch in history]


def _killed_twice_then_resumed(overrides: list[str], config, killed_out: Path) -> Path:
    stage_root = killed_out / ".stages"
    # 1. Killed after the first epoch's checkpoint, while training continues.
    process = _start(overrides, killed_out)
    _kill_when(process, lambda: any(stage_root.glob("translator-*/checkpoints/last.pt")))
    assert not any(stage_root.glob("translator-*/done.json"))
    # 2. Killed again once the explain stage has appended at least one image.
    process = _start(overrides, killed_out)
    samples = lambda: [p for p in stage_root.glob("explain-*/samples.jsonl") if p.read_text().count("\n") >= 1]  # noqa: E731
    _kill_when(process, lambda: bool(samples()))
    assert not any(stage_root.glob("explain-*/done.json"))
    return run(config, killed_out, progress=False)


def test_sigkill_mid_training_and_mid_explain_then_resume_gives_identical_outputs(tmp_path):
    """A run killed twice and resumed gives the bytes of an uninterrupted run.

    One retry, and only on a training history that differs: on this project's 2-core Xeon about 1 in 8 fresh
    processes trained this tiny fp32 translator to other numbers (epoch 1 of the killed process itself, before
    any kill or resume, e.g. train loss 4.4034 against 4.3928; measured 3 of ~23 killed runs, 0 of 27 plain runs;
    cause not found). A resume defect is systematic and fails both attempts."""
    overrides = TINY + ["train.epochs=3", "sampling.num_sentences=6", "sampling.batch_size=2", "explain.num_images=6", "world.num_images=40"]
    config = load_config("quickstart", overrides)
    for attempt in range(2):
        resumed = _killed_twice_then_resumed(overrides, config, tmp_path / f"killed-{attempt}")
        clean = run(config, tmp_path / f"clean-{attempt}", progress=False)  # either one may be the odd process
        if _losses(resumed) == _losses(clean):
            break
        print(f"attempt {attempt + 1}: training history {_losses(resumed)} against the clean run's {_losses(clean)}")
    assert _losses(resumed) == _losses(clean)
    assert _outputs(resumed) == _outputs(clean)
    a = load_file(resumed / "translator" / "model.safetensors")
    b = load_file(clean / "translator" / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
