"""Regression-test one run against another (``texplain compare RUN_A RUN_B``), for a user's own CI.

A user trains a new translator (run B) and wants to know whether its explanations got worse than the
old one's (run A) on the same images, in their own CI. For that this file computes

- per-metric deltas B - A of every per-image metric both runs recorded (records.jsonl's
  ``per_image_metrics`` and each suite's records), with a paired bootstrap 95% interval over the images
  matched by image_id (harness/metrics/bootstrap.py); the delta of means equals the run-level metric's delta
  because every run-level metric of this kind is the mean of its per-image values;
- deltas without an interval of every other numeric metric both runs report (a suite's headline such
  as ``only_bg.recall_at_k.shortcut``, computed over classes, has no per-image values to resample);
  these are computed over each run's own images, all of them even with --common-only;
- per-class word-cloud overlap: the Jaccard index of the top-10 words (by document frequency) of each
  class's pooled explanations (class = the image's true object), A against B;
- verdict changes: each headline metric's verdict (pass / inconclusive / fail, metrics.json "verdicts",
  contracts/verdicts.py) in A and in B, for every metric in either run's verdict rows; a run without
  verdicts (older runs: no key, or {}) has none, and its metrics' verdicts are "absent";
- thresholds ``--fail-if 'metric<-0.02'``: crossed when the delta (not its interval) lies beyond the
  value, for any metric in the table, suite metrics included; and verdict gates ``--fail-if verdict-worse``
  (any verdict got worse from A to B: pass -> inconclusive or fail, inconclusive -> fail) or
  ``--fail-if verdict-worse:METRIC`` (that metric's verdict got worse); the command then exits 1.

Definitions and directions (which way is better) come from the metrics registry
(contracts/metrics.py), and from the runs' metrics.json for a metric it does not know. Runs of the
previous format are read under the current metric names (harness/reporting/run_reader.py), and a
--fail-if naming a metric by its old name is read under the new one, each with a note. The JSON written
by --out says its format ("format": "texplain-compare/2", contracts/formats.py).

Runs that explained different images cannot be compared image by image, so that is an error (or,
with ``common_only``, the comparison is restricted to the images both explained, and says how many).
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from contracts.files import atomic_write_text
from contracts.formats import COMPARE_FORMAT
from contracts.metrics import all_metrics, suite_metric_name
from harness.metrics.bootstrap import paired_bootstrap
from harness.reporting.run_reader import RENAMED_METRICS, FinishedRun, renamed_note
from texplain.errors import TExplainError, UnknownNameError
from texplain.registry import did_you_mean
from texplain.words import WordStats, merge_stats

MAIN_SOURCE = "records.jsonl"
_THRESHOLD = re.compile(r"^\s*(?P<metric>[A-Za-z0-9_.:/\-]+?)\s*(?P<op><=|>=|<|>)\s*(?P<value>[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?)\s*$")
_OPERATORS = {
    "<": lambda delta, value: delta < value,
    "<=": lambda delta, value: delta <= value,
    ">": lambda delta, value: delta > value,
    ">=": lambda delta, value: delta >= value,
}


_VERDICT_GATE = re.compile(r"^\s*verdict-worse\s*(:\s*(?P<metric>[A-Za-z0-9_.:/\-]+))?\s*$")
# Verdicts from best to worst (contracts/verdicts.py): a move down this list is a verdict that got worse.
VERDICT_RANK = {"pass": 2, "inconclusive": 1, "fail": 0}


@dataclass(frozen=True)
class VerdictGate:
    """``verdict-worse`` (any metric) or ``verdict-worse:METRIC``: fail when a verdict got worse from A to B."""

    expression: str
    metric: str | None  # None: every metric with a verdict in both runs


@dataclass(frozen=True)
class Threshold:
    """``metric<value``: fail when delta (B - A) of `metric` is below `value` (or above, for '>')."""

    expression: str
    metric: str
    op: str
    value: float

    def crossed(self, delta: float) -> bool:
        return _OPERATORS[self.op](delta, self.value)


def parse_threshold(text: str) -> Threshold | VerdictGate:
    """One --fail-if: ``METRIC<VALUE`` (also <=, >, >=) on the delta B - A, or ``verdict-worse[:METRIC]``."""
    gate = _VERDICT_GATE.match(text)
    if gate:
        return VerdictGate(text.strip(), gate["metric"])
    match = _THRESHOLD.match(text)
    if not match:
        raise TExplainError(
            f"--fail-if {text!r} is not METRIC<VALUE or METRIC>VALUE (also <=, >=), nor verdict-worse or verdict-worse:METRIC; "
            "e.g. --fail-if 'explain.object_in_top_k_rate<-0.02' fails when B is more than 0.02 below A, "
            "--fail-if verdict-worse when any headline metric's verdict is worse in B than in A. "
            "Quote it so the shell does not read < and > as redirections."
        )
    return Threshold(text.strip(), match["metric"], match["op"], float(match["value"]))


@dataclass
class MetricDelta:
    name: str  # "explain.object_in_top_k_rate", or "<suite>.<metric>" for a suite's metric
    source: str  # "records.jsonl" or "suites/<name>/records.jsonl"; "metrics.json" or "suites/<name>/metrics.json" without per-image values
    n: int | None  # images both runs have a value for; None for a run-level value (no per-image values)
    mean_a: float  # the run-level value where there are no per-image values
    mean_b: float
    delta: float  # mean_b - mean_a
    ci_low: float | None  # None: no per-image values, so no interval
    ci_high: float | None
    higher_is_better: bool | None
    verdict: str  # "regression", "improvement", "no change", "within noise", "changed"; "... (no interval)"
    definition: str = ""


def verdict(delta: float, low: float | None, high: float | None, higher_is_better: bool | None) -> str:
    """'regression' or 'improvement' when the interval excludes 0, else 'within noise' (or 'no change').

    Without an interval nothing can be said about noise: a change is 'higher (no interval)' or 'lower
    (no interval)', named by its direction only, never a regression on its own."""
    if low is None or high is None:
        if delta == 0.0:
            return "no change"
        return f"{'higher' if delta > 0 else 'lower'} (no interval)"
    if delta == 0.0 and low == 0.0 and high == 0.0:
        return "no change"
    if low <= 0.0 <= high:
        return "within noise"
    if higher_is_better is None:
        return "changed"  # direction unknown: neither better nor worse can be said
    went_up = low > 0.0
    return "improvement" if went_up == higher_is_better else "regression"


