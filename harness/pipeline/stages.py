"""Stages of a run, each cached by a key made of everything that determines its outputs
(docs/design.md#stages-and-caches: "caches are keyed by everything that changes their content"; DomainBed's skip-what-is-done).

A stage's key hashes its name, its code version (raised whenever a change can move its outputs), the
config subset it reads and the keys of the stages it reads from. Its outputs live in a content-addressed
folder ``<store>/<name>-<key>/`` that holds ``inputs.json`` (what the key was made of, so the folder
describes itself) and, once finished, ``done.json``. Consequences:

- rerunning a config skips every finished stage;
- changing a setting changes the keys of exactly the stages that read it and of those downstream of
  them, so exactly those rerun, even when the new config gets a new run directory;
- a stage killed half-way leaves its partial state (training checkpoints, appended samples) in its own
  folder, which only the same key can ever reach, so a resumed stage never trusts work made under
  other settings.

The run directory (harness/pipeline/run_dir.py) gets copies of the final outputs and ``stages.json``, which
lists every stage's key, folder, whether it ran or was reused, and its seconds.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from contracts.files import write_json
from texplain.hashing import hash_json

log = logging.getLogger(__name__)


@dataclass
class StageDir:
    name: str
    version: int
    inputs: dict
    key: str
    path: Path

    @property
    def done(self) -> bool:
        return (self.path / "done.json").exists()

    def outputs(self) -> dict:
        """What ``mark_done`` recorded (small summaries such as metrics or history)."""
        return json.loads((self.path / "done.json").read_text())["outputs"]

    def mark_done(self, outputs: dict | None = None) -> None:
        write_json(self.path / "done.json", {"stage": self.name, "key": self.key, "outputs": outputs or {}})

    def __truediv__(self, name: str) -> Path:
        return self.path / name


@dataclass
class StageLog:
    """What happened to each stage in this invocation; written to the run directory as stages.json."""

    entries: dict[str, dict] = field(default_factory=dict)

    def seconds(self) -> dict[str, float]:
        return {name: entry["seconds"] for name, entry in self.entries.items()}


class StageStore:
    def __init__(self, root: Path):
        self.root = Path(root)

    def stage(self, name: str, version: int, inputs: dict[str, Any]) -> StageDir:
        """The folder of stage `name` for these inputs (upstream stage keys belong in `inputs`)."""
        described = {"stage": name, "version": version, "inputs": inputs}
        key = hash_json(described)[:16]
        path = self.root / f"{name}-{key}"
        path.mkdir(parents=True, exist_ok=True)
        inputs_file = path / "inputs.json"
        if not inputs_file.exists():
            write_json(inputs_file, described)
        return StageDir(name, version, inputs, key, path)


@contextmanager
def timed_stage(log_: StageLog, stage: StageDir | None, name: str | None = None) -> Iterator[None]:
    """Time a stage and record whether it ran or reused a finished folder."""
    name = name or stage.name
    reused = bool(stage and stage.done)
    started = time.perf_counter()
    log.info("stage %s %s", name, "(finished earlier: reusing)" if reused else "...")
    yield
    seconds = round(time.perf_counter() - started, 2)
    entry = {"status": "reused" if reused else "ran", "seconds": seconds}
    if stage is not None:
        entry.update(key=stage.key, dir=str(stage.path), version=stage.version)
    log_.entries[name] = entry
    log.info("stage %s done in %.1f s", name, seconds)


def publish(source: Path, destination: Path) -> None:
    """Copy a stage output into the run directory (a copy, not a link: editing the run directory must
    never change the stage store that later runs reuse)."""
    source, destination = Path(source), Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    if source.is_dir():
        if destination.exists():
            shutil.rmtree(destination)
        shutil.copytree(source, destination)
        return
    shutil.copy2(source, destination)
