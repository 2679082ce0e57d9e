"""The suite contract (docs/design.md#suite-contract, after lm-eval's Task and DomainBed's Algorithm).

A suite is a class registered in ``SUITES`` with

- ``name``: its registry name, also its folder in a run directory;
- ``version``: raised whenever a change can move its numbers (it is part of the stage's cache key);
- ``higher_is_better``: for each metric, whether larger is better (``texplain compare`` reads it);
- ``definitions``: one sentence per metric, copied into its metrics.json;
- ``paper``: the paper's figure for a metric where one exists (shown beside ours in the report);
- ``run(context)``: yields one self-describing record (a dict) per image;
- ``aggregate(records)``: the suite's metrics over those records, a pure function of the records (and
  the config): a saved records.jsonl re-aggregates in a fresh process to the same metrics;
- ``config_class``: its frozen config dataclass, with an ``enabled`` field, defined in the suite's own
  module; the run config's ``suites.<name>`` section is read into it (harness/config.py's SuitesConfig);
- ``preflight(config)``: what a run with that config would miss (folders, files), each a sentence
  naming the key and the fix; ``texplain run`` lists them all before anything heavy starts;
- ``hub_models(config)``: the models it loads by Hugging Face hub id or folder, which preflight checks
  with the run's own (cached, or the hub answers, or the folder holds them);
- ``headline``: the metric names or patterns (``recall_at_k.*``, ``acc.<variation>``) that
  ``texplain run`` prints when it finishes;
- ``tiny_options``: config values for a run of seconds on a tiny world (tests/test_suite_contract.py
  runs every registered suite with them).

A suite is one module of the ``suites`` package and nothing else: suites/__init__.py imports every
module, the decorator ``@SUITES.register(name)`` registers the class, and config, preflight and the
command line read the registry (after contracts/plugins.py's ``load_plugins``).

A finished suite writes, inside the run directory::

    suites/<name>/records.jsonl   one line per image; numeric per-image values under "per_image_metrics"
    suites/<name>/metrics.json    {"format", "suite", "version", "metrics", "intervals", "higher_is_better",
                                   "definitions", "paper", "stand_in", "tables", "verdicts", "figures", "seconds"}
    suites/<name>/*.png           figures (word clouds, plots), listed in "figures" relative to the run dir

A suite may also return ``tables`` from ``tables(records, details)``: tables in the paper's layout
(e.g. Waterbirds' Table 2), each ``{"title", "header", "rows", "note"}`` with rows of strings or
numbers; metrics.json keeps them under "tables" and the report shows them above the metric list.

A suite that tests a claim may also return ``verdicts(records, details)``: rows as contracts/verdicts.py's
``Verdict.to_json()`` (pass, fail or inconclusive, with the paired intervals they rest on); metrics.json
keeps them under "verdicts" and the run's verdict table lists them after the main run's.

``stand_in`` is a sentence saying which parts are stand-ins (synthetic data, locally trained models),
or null when everything is the real thing; the report shows it as a visible label.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import re
import time
from abc import ABC, abstractmethod
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from contracts.files import write_json, write_jsonl
from contracts.formats import METRICS_FORMAT, RECORDS_FORMAT
from contracts.hub_models import HubModel
from contracts.intervals import intervals_of
from contracts.metrics import METRICS, suite_metrics
from texplain.registry import Registry


class StepSeconds:
    """Wall seconds per kind of sub-step of a suite's run, summed over repeats (seeds); a suite puts
    ``dict(timer.seconds)`` into its details as "seconds", so a run's budget can be read per step
    (a reused cached stage counts the time to load it)."""

    def __init__(self):
        self.seconds: dict[str, float] = {}

    @contextmanager
    def __call__(self, step: str):
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[step] = round(self.seconds.get(step, 0.0) + time.perf_counter() - started, 2)


class _SuiteRegistry(Registry[type["Suite"]]):
    """SUITES: registering a suite also registers its metrics as '<suite>.<metric>' in the metrics
    registry (contracts/metrics.py), where metrics.json, the report and `texplain compare`
    find their definitions and directions."""

    def register(self, name: str):
        add = super().register(name)

        def decorator(suite_class):
            add(suite_class)
            # Read when the metrics registry is first read: the tables may use names defined below the class.
            METRICS.add_namespace(f"{name}.", lambda: suite_metrics(name, _class_table(suite_class, "definitions"), _class_table(suite_class, "higher_is_better")))
            return suite_class

        return decorator

    def unregister(self, name: str):
        suite_class = super().unregister(name)
        METRICS.remove_namespace(f"{name}.")  # a suite registered for one test leaves no metrics behind
        return suite_class


def _class_table(suite_class, attribute: str) -> dict:
    """A table the suite class declares, also where a property builds it (only_bg builds
    higher_is_better over its variations); such a property must not read the config, which the
    class does not have at registration."""
    value = getattr(suite_class, attribute)
    if isinstance(value, property):
        value = value.fget(suite_class.__new__(suite_class))
    return dict(value)


SUITES = _SuiteRegistry("suite")


class Suite(ABC):
    name: str = ""
    version: int = 1
    higher_is_better: dict[str, bool] = {}
    definitions: dict[str, str] = {}
    paper: dict[str, Any] = {}
    config_class: type | None = None  # a frozen dataclass with `enabled: bool`; None fails config loading, naming the suite
    headline: tuple[str, ...] = ()
    tiny_options: dict[str, Any] = {}

    def __init__(self, config: Any):
        self.config = config  # an instance of config_class

    @classmethod
    def preflight(cls, config: Any) -> list[str]:
        """What a run with this config would miss; a suite that reads nothing from disk misses nothing."""
        return []

    @classmethod
    def hub_models(cls, config: Any) -> list[HubModel]:
        """The models a run with this config loads by hub id or folder (contracts/hub_models.py);
        preflight checks that each is cached, reachable or present. None by default."""
        return []

    @classmethod
    def headline_metrics(cls, metrics: dict[str, Any]) -> dict[str, Any]:
        """The metrics that `headline` names, in the order of `metrics`."""
        return {name: value for name, value in metrics.items() if any(matches_metric(name, p) for p in cls.headline)}

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

    def tables(self, records: list[dict], details: dict) -> list[dict]:
        """Optional: tables for the report, each {"title": str, "header": [str], "rows": [[str | number]],
        "note": str | None} (the paper's layout beside ours); a pure function of records and details."""
        return []

    def stand_in(self, context: Any) -> str | None:
        """Which parts are stand-ins (synthetic data, locally trained models); None if none are."""
        return None

    def verdicts(self, records: list[dict], details: dict) -> list[dict]:
        """Optional: verdict rows as contracts/verdicts.py Verdict.to_json(), for the run's verdict table
        (metrics.json keeps them under "verdicts"); a pure function of records and details (and the config)."""
        return []

    def execute(self, context: Any, out_dir: Path) -> dict:
        """Run, aggregate and write the suite's files into out_dir; returns its metrics.json content."""
        started = time.perf_counter()
        records = list(self.run(context, out_dir))
        write_jsonl(out_dir / "records.jsonl", [{**record, "format": RECORDS_FORMAT} for record in records])
        metrics = self.aggregate(records)
        details, figures = self.summarize(records, context, out_dir)
        summary = {
            "format": METRICS_FORMAT,
            "suite": self.name,
            "version": self.version,
            "metrics": metrics,
            # 95% bootstrap intervals over images where the records carry per-image values (contracts/intervals.py).
            "intervals": intervals_of(metrics, records),
            "higher_is_better": {k: v for k, v in self.higher_is_better.items() if k in metrics},
            "definitions": _definitions_for(metrics, self.definitions),
            "paper": self.paper,
            "stand_in": self.stand_in(context),
            "details": details,
            "tables": self.tables(records, details),
            "verdicts": self.verdicts(records, details),
            "figures": [f"suites/{self.name}/{name}" for name in figures],
            "seconds": round(time.perf_counter() - started, 2),
        }
        write_json(out_dir / "metrics.json", summary)
        return summary


def matches_metric(name: str, pattern: str) -> bool:
    """Whether a metric name fits a pattern: a plain name, a glob ('recall_at_k.*') or a template
    whose '<...>' part stands for any text ('acc.<variation>'), as in `definitions`."""
    return fnmatch.fnmatchcase(name, re.sub(r"<[^>]+>", "*", pattern))


def _definitions_for(metrics: dict, definitions: dict[str, str]) -> dict[str, str]:
    """The definition of each metric; a template such as 'acc.<variation>' defines every 'acc.X'."""
    result = {}
    for name in metrics:
        for pattern, text in definitions.items():
            if fnmatch.fnmatchcase(name, re.sub(r"<[^>]+>", "*", pattern)):
                result[name] = text
                break
    return result


def enabled_suites(config) -> list[Suite]:
    """Instances of the suites a run config enables, in registry order."""
    chosen = []
    for name in SUITES.names():
        suite_config = getattr(config.suites, name, None)
        if suite_config is not None and suite_config.enabled:
            chosen.append(SUITES.get(name)(suite_config))
    return chosen
