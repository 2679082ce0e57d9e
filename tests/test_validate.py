"""``texplain validate`` end to end on the real packaged models and a tiny world: a finished run directory
copied away from its stage store (someone else's run) gets its controls and verdicts without its translator
being retrained, and a translator that does not fit the features is refused with exit code 2."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harness.config import load_config
from harness.pipeline.run import run

from tiny_run import TINY_QUICKSTART

pytestmark = pytest.mark.slow


def _texplain(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], cwd=cwd, capture_output=True, text=True, timeout=1200, check=False)


@pytest.fixture(scope="module")
def shared_run(tmp_path_factory) -> Path:
    """A finished tiny run without trained controls, copied out of the folder that holds its stage store."""
    made = tmp_path_factory.mktemp("made")
    path = run(load_config("quickstart", TINY_QUICKSTART), made / "runs", progress=False)
    shared = tmp_path_factory.mktemp("shared") / path.name
    shutil.copytree(path, shared)
    return shared


def test_validate_adopts_the_translator_and_runs_the_trained_controls(shared_run, tmp_path):
    repo = Path(__file__).resolve().parents[1]
    done = _texplain("validate", str(shared_run), "--out", str(tmp_path / "validated"), "--quiet",
                     "--set", "controls.trained=[shuffled_captions,random_classifier]", cwd=repo)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "adopted" in done.stderr  # the translator and the explanations came from the run directory
    validated = Path(done.stdout.split("run directory: ")[1].split("\n")[0])
    assert (validated / "translator" / "model.safetensors").read_bytes() == (shared_run / "translator" / "model.safetensors").read_bytes()
    assert (validated / "samples.jsonl").read_text() == (shared_run / "samples.jsonl").read_text()
    stages = json.loads((validated / "stages.json").read_text())
    assert stages["translator"]["status"] == "reused" and stages["translator"]["seconds"] < 30  # adopted, not trained
    metrics = json.loads((validated / "metrics.json").read_text())
    table = metrics["explainers"]
    for control in ("shuffled_captions", "random_classifier", "class_prior"):
        assert table[control]["metrics"] is not None, table[control].get("reason")
    rows = metrics["verdicts"]["rows"]
    assert {row["metric"] for row in rows} >= {"explain.object_in_top_k_rate", "explain.background_in_top_k_rate"}
    # Three held-out images: never a pass, whatever the values.
    assert all(row["verdict"] == "inconclusive" and "images" in row["reason"] for row in rows)
    assert "INCONCLUSIVE" in done.stdout
    # A second validate finds every stage finished: nothing is trained again.
    again = _texplain("validate", str(shared_run), "--out", str(tmp_path / "validated"), "--quiet",
                      "--set", "controls.trained=[shuffled_captions,random_classifier]", cwd=repo)
    assert again.returncode == 0 and "epoch" not in again.stderr


def test_validate_refuses_a_translator_trained_with_another_config(shared_run, tmp_path):
    repo = Path(__file__).resolve().parents[1]
    other = tmp_path / shared_run.name
    shutil.copytree(shared_run, other)
    config = json.loads((other / "config.json").read_text())
    config["world"]["image_size"] = 96  # other feature maps than the translator was trained on
    (other / "config.json").write_text(json.dumps(config))
    done = _texplain("validate", str(other), "--out", str(tmp_path / "validated"), "--quiet", "--set", "controls.trained=[]", cwd=repo)
    assert done.returncode == 2, done.stderr[-3000:]
    assert "was trained with another config than this run's (differs at world.image_size)" in done.stderr


def test_validate_names_what_is_wrong_with_its_input(tmp_path):
    repo = Path(__file__).resolve().parents[1]
    done = _texplain("validate", str(tmp_path), cwd=repo)
    assert done.returncode == 2 and "not a run directory" in done.stderr
    (tmp_path / "config.json").write_text("{}")
    done = _texplain("validate", str(tmp_path), cwd=repo)
    assert done.returncode == 2 and "unfinished run" in done.stderr
