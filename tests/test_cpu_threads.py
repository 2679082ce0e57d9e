"""A process's fair share of the cores (texplain/cpu_threads.py): fewer torch threads while other
processes keep the cores busy, back up when they stop, never below one or above the starting count."""

from __future__ import annotations

import pytest
import torch

from texplain import cpu_threads
from texplain.cpu_threads import FairShare


@pytest.fixture
def threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_share_is_the_cores_others_leave_free():
    share = FairShare(cores=4, enabled=True, ceiling=4)
    assert [share.share(others) for others in (0.0, 0.4, 1.0, 2.0, 3.0, 3.9, 8.0)] == [4, 4, 3, 2, 1, 1, 1]
    assert FairShare(cores=4, enabled=True, ceiling=2).share(0.0) == 2  # OMP_NUM_THREADS=2 caps it


def test_adjust_follows_the_other_processes(monkeypatch, threads):
    # Two cores; the machine's busy ticks grow by what this process and the others used since the last look.
    clock = {"t": 0.0, "busy": 0, "total": 0, "own": 0}
    monkeypatch.setattr(cpu_threads.time, "monotonic", lambda: clock["t"])
    monkeypatch.setattr(cpu_threads, "_machine_busy_ticks", lambda: (clock["busy"], clock["total"]))
    monkeypatch.setattr(cpu_threads, "_own_ticks", lambda: clock["own"])

    def elapse(seconds: float, own_cores: float, other_cores: float) -> None:
        ticks = 100 * seconds  # per core
        clock["t"] += seconds
        clock["total"] += int(2 * ticks)
        clock["own"] += int(own_cores * ticks)
        clock["busy"] += int((own_cores + other_cores) * ticks)

    torch.set_num_threads(2)
    share = FairShare(interval_s=2.0, cores=2, enabled=True)
    assert share.adjust() == 2  # the first look only takes a reading
    elapse(2.0, own_cores=1.0, other_cores=1.0)  # another process took half the machine
    assert share.adjust() == 1 and torch.get_num_threads() == 1
    elapse(0.5, own_cores=1.0, other_cores=1.0)
    assert share.adjust() == 1  # within the interval: no new reading
    elapse(2.0, own_cores=1.0, other_cores=0.05)  # the other process ended
    assert share.adjust() == 2 and torch.get_num_threads() == 2


def test_off_by_environment(monkeypatch, threads):
    monkeypatch.setenv("TEXPLAIN_FAIR_SHARE", "0")
    torch.set_num_threads(2)
    assert FairShare(cores=2).enabled is False
    assert FairShare(cores=2).adjust() == 2
