"""Data parallelism across processes with Hugging Face Accelerate, so that the paper's N = 1000 sentences per image can be spread over several GPUs or nodes
(docs/design.md#determinism-and-scale-out).

Launched with ``accelerate launch --multi_gpu --num_processes P -m harness.cli run ...`` (also multi-node
with --num_machines/--machine_rank/--main_process_ip; on machines without a GPU Accelerate runs the same
launch as MULTI_CPU over gloo) or ``torchrun``, every process runs the same program and ``Workers``
tells it which share of the images is its own:

- images are dealt round-robin, ``items[rank::size]``: a process's share does not depend on how fast
  the others are, and merging the shares back in the original order is deterministic;
- sampling needs no communication at all: an image's sentences depend only on its seed (texplain/sampling/rng.py),
  so any sharding gives the same sentences as one process;
- training averages gradients over processes each step (each process takes its slice of the same global
  batch); BatchNorm statistics are per process, as in plain DDP, so the weights match a one-process
  run up to that and to float summation order, not bit for bit.

A process that is not launched this way is a group of one, and every method is then a no-op.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator, Sequence, TypeVar

import torch

T = TypeVar("T")


class Workers:
    def __init__(self, cpu: bool | None = None):
        import os

        launched = int(os.environ.get("WORLD_SIZE", "1")) > 1
        self._state = None
        if launched:
            from accelerate import PartialState

            # cpu=None lets Accelerate pick CUDA when there is one; gloo on CPU-only machines.
            self._state = PartialState(cpu=bool(cpu)) if cpu is not None else PartialState()

    @property
    def size(self) -> int:
        return self._state.num_processes if self._state else 1

    @property
    def rank(self) -> int:
        return self._state.process_index if self._state else 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def shard(self, items: Sequence[T]) -> list[T]:
        """This process's share, round-robin: items[rank::size]."""
        return list(items[self.rank :: self.size])

    def barrier(self) -> None:
        if self._state:
            self._state.wait_for_everyone()

    @contextmanager
    def main_first(self) -> Iterator[None]:
        """The main process does the block first (e.g. renders a world into a shared folder), the others
        then find it done."""
        if not self.is_main:
            self.barrier()
        yield
        if self.is_main:
            self.barrier()

    def gather(self, value: Any) -> list[Any]:
        """Every process's picklable `value`, in rank order, on every process."""
        if not self._state:
            return [value]
        import torch.distributed as dist

        gathered: list[Any] = [None] * self.size
        dist.all_gather_object(gathered, value)
        return gathered

    def average_gradients(self, parameters) -> None:
        """Mean of each gradient over processes (the data-parallel step)."""
        if not self._state:
            return
        import torch.distributed as dist

        for parameter in parameters:
            if parameter.grad is not None:
                dist.all_reduce(parameter.grad, op=dist.ReduceOp.SUM)
                parameter.grad /= self.size

    def mean(self, value: float) -> float:
        if not self._state:
            return value
        import torch.distributed as dist

        tensor = torch.tensor([value], dtype=torch.float64)
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        return float(tensor) / self.size


SINGLE = None


def single_process() -> Workers:
    """The group of one (no Accelerate state is created)."""
    global SINGLE
    if SINGLE is None:
        SINGLE = Workers.__new__(Workers)
        SINGLE._state = None
    return SINGLE
