"""Device selection and the autocast context for a resolved precision.

CPU is the default here (2 cores); the GPU path picks CUDA when present. Which precision a device
computes in is decided in texplain/precision.py (from the hardware, with its reason); this file only
turns a resolved precision into an autocast context.
"""

from __future__ import annotations

import contextlib

import torch

from texplain.errors import TExplainError


def resolve_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise TExplainError(f"device '{name}' requested but CUDA is not available; use device=cpu or auto")
    return torch.device(name)


def autocast(device: torch.device, precision: str):
    """Autocast context for the given resolved precision ('fp32' means none)."""
    if precision == "auto":
        raise TExplainError("autocast needs a resolved precision (texplain.precision.choose_precision), not 'auto'")
    if precision == "fp32":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)
