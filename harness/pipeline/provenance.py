"""What every run records about where it came from: seed, git commit, library versions, device, date
(DESIGN.md section 7: a run is a self-describing directory)."""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import platform
import subprocess
from pathlib import Path

import torch

from texplain.precision import cpu_flags, cpu_model

LIBRARIES = ("torch", "torchvision", "timm", "transformers", "tokenizers", "safetensors", "numpy", "lemminflect", "wordcloud", "scikit-learn")


def git_commit(root: Path | None = None) -> str:
    root = root or Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    if commit.returncode != 0:
        return "unknown"
    return commit.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")


def library_versions() -> dict[str, str]:
    versions = {}
    for name in LIBRARIES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def provenance(device: torch.device) -> dict:
    return {
        "git_commit": git_commit(),
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_model(),
        "cpu_model": cpu_model(),
        "cpu_flags": list(cpu_flags()),  # the flags that decide bf16 speed (texplain/precision.py)
        "torch_threads": torch.get_num_threads(),
        "libraries": library_versions(),
    }
