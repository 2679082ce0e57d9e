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

from typing import Any, Iterable, Iterator

from texplain.registry import Registry

SUITES: Registry[type["Suite"]] = Registry("suite")


class Suite:
    name: str = ""
    version: int = 1
    higher_is_better: dict[str, bool] = {}
    definitions: dict[str, str] = {}
    paper: dict[str, Any] = {}

    def run(self, context: Any) -> Iterator[dict]:
        raise NotImplementedError

    def aggregate(self, records: Iterable[dict]) -> dict[str, float]:
        raise NotImplementedError
