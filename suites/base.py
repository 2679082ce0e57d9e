"""The suite contract (DESIGN.md section 7, after lm-eval's Task and DomainBed's Algorithm).

A suite is a class registered in ``SUITES`` with

- ``name``: its registry name, also its folder in a run directory;
- ``version``: raised whenever a change can move its numbers (it is part of the stage's cache key);
- ``higher_is_better``: for each metric, whether larger is better (``texplain compare`` reads it);
- ``definitions``: one sentence per metric, copied into its metrics.json;
- ``paper``: the paper's figure for a metric where one exists (shown beside ours in the report);
- ``run(context)``: yields one self-describing record (a dict) per image;
- ``aggregate(records)``: the suite's metrics over those records.

A finished suite writes, inside the run directory::

    suites/<name>/records.jsonl   one line per image; numeric per-image values under "per_image_metrics"
    suites/<name>/metrics.json    {"suite", "version", "metrics", "higher_is_better", "definitions",
                                   "paper", "stand_in", "figures", "seconds"}
    suites/<name>/*.png           figures (word clouds, plots), listed in "figures" relative to the run dir

``stand_in`` is a sentence saying which parts are stand-ins (synthetic data, locally trained models),
or null when everything is the real thing; the report shows it as a visible label.
"""

from __future__ import annotations

import dataclasses
import time
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, Iterable, Iterator

from harness.pipeline.run_dir import write_json, write_jsonl
from texplain.registry import Registry

SUITES: Registry[type["Suite"]] = Registry("suite")


class Suite(ABC):
    name: str = ""
    version: int = 1
    higher_is_better: dict[str, bool] = {}
    definitions: dict[str, str] = {}
    paper: dict[str, Any] = {}

    def __init__(self, config: Any):
        self.config = config  # the suite's frozen config dataclass (harness/config.py)

    def config_json(self) -> dict:
        """The suite's settings, for its stage key."""
        return dataclasses.asdict(self.config)

    @abstractmethod
    def run(self, context: Any, work_dir: Path) -> Iterator[dict]:
        """One record per image. `work_dir` is the suite's stage folder: partial state kept there
        (e.g. appended samples) survives a kill and is only ever read back under the same key."""

    @abstractmethod
    def aggregate(self, records: list[dict]) -> dict[str, float]:
        """The suite's metrics over the records of `run`."""

    def summarize(self, records: list[dict], context: Any, out_dir: Path) -> tuple[dict, list[str]]:
        """Optional: details for metrics.json (e.g. word lists) and figures written into out_dir."""
        return {}, []

    def stand_in(self, context: Any) -> str | None:
        """Which parts are stand-ins (synthetic data, locally trained models); None if none are."""
        return None

    def execute(self, context: Any, out_dir: Path) -> dict:
        """Run, aggregate and write the suite's files into out_dir; returns its metrics.json content."""
        started = time.perf_counter()
        records = list(self.run(context, out_dir))
        write_jsonl(out_dir / "records.jsonl", records)
        metrics = self.aggregate(records)
        details, figures = self.summarize(records, context, out_dir)
        summary = {
            "suite": self.name,
            "version": self.version,
            "metrics": metrics,
            "higher_is_better": {k: v for k, v in self.higher_is_better.items() if k in metrics},
            "definitions": _definitions_for(metrics, self.definitions),
            "paper": self.paper,
            "stand_in": self.stand_in(context),
            "details": details,
            "figures": [f"suites/{self.name}/{name}" for name in figures],
            "seconds": round(time.perf_counter() - started, 2),
        }
        write_json(out_dir / "metrics.json", summary)
        return summary


def _definitions_for(metrics: dict, definitions: dict[str, str]) -> dict[str, str]:
    """The definition of each metric; a template such as 'acc.<variation>' defines every 'acc.X'."""
    import fnmatch
    import re

    result = {}
    for name in metrics:
        for pattern, text in definitions.items():
            if fnmatch.fnmatchcase(name, re.sub(r"<[^>]+>", "*", pattern)):
                result[name] = text
                break
    return result