@dataclass
class ClassOverlap:
    name: str  # the true object class
    images: int
    jaccard: float | None  # None when neither run has any word for the class
    shared: list[str]
    only_a: list[str]
    only_b: list[str]


@dataclass
class VerdictChange:
    """A headline metric's verdict in A and in B (None: absent, the run has no verdict for it)."""

    metric: str
    a: str | None
    b: str | None
    reason_a: str | None = None
    reason_b: str | None = None

    @property
    def changed(self) -> bool:
        return self.a != self.b

    @property
    def worse(self) -> bool:
        """pass -> inconclusive or fail, inconclusive -> fail; never when a side is absent or unknown."""
        return self.a in VERDICT_RANK and self.b in VERDICT_RANK and VERDICT_RANK[self.b] < VERDICT_RANK[self.a]

    @property
    def better(self) -> bool:
        return self.a in VERDICT_RANK and self.b in VERDICT_RANK and VERDICT_RANK[self.b] > VERDICT_RANK[self.a]

    @property
    def text(self) -> str:
        """'explain.background_in_top_k_rate: pass -> fail (worse)', or 'metric: pass (unchanged)'."""
        if not self.changed:
            return f"{self.metric}: {self.a} (unchanged)"
        if self.worse or self.better:
            how = "worse" if self.worse else "better"
        elif None in (self.a, self.b):
            how = f"no verdict in run {'A' if self.a is None else 'B'}"
        else:
            how = "changed"
        return f"{self.metric}: {self.a or 'absent'} -> {self.b or 'absent'} ({how})"

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "changed": self.changed, "worse": self.worse, "text": self.text}


@dataclass
class ThresholdResult:
    expression: str
    metric: str | None  # None: a verdict gate over every metric (verdict-worse)
    delta: float | None  # None for a verdict gate
    crossed: bool
    kind: str = "delta"  # "delta" (METRIC<VALUE) or "verdict" (verdict-worse[:METRIC])
    detail: str = ""  # a verdict gate: the verdict changes that crossed it


