"""Precision from the hardware: which dtype a run computes in, chosen per device, with its reason.

The frozen LM's matmuls dominate both training the translator and sampling (docs/design.md#precision-and-cpu-kinds), and
their speed in bf16 differs by two orders of magnitude between CPUs: with AMX / AVX512-BF16 a bf16
matmul ran ~2.3x faster than fp32 on 2 cores; on an AVX2-only AMD EPYC it ran at 0.9 GFLOP/s against
102 in fp32, which turned a 10-minute default run into a 7.5-hour one. So a profile says
``auto`` and this module decides:

- CUDA: bf16 where the GPU supports it, else fp16 (autocast; the frozen LM's activations dominate memory);
- CPU: bf16 only where the CPU runs it natively, else fp32. "Natively" is decided by oneDNN's capability
  query *and* a short timed probe (a 256x1024 by 1024x1024 matmul in both dtypes, best of 3): bf16 is
  chosen only when it is measurably faster than fp32, because a capability flag says nothing of a
  hypervisor that hides AMX or of oneDNN being capped (``ONEDNN_MAX_CPU_ISA``). The probe takes well
  under a second on a native CPU and about 2 s on the slowest; its answer is cached per machine
  (CPU model, flags, torch version, threads, ISA caps) under ``$TEXPLAIN_CACHE/machine/``, so every
  process of a run and every later run sees the same answer.
- an explicit ``bf16`` on a CPU without native bf16 still runs, with a warning that names the measured
  slowdown and the fix.

The resolved precision (never ``auto``) is what enters stage keys and checkpoints' fingerprints, so a
run made in bf16 is never reused for fp32 or the other way round.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import platform
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from texplain.errors import TExplainError
from texplain.hashing import hash_json

log = logging.getLogger(__name__)

PRECISIONS = ("fp32", "bf16", "fp16", "auto")
PROBE_VERSION = 1
# bf16 must beat fp32 by this factor to be chosen: at parity fp32 is as fast and rounds less.
MIN_BF16_SPEEDUP = 1.1
# CPU flags that decide bf16 speed (x86 names as /proc/cpuinfo spells them; ARM's "bf16" too).
BF16_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile", "bf16", "sve")
# Environment variables that cap the instruction sets oneDNN and MKL use: they change the answer.
ISA_CAPS = ("ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA", "MKL_ENABLE_INSTRUCTIONS", "MKL_DEBUG_CPU_TYPE")


@dataclass(frozen=True)
class CpuBf16Probe:
    """What was measured of this CPU's bf16 matmuls; ``native`` decides ``auto`` on CPU."""

    cpu_model: str
    flags: tuple[str, ...]  # the BF16_FLAGS this CPU has
    onednn_bf16: bool  # torch.ops.mkldnn._is_mkldnn_bf16_supported()
    fp32_gflops: float
    bf16_gflops: float
    threads: int
    native: bool

    @property
    def speedup(self) -> float:
        """bf16 throughput over fp32 throughput (0.009 means bf16 is ~110x slower)."""
        return self.bf16_gflops / self.fp32_gflops if self.fp32_gflops > 0 else 0.0

    def to_json(self) -> dict:
        return {**asdict(self), "flags": list(self.flags), "bf16_speedup": round(self.speedup, 3)}

    def describe(self) -> str:
        return (f"{self.cpu_model} ({', '.join(self.flags) or 'no bf16-related flags'}; oneDNN bf16 "
                f"{'yes' if self.onednn_bf16 else 'no'}): bf16 matmul {self.bf16_gflops:.1f} GFLOP/s against "
                f"{self.fp32_gflops:.1f} in fp32 ({self.speedup:.3g}x)")


@dataclass(frozen=True)
class PrecisionChoice:
    """A requested precision resolved for one device, and why."""

    requested: str
    resolved: str  # fp32 | bf16 | fp16, never auto
    device: str
    reason: str

    def to_json(self) -> dict:
        return asdict(self)


def cpu_model() -> str:
    """The CPU's model name as lscpu shows it (from /proc/cpuinfo on Linux)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith(("model name", "hardware")):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def cpu_flags() -> tuple[str, ...]:
    """The BF16_FLAGS this CPU reports (x86 'flags' or ARM 'Features' in /proc/cpuinfo)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith(("flags", "features")):
                present = set(line.split(":", 1)[1].split())
                return tuple(flag for flag in BF16_FLAGS if flag in present)
    except OSError:
        pass
    return ()


def _onednn_bf16_supported() -> bool:
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def _best_gflops(dtype: torch.dtype, repeats: int, slow_after_seconds: float | None = None) -> float:
    """Best-of-`repeats` GFLOP/s of a (256, 1024) @ (1024, 1024) matmul; stops early once one call is slow."""
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(256, 1024, generator=generator).to(dtype)
    b = torch.randn(1024, 1024, generator=generator).to(dtype)
    flops = 2 * 256 * 1024 * 1024
    torch.matmul(a, b)  # warm-up: oneDNN builds its kernel on the first call
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        torch.matmul(a, b)
        best = min(best, time.perf_counter() - started)
        if slow_after_seconds is not None and best > slow_after_seconds:
            break  # clearly slow: more repeats only cost time
    return flops / best / 1e9


