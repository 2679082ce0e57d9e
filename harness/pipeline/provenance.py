"""What every run records about where it came from: the harness version, git commit, library versions,
device, date (docs/design.md#run-directories: a run is a self-describing directory).

The harness version is the installed distribution's (``importlib.metadata.version("texplain-harness")``),
so it is known also where the git commit is not: installed from a wheel, the code lies in site-packages,
outside any checkout, and ``git_commit`` is "unknown".
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import os
import platform
import subprocess
from pathlib import Path

from texplain.cpu_threads import thread_counts

DISTRIBUTION = "texplain-harness"
LIBRARIES = ("torch", "torchvision", "timm", "transformers", "tokenizers", "safetensors", "numpy", "scipy", "lemminflect", "wordcloud", "scikit-learn")


def harness_version() -> str:
    """The installed texplain-harness version, or "unknown" when the code runs without being installed."""
    try:
        return importlib.metadata.version(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def git_commit(root: Path | None = None) -> str:
    """The commit of the checkout this file belongs to ("-dirty" with uncommitted changes), or "unknown".

    Only when this file is tracked in that checkout: a wheel installed into a virtual environment that
    lies inside some other repository (such as .venv/ in a clone) must not report that repository's commit.
    """
    here = Path(__file__).resolve()
    root = root or here.parent
    try:
        tracked = subprocess.run(["git", "ls-files", "--error-unmatch", here.name], cwd=here.parent, capture_output=True, text=True, timeout=10)
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    if tracked.returncode != 0 or commit.returncode != 0:
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


def provenance(device) -> dict:
    # torch is imported here, not at the top: readers (compare, report) ask for harness_version without loading it.
    import torch

    from texplain.precision import cpu_flags, cpu_model

    return {
        "harness_version": harness_version(),
        "git_commit": git_commit(),
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_model(),
        "cpu_model": cpu_model(),
        "cpu_flags": list(cpu_flags()),  # the flags that decide bf16 speed (texplain/precision.py)
        "torch_threads": torch.get_num_threads(),
        # Threads follow the cores other processes leave free (texplain/cpu_threads.py); the variables that bound them.
        "thread_settings": {name: os.environ.get(name) for name in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "TEXPLAIN_FAIR_SHARE")},
        # "varied": another process shared the cores and the thread count followed (bit-identical reruns need one count).
        "threads": thread_counts(),
        "libraries": library_versions(),
    }
