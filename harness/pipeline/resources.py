"""What a run cost: peak memory and seconds per training step, for metrics.json ("resources") and the log.

The peak resident set size is the process's high-water mark (``getrusage``: it covers every stage, and in a
process that did other work before, that work too); the CUDA peak is torch's peak of allocated memory on the
run's device (None without one). Seconds per step are the translator's optimizer steps (forward through the
frozen decoder, backward, clipping, the optimizer; no validation), averaged over the epochs that trained,
as texplain/training.py timed them (a reused translator stage reports the steps of the run that trained it).
"""

from __future__ import annotations

import resource
import sys

import torch


def peak_rss_mb() -> float:
    """The process's peak resident set size in MiB (ru_maxrss is KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (2**20 if sys.platform == "darwin" else 2**10), 1)


def cuda_peak_mb(device: torch.device) -> float | None:
    if device.type != "cuda" or not torch.cuda.is_available():
        return None
    return round(torch.cuda.max_memory_allocated(device) / 2**20, 1)


def seconds_per_train_step(history: list[dict]) -> float | None:
    """Mean seconds per optimizer step over the history's epochs (None for a history without step timings)."""
    timed = [epoch for epoch in history if epoch.get("train_steps")]
    steps = sum(epoch["train_steps"] for epoch in timed)
    if not steps:
        return None
    return round(sum(epoch["seconds_per_step"] * epoch["train_steps"] for epoch in timed) / steps, 3)


def resource_record(device: torch.device, history: list[dict]) -> dict:
    return {
        "peak_rss_mb": peak_rss_mb(),
        "cuda_peak_mb": cuda_peak_mb(device),
        "seconds_per_train_step": seconds_per_train_step(history),
        "train_steps": sum(epoch.get("train_steps", 0) for epoch in history),
    }


def describe(record: dict) -> str:
    """One line for the log: 'peak RSS 3.1 GiB, CUDA peak -, 12.3 s per training step (1 step)'."""
    cuda = "-" if record["cuda_peak_mb"] is None else f"{record['cuda_peak_mb'] / 1024:.2f} GiB"
    step = "-" if record["seconds_per_train_step"] is None else f"{record['seconds_per_train_step']:.2f} s"
    steps = record["train_steps"]
    return f"peak RSS {record['peak_rss_mb'] / 1024:.2f} GiB, CUDA peak {cuda}, {step} per training step ({steps} step{'' if steps == 1 else 's'})"