@dataclass
class Comparison:
    run_a: str
    run_b: str
    images_a: int
    images_b: int
    matched_images: int
    resamples: int
    seed: int
    confidence: float
    metrics: list[MetricDelta]
    not_compared: dict[str, list[str]]  # metric -> reasons it was not compared
    top_words: int
    word_overlap: list[ClassOverlap]
    notes: list[str] = field(default_factory=list)
    thresholds: list[ThresholdResult] = field(default_factory=list)
    verdicts: list[VerdictChange] = field(default_factory=list)  # every metric in either run's verdict rows
    verdicts_in: tuple[bool, bool] = (False, False)  # whether run A, run B computed verdicts
    format: str = COMPARE_FORMAT
    harness_version: str = field(default_factory=lambda: _harness_version())

    @property
    def mean_jaccard(self) -> float | None:
        values = [c.jaccard for c in self.word_overlap if c.jaccard is not None]
        return float(np.mean(values)) if values else None

    @property
    def failed(self) -> bool:
        return any(t.crossed for t in self.thresholds)

    def metric(self, name: str) -> MetricDelta:
        for row in self.metrics:
            if row.name == name:
                return row
        raise KeyError(name)

    @property
    def verdict_changes(self) -> list[VerdictChange]:
        return [v for v in self.verdicts if v.changed]

    def to_json(self) -> dict[str, Any]:
        out = {"format": self.format, **asdict(self)}  # the format first: a reader checks it before anything else
        out["verdicts"] = [v.to_json() for v in self.verdicts]
        out["verdicts_in"] = {"A": self.verdicts_in[0], "B": self.verdicts_in[1]}
        out["mean_jaccard"] = self.mean_jaccard
        out["failed"] = self.failed
        return out


def _harness_version() -> str:
    from harness.pipeline.provenance import harness_version

    return harness_version()


def _pair_records(a: list[dict], b: list[dict], where: str, common_only: bool, notes: list[str]) -> list[tuple[dict, dict]]:
    by_id_b = {r["image_id"]: r for r in b}
    ids_a = [r["image_id"] for r in a]
    common = [i for i in ids_a if i in by_id_b]
    only_a = [i for i in ids_a if i not in by_id_b]
    only_b = [i for i in by_id_b if i not in set(ids_a)]
    if not common:
        raise TExplainError(
            f"{where}: the runs have no image in common (A explained {len(a)} images, e.g. {ids_a[:3]}; "
            f"B explained {len(b)}, e.g. {list(by_id_b)[:3]}); compare runs made on the same world/data"
        )
    if only_a or only_b:
        def some(ids: list[str]) -> str:
            return f" (e.g. {', '.join(ids[:3])})" if ids else ""

        message = (
            f"{where}: the runs explained different images: {len(common)} in common, "
            f"{len(only_a)} only in A{some(only_a)}, {len(only_b)} only in B{some(only_b)}"
        )
        if not common_only:
            raise TExplainError(message + "; rerun one of them on the other's images, or pass --common-only to compare on the shared ones")
        notes.append(message + "; compared on the shared ones (--common-only)")
    by_id_a = {r["image_id"]: r for r in a}
    pairs = []
    for image_id in common:
        record_a, record_b = by_id_a[image_id], by_id_b[image_id]
        # Same id but different truth means the runs used different worlds whose ids happen to coincide.
        truth_a, truth_b = record_a.get("truth"), record_b.get("truth")
        if truth_a is not None and truth_b is not None and truth_a != truth_b:
            raise TExplainError(
                f"{where}: image {image_id!r} has different ground truth in A ({truth_a}) and B ({truth_b}); "
                "the runs used different worlds or datasets, so their images cannot be paired"
            )
        pairs.append((record_a, record_b))
    return pairs


def _numeric(value: Any) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)) and np.isfinite(value):
        return float(value)
    return None


Describe = Callable[[str], tuple[bool | None, str]]