def measure_cpu_bf16() -> CpuBf16Probe:
    """Time the probe now (no cache)."""
    fp32 = _best_gflops(torch.float32, repeats=3)
    onednn = _onednn_bf16_supported()
    fp32_seconds = 2 * 256 * 1024 * 1024 / fp32 / 1e9
    # A bf16 call 4x slower than the fp32 one already rules bf16 out; stop there on slow CPUs.
    bf16 = _best_gflops(torch.bfloat16, repeats=3, slow_after_seconds=4 * fp32_seconds)
    native = onednn and bf16 >= MIN_BF16_SPEEDUP * fp32
    return CpuBf16Probe(cpu_model(), cpu_flags(), onednn, round(fp32, 1), round(bf16, 1), torch.get_num_threads(), native)


def _probe_cache_path(cache_dir: Path) -> Path:
    key = hash_json({
        "version": PROBE_VERSION, "cpu": cpu_model(), "flags": list(cpu_flags()), "torch": torch.__version__,
        "threads": torch.get_num_threads(), "caps": {name: os.environ.get(name) for name in ISA_CAPS},
    })[:16]
    return Path(cache_dir) / "machine" / f"cpu-bf16-{key}.json"


def _default_cache_dir() -> Path:
    return Path(os.environ.get("TEXPLAIN_CACHE", Path.home() / ".cache" / "texplain"))


@functools.lru_cache(maxsize=4)
def cpu_bf16_probe(cache_dir: Path | None = None) -> CpuBf16Probe:
    """The probe of this machine, from its cache file when one exists (a corrupt one is re-measured)."""
    path = _probe_cache_path(cache_dir or _default_cache_dir())
    if path.is_file():
        try:
            data = json.loads(path.read_text())
            data.pop("bf16_speedup", None)
            return CpuBf16Probe(**{**data, "flags": tuple(data["flags"])})
        except (ValueError, TypeError, KeyError) as error:
            log.warning("%s is unreadable (%s); measuring the CPU again", path, error)
    probe = measure_cpu_bf16()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temp = path.with_suffix(f".{os.getpid()}.tmp")
        temp.write_text(json.dumps(probe.to_json(), indent=1))
        os.replace(temp, path)  # atomic: concurrent processes see the whole file or none
    except OSError as error:
        log.warning("cannot cache the CPU probe in %s (%s); it will be measured again next time", path, error)
    return probe


@functools.lru_cache(maxsize=None)
def _warn_once(message: str) -> None:
    log.warning(message)


def choose_precision(precision: str, device: torch.device | str, setting: str = "precision") -> PrecisionChoice:
    """Resolve `precision` (fp32 | bf16 | fp16 | auto) for `device`; `setting` names the config key in messages."""
    device = torch.device(device)
    if precision not in PRECISIONS:
        raise TExplainError(f"unknown {setting} '{precision}'; choose one of {', '.join(PRECISIONS)}")
    if device.type == "cuda":
        bf16_ok = torch.cuda.is_bf16_supported()
        if precision == "auto":
            resolved = "bf16" if bf16_ok else "fp16"
            return PrecisionChoice(precision, resolved, str(device), f"auto on CUDA: {'bf16 is supported' if bf16_ok else 'no bf16 on this GPU, fp16 autocast'}")
        if precision == "bf16" and not bf16_ok:
            _warn_once(f"{setting}=bf16 on a GPU without bf16 support ({torch.cuda.get_device_name(device)}): it is emulated and slow; use --set {setting}=auto (fp16)")
        return PrecisionChoice(precision, precision, str(device), "set explicitly")
    if precision == "fp16":
        raise TExplainError(f"{setting}=fp16: fp16 autocast is not supported on {device.type}; use auto, bf16 or fp32")
    if device.type != "cpu":  # mps and others: autocast support varies, fp32 is safe
        if precision == "auto":
            return PrecisionChoice(precision, "fp32", str(device), f"auto on {device.type}: fp32")
        return PrecisionChoice(precision, precision, str(device), "set explicitly")
    if precision == "fp32":
        return PrecisionChoice(precision, "fp32", "cpu", "set explicitly")
    probe = cpu_bf16_probe()
    if precision == "auto":
        if probe.native:
            return PrecisionChoice(precision, "bf16", "cpu", f"auto: native bf16 on {probe.describe()}")
        why = "oneDNN reports no native bf16" if not probe.onednn_bf16 else f"bf16 is not at least {MIN_BF16_SPEEDUP}x faster"
        return PrecisionChoice(precision, "fp32", "cpu", f"auto: fp32, {why} on {probe.describe()}")
    if not probe.native:
        _warn_once(
            f"{setting}=bf16 on a CPU without native bf16: {probe.describe()}, i.e. bf16 is "
            f"{1 / max(probe.speedup, 1e-6):.1f}x slower than fp32 here. It will run, slowly; the fix: --set {setting}=auto (fp32 here)"
        )
        return PrecisionChoice(precision, "bf16", "cpu", f"set explicitly, though not native here ({probe.speedup:.3g}x fp32)")
    return PrecisionChoice(precision, "bf16", "cpu", "set explicitly (native here)")


def resolve_precision(precision: str, device: torch.device | str) -> str:
    """The resolved precision name only (fp32 | bf16 | fp16)."""
    return choose_precision(precision, device).resolved
