"""A process's fair share of the CPU cores: fewer torch threads while other processes keep cores busy.

torch runs its CPU kernels on an OpenMP pool with one thread per core (libgomp in the PyPI wheels), and a
libgomp thread that finishes its part of a parallel region spins for a while before it sleeps, which saves
a wake-up when the process is alone. Two such processes on the same cores (a user explains images while a
run trains a translator) ruin each other: a thread spins, or waits at the region's barrier, on a core whose
time the other process's threads needed, and both slow far past the 2x a fair share would cost (measured
in benchmarks/bench_contention.py: 4-10x on 2 cores). Sleeping at once instead (OMP_WAIT_POLICY=PASSIVE)
removes that, but costs 30-50% alone on the many small parallel regions of sentence sampling, so the
project does not set it.

Instead, the long loops (translator training, sentence sampling, feature extraction) call
`keep_fair_share()`. At most once per `interval_s` it reads how much CPU time the machine spent outside
this process since the last look (/proc/stat against /proc/self/stat) and sets the thread count to the
cores the others leave free, never fewer than one and never more than the process started with. Two
texplain processes each drop to half the cores within a few seconds and go back up when the other ends;
alone, nothing changes.

Results: torch's CPU kernels split work by thread count, so a computation under 1 thread can differ in its
last bits from the same one under 2 (measured: the first training loss 4.4083 against 4.4038 in bf16), and
sampled sentences follow. A run alone never changes its thread count and reproduces bit for bit; a run
that shared the machine may not, and says so: ``thread_counts()`` (recorded in metrics.json's
provenance) lists every count the process used. Regression runs that must match bit for bit set
``TEXPLAIN_FAIR_SHARE=0`` (or run alone).

Overrides: ``TEXPLAIN_FAIR_SHARE=0`` turns it off; OMP_NUM_THREADS or torch.set_num_threads before the
first call caps the count it goes back up to. Off where /proc is missing (not Linux).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

INTERVAL_S = 2.0


def _machine_busy_ticks() -> tuple[int, int] | None:
    """(busy, total) clock ticks of all cores since boot, from /proc/stat's first line; None without /proc."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    except OSError:
        return None
    ticks = [int(value) for value in fields[:8]]  # user nice system idle iowait irq softirq steal
    # Steal (the hypervisor running other machines) is not a process of this machine: left out of busy.
    busy = ticks[0] + ticks[1] + ticks[2] + ticks[5] + ticks[6]
    return busy, sum(ticks)


def _own_ticks() -> int | None:
    """Clock ticks this process (all its threads) spent on a core since it started, from /proc/self/stat."""
    try:
        text = Path("/proc/self/stat").read_text()
    except OSError:
        return None
    fields = text.rsplit(")", 1)[1].split()  # the command name may hold spaces; fields after it are fixed
    return int(fields[11]) + int(fields[12])  # utime, stime


@dataclass
class FairShare:
    """Sets torch's thread count to the cores other processes leave free, re-read every `interval_s`."""

    interval_s: float = INTERVAL_S
    cores: int = field(default_factory=lambda: len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))
    enabled: bool = field(default_factory=lambda: os.environ.get("TEXPLAIN_FAIR_SHARE", "1") != "0")
    ceiling: int | None = None  # the thread count the process started with (set at the first call)
    used: set[int] = field(default_factory=set)  # every thread count the process computed with since the first call
    _last: tuple[float, int, int, int] | None = None  # (time, machine busy ticks, machine total ticks, own ticks)

    def others_cores(self) -> float | None:
        """Cores' worth of CPU the rest of the machine used since the last call; None on the first call."""
        machine, own = _machine_busy_ticks(), _own_ticks()
        if machine is None or own is None:
            self.enabled = False
            return None
        now = time.monotonic()
        last, self._last = self._last, (now, machine[0], machine[1], own)
        if last is None:
            return None
        total = machine[1] - last[2]
        if total <= 0:
            return None
        # Ticks of all cores together: busy ticks of others over all ticks, times the cores, is cores busy.
        others = max(0, (machine[0] - last[1]) - (own - last[3]))
        return self.cores * others / total

    def share(self, others: float) -> int:
        """The thread count for this process when others keep `others` cores busy."""
        return max(1, min(self.ceiling or self.cores, round(self.cores - others)))

    def adjust(self) -> int:
        """Re-read the machine when `interval_s` has passed and set the thread count; returns it."""
        if not self.enabled:
            return torch.get_num_threads()
        if self.ceiling is None:
            self.ceiling = torch.get_num_threads()
            self.used.add(self.ceiling)
        if self._last is not None and time.monotonic() - self._last[0] < self.interval_s:
            return torch.get_num_threads()
        others = self.others_cores()
        if others is None:
            return torch.get_num_threads()
        wanted = self.share(others)
        if wanted != torch.get_num_threads():
            torch.set_num_threads(wanted)
        self.used.add(wanted)
        return wanted


_PROCESS_SHARE = FairShare()


def keep_fair_share() -> int:
    """Call from long CPU loops: keeps this process's torch threads to its share of the cores (cheap: one
    clock read, and two small /proc reads every INTERVAL_S)."""
    return _PROCESS_SHARE.adjust()


def thread_counts() -> dict:
    """What the fair share did in this process: on or off, and every thread count it computed with."""
    used = sorted(_PROCESS_SHARE.used) or [torch.get_num_threads()]
    return {"fair_share": _PROCESS_SHARE.enabled, "thread_counts_used": used, "varied": len(used) > 1}