def _describer(rename: Callable[[str], str], a, b) -> Describe:
    """(higher_is_better, definition) of a metric by its name in a source (a suite's own name for its
    metric): from the metrics registry, else from the two runs' metrics.json (a suite or metric this
    harness does not know); when the runs disagree on the direction (a changed definition) it is unknown."""
    registry = all_metrics()

    def describe(name: str) -> tuple[bool | None, str]:
        metric = registry.find(rename(name))
        if metric is not None:
            return metric.higher_is_better, metric.definition
        values = {v for v in (a.higher_is_better.get(name), b.higher_is_better.get(name)) if v is not None}
        return (values.pop() if len(values) == 1 else None), (b.definitions.get(name) or a.definitions.get(name) or "")

    return describe


def _metric_deltas(
    pairs: list[tuple[dict, dict]],
    source: str,
    rename: Callable[[str], str],
    describe: Describe,
    resamples: int,
    seed: int,
    confidence: float,
    not_compared: dict[str, list[str]],
) -> list[MetricDelta]:
    names_a = set().union(*(p[0].get("per_image_metrics", {}).keys() for p in pairs))
    names_b = set().union(*(p[1].get("per_image_metrics", {}).keys() for p in pairs))
    for name in sorted(names_a ^ names_b):
        side = "A" if name in names_a else "B"
        not_compared.setdefault(rename(name), []).append(f"{source}: only run {side} records it")
    rows = []
    for name in sorted(names_a & names_b):
        values_a, values_b = [], []
        for record_a, record_b in pairs:
            value_a = _numeric(record_a.get("per_image_metrics", {}).get(name))
            value_b = _numeric(record_b.get("per_image_metrics", {}).get(name))
            if value_a is not None and value_b is not None:
                values_a.append(value_a)
                values_b.append(value_b)
        if not values_a:
            not_compared.setdefault(rename(name), []).append(f"{source}: no image has a numeric value in both runs")
            continue
        interval = paired_bootstrap(np.array(values_a), np.array(values_b), resamples, seed, confidence)
        hib, definition = describe(name)
        rows.append(
            MetricDelta(
                rename(name), source, interval.n, float(np.mean(values_a)), float(np.mean(values_b)),
                interval.delta, interval.low, interval.high, hib, verdict(interval.delta, interval.low, interval.high, hib), definition,
            )
        )
    return rows


def _run_level_deltas(
    metrics_a: dict[str, Any],
    metrics_b: dict[str, Any],
    source: str,
    rename: Callable[[str], str],
    describe: Describe,
    compared: set[str],
    not_compared: dict[str, list[str]],
    notes: list[str],
) -> list[MetricDelta]:
    """Deltas without an interval of the numeric metrics both runs report that `compared` (the
    per-image ones) does not already hold: a suite's headline over classes, a count, a baseline."""
    rows = []
    for name in sorted(set(metrics_a) ^ set(metrics_b)):
        side = "A" if name in metrics_a else "B"
        not_compared.setdefault(rename(name), []).append(f"{source}: only run {side} reports it")
    for name in sorted(set(metrics_a) & set(metrics_b)):
        full = rename(name)
        value_a, value_b = _numeric(metrics_a[name]), _numeric(metrics_b[name])
        if full in compared or value_a is None or value_b is None:
            continue
        if full in not_compared:
            # Its per-image values could not be paired; the run-level values still can be compared.
            notes.append(f"{full}: compared by its run-level values, without an interval ({'; '.join(not_compared.pop(full))})")
        hib, definition = describe(name)
        delta = value_b - value_a
        rows.append(MetricDelta(full, source, None, value_a, value_b, delta, None, None, hib, verdict(delta, None, None, hib), definition))
    return rows


def class_of(record_a: dict) -> str | None:
    """The class an image's words are pooled under: its true object, or where the truth is unknown
    (real data) run A's classifier top-1, so that both runs pool the same images under the same name."""
    truth = record_a.get("truth") or {}
    return truth.get("object") or (record_a.get("classifier_top1") or {}).get("name")


