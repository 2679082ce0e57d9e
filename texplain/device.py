"""Device and precision selection.

CPU is the default here (2 cores); the GPU path picks CUDA when present and uses bf16 autocast
where the GPU supports it (fp16 otherwise), because the frozen LM's activations dominate memory.
On CPU, bf16 autocast speeds up training of the translator by ~1.5x (DESIGN.md section 4).
"""

from __future__ import annotations

import contextlib

import torch

from texplain.errors import TExplainError

PRECISIONS = ("fp32", "bf16", "fp16", "auto")


def resolve_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise TExplainError(f"device '{name}' requested but CUDA is not available; use device=cpu or auto")
    return torch.device(name)


def resolve_precision(precision: str, device: torch.device) -> str:
    if precision not in PRECISIONS:
        raise TExplainError(f"unknown precision '{precision}'; choose one of {', '.join(PRECISIONS)}")
    if precision != "auto":
        if precision == "fp16" and device.type == "cpu":
            raise TExplainError("fp16 autocast is not supported on CPU; use bf16 or fp32")
        return precision
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return "fp32"


def autocast(device: torch.device, precision: str):
    """Autocast context for the given resolved precision ('fp32' means none)."""
    if precision == "fp32":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)