def _class_top_words(records: list[dict], classes: list[str | None], k: int, min_doc_freq: float) -> dict[str, list[str]]:
    by_class: dict[str, list[WordStats]] = defaultdict(list)
    for record, name in zip(records, classes):
        stats = record.get("word_stats")
        if stats is None or name is None:
            continue
        try:
            by_class[name].append(WordStats.from_json(stats))
        except ValueError as error:
            raise TExplainError(f"record of image {record.get('image_id')!r}: {error}") from error
    return {name: [w for w, _ in merge_stats(stats).top_k(k, min_doc_freq=min_doc_freq)] for name, stats in by_class.items()}


def _word_overlap(pairs: list[tuple[dict, dict]], run_a: FinishedRun, run_b: FinishedRun, k: int, notes: list[str]) -> list[ClassOverlap]:
    classes = [class_of(record_a) for record_a, _ in pairs]
    top_a = _class_top_words([p[0] for p in pairs], classes, k, run_a.min_doc_freq)
    top_b = _class_top_words([p[1] for p in pairs], classes, k, run_b.min_doc_freq)
    if not top_a and not top_b:
        notes.append("no word_stats in the records: word-cloud overlap skipped")
        return []
    if any(not (record_a.get("truth") or {}).get("object") for record_a, _ in pairs):
        notes.append("some images have no known true class: their words are pooled under run A's classifier top-1")
    images: dict[str | None, int] = defaultdict(int)
    for name in classes:
        images[name] += 1
    rows = []
    for name in sorted(set(top_a) | set(top_b)):
        words_a, words_b = top_a.get(name, []), top_b.get(name, [])
        union = set(words_a) | set(words_b)
        shared = [w for w in words_a if w in words_b]  # in A's rank order
        rows.append(
            ClassOverlap(
                name, images[name], len(shared) / len(union) if union else None, shared,
                [w for w in words_a if w not in words_b], [w for w in words_b if w not in words_a],
            )
        )
    return rows


def run_verdicts(run: FinishedRun) -> dict[str, dict] | None:
    """metric -> its verdict row in the run's metrics.json "verdicts" (contracts/verdicts.py), or None when the
    run did not compute verdicts (no key, or the empty dict older runs wrote)."""
    block = run.metrics_json.get("verdicts")
    if not isinstance(block, dict) or not isinstance(block.get("rows"), list):
        return None
    return {row["metric"]: row for row in block["rows"] if isinstance(row, dict) and isinstance(row.get("metric"), str)}


def verdict_changes(run_a: FinishedRun, run_b: FinishedRun, notes: list[str]) -> tuple[list[VerdictChange], tuple[bool, bool]]:
    """Each metric in either run's verdict rows with its verdict in A and in B (a run without verdicts: absent)."""
    found = run_verdicts(run_a), run_verdicts(run_b)
    for rows, label, run in ((found[0], "A", run_a), (found[1], "B", run_b)):
        if rows is None and any(r is not None for r in found):
            notes.append(f"run {label} ({run.path}) has no verdicts (not computed for this run): its verdicts are absent, and no verdict gate counts them as worse")
    rows_a, rows_b = found[0] or {}, found[1] or {}
    changes = []
    for metric in list(rows_a) + [m for m in rows_b if m not in rows_a]:
        a, b = rows_a.get(metric, {}), rows_b.get(metric, {})
        changes.append(VerdictChange(metric, a.get("verdict"), b.get("verdict"), a.get("reason"), b.get("reason")))
    return changes, (found[0] is not None, found[1] is not None)


def compare_runs(
    run_a: FinishedRun,
    run_b: FinishedRun,
    resamples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
    top_words: int = 10,
    common_only: bool = False,
) -> Comparison:
    """Per-metric deltas with paired bootstrap intervals, and per-class top-word overlap, of B against A."""
    if resamples < 1:
        raise TExplainError(f"--bootstrap must be >= 1, got {resamples}")
    if top_words < 1:
        raise TExplainError(f"--top-words must be >= 1, got {top_words}")
    notes: list[str] = []
    for run, label in ((run_a, "A"), (run_b, "B")):
        if not run.done:
            notes.append(f"run {label} ({run.path}) has no 'done' marker: it may be unfinished")
        if run.legacy_records:
            notes.append(f"run {label}'s records predate per_image_metrics; the explain.* values were recomputed from object_in_top_k, background_in_top_k and word_stats")
        if run.renamed:
            notes.append(renamed_note(run.renamed, f"run {label} ({run.path})"))
    pairs = _pair_records(run_a.records, run_b.records, MAIN_SOURCE, common_only, notes)
    not_compared: dict[str, list[str]] = {}

    def same(name: str) -> str:
        return name

    describe = _describer(same, run_a, run_b)
    metrics = _metric_deltas(pairs, MAIN_SOURCE, same, describe, resamples, seed, confidence, not_compared)
    metrics += _run_level_deltas(run_a.metrics, run_b.metrics, "metrics.json", same, describe, {m.name for m in metrics}, not_compared, notes)
    for name in sorted(set(run_a.suites) | set(run_b.suites)):
        if name not in run_a.suites or name not in run_b.suites:
            side = "A" if name in run_a.suites else "B"
            notes.append(f"suite {name!r} ran only in run {side}: not compared")
            continue
        suite_a, suite_b = run_a.suites[name], run_b.suites[name]

        def rename(metric: str, suite: str = name) -> str:
            return suite_metric_name(suite, metric)

        describe = _describer(rename, suite_a, suite_b)
        if suite_a.summary.get("version") != suite_b.summary.get("version"):
            notes.append(f"suite {name!r} has version {suite_a.summary.get('version')} in A and {suite_b.summary.get('version')} in B: its numbers may differ for that reason alone")
        if suite_a.records and suite_b.records:
            source = f"suites/{name}/records.jsonl"
            suite_pairs = _pair_records(suite_a.records, suite_b.records, source, common_only, notes)
            metrics += _metric_deltas(suite_pairs, source, rename, describe, resamples, seed, confidence, not_compared)
        else:
            notes.append(f"suite {name!r}: no per-image records in one of the runs: its metrics are compared without intervals")
        metrics += _run_level_deltas(suite_a.metrics, suite_b.metrics, f"suites/{name}/metrics.json", rename, describe, {m.name for m in metrics}, not_compared, notes)
    if not metrics:
        raise TExplainError(
            f"no metric is reported by both runs ({run_a.path} and {run_b.path} have no common per-image metric in "
            "records.jsonl and no common numeric metric in metrics.json); compare runs made by `texplain run`"
        )
    if common_only and any(m.n is None for m in metrics):
        notes.append("metrics without an interval are run-level values over each run's own images, not only the shared ones")
    verdicts, verdicts_in = verdict_changes(run_a, run_b, notes)
    if verdicts and common_only:
        notes.append("verdicts are each run's own, over all the images it explained, not only the shared ones")
    return Comparison(
        str(run_a.path), str(run_b.path), len(run_a.records), len(run_b.records), len(pairs), resamples, seed, confidence,
        metrics, not_compared, top_words, _word_overlap(pairs, run_a, run_b, top_words, notes), notes,
        verdicts=verdicts, verdicts_in=verdicts_in,
    )


def _check_verdict_gate(comparison: Comparison, gate: VerdictGate) -> ThresholdResult:
    """verdict-worse: crossed when any verdict got worse from A to B; verdict-worse:METRIC: when that one did."""
    if gate.metric is None:
        if not any(comparison.verdicts_in):
            comparison.notes.append(f"--fail-if {gate.expression!r}: neither run has verdicts (not computed for them): nothing to gate")
        worse = [v for v in comparison.verdicts if v.worse]
        return ThresholdResult(gate.expression, None, None, bool(worse), "verdict", "; ".join(v.text for v in worse))
    known = [v.metric for v in comparison.verdicts]
    if gate.metric not in known:
        if not any(comparison.verdicts_in):
            raise TExplainError(f"--fail-if {gate.expression!r}: neither run has verdicts (not computed for them); drop the gate or rerun with verdicts")
        raise UnknownNameError(
            f"--fail-if {gate.expression!r}: no verdict for metric {gate.metric!r} in either run.{did_you_mean(gate.metric, known)} "
            f"Metrics with a verdict: {', '.join(known)}"
        )
    change = next(v for v in comparison.verdicts if v.metric == gate.metric)
    if None in (change.a, change.b):
        side = "A" if change.a is None else "B"
        raise TExplainError(f"--fail-if {gate.expression!r}: run {side} has no verdict for {gate.metric!r}, so it cannot be compared ({change.text})")
    return ThresholdResult(gate.expression, gate.metric, None, change.worse, "verdict", change.text)


def check_thresholds(comparison: Comparison, thresholds: list[Threshold | VerdictGate]) -> list[ThresholdResult]:
    """Evaluate thresholds against the comparison's deltas, and verdict gates against its verdict changes
    (stored on it, and returned)."""
    known = [row.name for row in comparison.metrics]
    results = []
    for threshold in thresholds:
        if isinstance(threshold, VerdictGate):
            results.append(_check_verdict_gate(comparison, threshold))
            continue
        if threshold.metric not in known and threshold.metric in RENAMED_METRICS:
            # A user's CI keeps its --fail-if lines across upgrades: read an old name as the new one, and say so.
            new = RENAMED_METRICS[threshold.metric]
            comparison.notes.append(f"--fail-if {threshold.expression!r}: {threshold.metric} is now named {new}; read as {new} (rename it in the threshold)")
            threshold = Threshold(threshold.expression, new, threshold.op, threshold.value)
        if threshold.metric not in known:
            if threshold.metric in comparison.not_compared:
                reasons = "; ".join(comparison.not_compared[threshold.metric])
                raise TExplainError(f"--fail-if {threshold.expression!r}: metric {threshold.metric!r} was not compared ({reasons})")
            raise UnknownNameError(
                f"--fail-if {threshold.expression!r}: unknown metric {threshold.metric!r}.{did_you_mean(threshold.metric, known)} "
                f"Compared metrics: {', '.join(known)}"
            )
        delta = comparison.metric(threshold.metric).delta
        results.append(ThresholdResult(threshold.expression, threshold.metric, delta, threshold.crossed(delta)))
    comparison.thresholds = results
    return results


def _fmt(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(c)) for c in column) for column in zip(header, *rows)]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(header, widths)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows]
    return "\n".join(lines)


def _metric_rows(comparison: Comparison) -> list[list[str]]:
    rows = []
    for m in comparison.metrics:
        direction = {True: "higher", False: "lower", None: "-"}[m.higher_is_better]
        mark = "REGRESSION" if m.verdict == "regression" else m.verdict
        interval = "-" if m.ci_low is None or m.ci_high is None else f"[{m.ci_low:+.4f}, {m.ci_high:+.4f}]"
        rows.append([m.name, "-" if m.n is None else str(m.n), direction, f"{m.mean_a:.4f}", f"{m.mean_b:.4f}", f"{m.delta:+.4f}", interval, mark])
    return rows


_METRIC_HEADER = ["metric", "n", "better", "A", "B", "delta B-A", "95% CI", "verdict"]


def format_text(comparison: Comparison) -> str:
    """The comparison as plain-text tables for the terminal."""
    c = comparison
    percent = round(c.confidence * 100)
    lines = [
        f"A: {c.run_a} ({c.images_a} images)",
        f"B: {c.run_b} ({c.images_b} images)",
        f"matched {c.matched_images} images by image_id; paired bootstrap, {c.resamples} resamples, seed {c.seed}, {percent}% percentile intervals "
        "('-': a metric without per-image values, compared without an interval)",
        "",
        _table([h if h != "95% CI" else f"{percent}% CI" for h in _METRIC_HEADER], _metric_rows(c)),
    ]
    lines += _verdict_lines(c)
    if c.not_compared:
        lines += ["", "not compared:"] + [f"  {name}: {'; '.join(reasons)}" for name, reasons in sorted(c.not_compared.items())]
    if c.word_overlap:
        rows = [[o.name, str(o.images), _fmt(o.jaccard, 2), " ".join(o.shared) or "-", " ".join(o.only_a) or "-", " ".join(o.only_b) or "-"] for o in c.word_overlap]
        lines += ["", f"word-cloud overlap per class: Jaccard of the top-{c.top_words} words (mean {_fmt(c.mean_jaccard, 2)})"]
        lines.append(_table(["class", "images", "jaccard", "shared", "only in A", "only in B"], rows))
    if c.notes:
        lines += ["", "notes:"] + [f"  - {note}" for note in c.notes]
    if c.thresholds:
        lines += ["", "thresholds:"]
        lines += [f"  {'CROSSED' if t.crossed else 'ok     '}  {t.expression}  ({_threshold_detail(t)})" for t in c.thresholds]
    return "\n".join(lines)


def _threshold_detail(t: ThresholdResult) -> str:
    if t.kind == "verdict":
        return t.detail or "no verdict got worse"
    return f"delta {t.delta:+.4f}"


def _verdict_summary(c: Comparison) -> str:
    changed = c.verdict_changes
    worse = sum(v.worse for v in changed)
    better = sum(v.better for v in changed)
    return f"{len(changed)} of {len(c.verdicts)} changed ({worse} worse, {better} better); pass > inconclusive > fail"


def _verdict_lines(c: Comparison) -> list[str]:
    """Changed verdicts first, each as 'metric: A -> B (worse)', then the unchanged ones."""
    if not c.verdicts:
        return []
    lines = ["", f"verdicts A -> B: {_verdict_summary(c)}"]
    for v in sorted(c.verdicts, key=lambda v: not v.changed):
        mark = "WORSE  " if v.worse else "better " if v.better else "changed" if v.changed else "       "
        lines.append(f"  {mark}  {v.text}")
        if v.changed and v.reason_b:
            lines.append(f"             B: {v.reason_b}")
    return lines


def _md_table(header: list[str], rows: list[list[str]]) -> str:
    def escape(cell: str) -> str:
        return str(cell).replace("|", "\\|")

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(escape(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def format_markdown(comparison: Comparison) -> str:
    c = comparison
    percent = round(c.confidence * 100)
    parts = [
        "# texplain compare",
        "",
        f"- A: `{c.run_a}` ({c.images_a} images)",
        f"- B: `{c.run_b}` ({c.images_b} images)",
        f"- matched {c.matched_images} images by image_id; paired bootstrap, {c.resamples} resamples, seed {c.seed}, {percent}% percentile intervals "
        "('-': a metric without per-image values, compared without an interval)",
        "",
        "## Metrics (delta = B - A)",
        "",
        _md_table([h if h != "95% CI" else f"{percent}% CI" for h in _METRIC_HEADER], [[f"`{r[0]}`"] + r[1:] for r in _metric_rows(c)]),
    ]
    if c.verdicts:
        parts += ["", f"## Verdicts A -> B ({_verdict_summary(c)})", ""]
        rows = [[f"`{v.metric}`", v.a or "absent", v.b or "absent", "**worse**" if v.worse else "better" if v.better else "changed" if v.changed else "unchanged",
                 v.reason_b or ""] for v in sorted(c.verdicts, key=lambda v: not v.changed)]
        parts.append(_md_table(["metric", "A", "B", "change", "B's reason"], rows))
    if c.word_overlap:
        parts += ["", f"## Word-cloud overlap (Jaccard of top-{c.top_words} words per class; mean {_fmt(c.mean_jaccard, 2)})", ""]
        parts.append(_md_table(["class", "images", "Jaccard", "shared", "only in A", "only in B"], [[o.name, str(o.images), _fmt(o.jaccard, 2), ", ".join(o.shared), ", ".join(o.only_a), ", ".join(o.only_b)] for o in c.word_overlap]))
    if c.thresholds:
        parts += ["", "## Thresholds", ""] + [f"- {'**crossed**' if t.crossed else 'ok'}: `{t.expression}` ({_threshold_detail(t)})" for t in c.thresholds]
    defined = [m for m in c.metrics if m.definition]
    if defined:
        parts += ["", "## Definitions", ""] + [f"- `{m.name}`: {m.definition}" for m in defined]
    if c.notes or c.not_compared:
        parts += ["", "## Notes", ""] + [f"- {n}" for n in c.notes] + [f"- `{name}` not compared: {'; '.join(r)}" for name, r in sorted(c.not_compared.items())]
    return "\n".join(parts) + "\n"


def write_outputs(comparison: Comparison, json_path: Path | None, markdown_path: Path | None) -> None:

    if json_path is not None:
        atomic_write_text(Path(json_path), json.dumps(comparison.to_json(), indent=2) + "\n")
    if markdown_path is not None:
        atomic_write_text(Path(markdown_path), format_markdown(comparison))
