"""The metrics registry: every metric a run writes, with a one-line definition and a direction
(docs/design.md#metric-contract; after lm-evaluation-harness, whose registered metrics carry their aggregation and
``higher_is_better``).

A metric is named after what it computes, never after a setting's current value (the k of
``explain.object_in_top_k_rate`` is ``explain.top_k``, so the name carries no number). A name is exact
(``explain.object_in_top_k_rate``) or a template with a ``<placeholder>`` for one dotted part
(``only_bg.acc.<variation>`` stands for ``only_bg.acc.original``, ``only_bg.acc.mixed_rand``, ...).

The direction says which way is better: ``higher``, ``lower``, or ``none`` for what is neither better
nor worse: descriptive counts and settings (``explain.num_images``, ``explain.top_k``) and image-blind
baselines. ``texplain compare`` calls a change a regression or an improvement only by the direction.

Who registers:

- the main run's ``explain.*`` metrics: harness/metrics/explain.py, each per-image one with the function
  whose mean over images is the metric (the decorator ``METRICS.per_image``);
- the caption metrics, as ``caption.<metric>``: one file each in harness/metrics/captions, each with the
  function that scores a set of explanations against captions (the decorator ``METRICS.per_set``), its
  library and settings;
- each suite's metrics, as ``<suite>.<metric>``, from the suite's ``definitions`` and
  ``higher_is_better`` when the suite is registered (contracts/suite.py, ``suite_metrics`` below); they
  enter the registry when it is first read, after the suite's module has finished importing.

Readers (metrics.json's "definitions" and "higher_is_better", the report, ``texplain compare``) ask this
registry; for a name it does not know (a suite that no longer exists) they fall back to the run's own
metrics.json. ``all_metrics()`` is the registry with every suite's metrics loaded.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from contracts.plugins import load_plugins
from contracts.verdicts import VerdictRule
from texplain.registry import Registry

HIGHER, LOWER, NONE = "higher", "lower", "none"
# metrics.json keeps the older boolean form: higher_is_better true / false, and no entry for "none".
_HIGHER_IS_BETTER = {HIGHER: True, LOWER: False, NONE: None}
_PLACEHOLDER = re.compile(r"<[^<>.]+>")


@dataclass(frozen=True)
class Metric:
    """One registered metric."""

    name: str  # exact, or a template such as "only_bg.acc.<variation>"
    definition: str  # one line: what is computed, over what
    direction: str  # HIGHER, LOWER or NONE
    # For per-image metrics of the main run: the value of one image (its mean over images is the metric).
    per_image: Callable[..., float] | None = None
    # For metrics of a scored set (caption metrics, harness/metrics/captions): scores one set of keys, each
    # with hypotheses and references, and returns (value per key, value of the whole set).
    per_set: Callable[..., tuple[dict[str, float], float]] | None = None
    library: str | None = None  # the PyPI distribution that computes it, where one does (for provenance)
    # For headline metrics: the controls it must beat and the smallest difference that matters (contracts/verdicts.py).
    verdict: VerdictRule | None = None
    settings: dict = field(default_factory=dict, hash=False, compare=False)  # what fixes its definition

    def __post_init__(self):
        # A metric without a definition or a direction cannot be reported or compared: fail at registration.
        if not isinstance(self.definition, str) or not self.definition.strip():
            raise ValueError(f"metric {self.name!r} has no definition; register it with a one-line definition of what it computes")
        if self.direction not in _HIGHER_IS_BETTER:
            raise ValueError(f"metric {self.name!r} has direction {self.direction!r}; use {HIGHER!r}, {LOWER!r} or {NONE!r} (descriptive counts and baselines)")

    @property
    def higher_is_better(self) -> bool | None:
        return _HIGHER_IS_BETTER[self.direction]

    @property
    def is_template(self) -> bool:
        return _PLACEHOLDER.search(self.name) is not None

    def matches(self, name: str) -> bool:
        """Whether `name` is this metric: equal, or one instance of the template (one dotted part per placeholder)."""
        if name == self.name:
            return True
        if not self.is_template:
            return False
        return re.fullmatch(_template_pattern(self.name), name) is not None


def _template_pattern(template: str) -> str:
    """'only_bg.acc.<variation>' -> 'only_bg\\.acc\\.[^.]+'."""
    parts, last = [], 0
    for match in _PLACEHOLDER.finditer(template):
        parts.append(re.escape(template[last : match.start()]))
        parts.append(r"[^.]+")
        last = match.end()
    parts.append(re.escape(template[last:]))
    return "".join(parts)


def suite_metric_name(suite: str, metric: str) -> str:
    """A suite's metric under the suite's name, unless the suite already named it that way."""
    return metric if metric.startswith(f"{suite}.") else f"{suite}.{metric}"


class MetricRegistry(Registry[Metric]):
    """The Registry of texplain/registry.py (duplicates are an error, unknown names get "did you
    mean") with template names, namespaces registered when first read, and the tables that
    metrics.json and compare need."""

    def __init__(self, kind: str):
        super().__init__(kind)
        self._pending: dict[str, Callable[[], list[Metric]]] = {}

    def add(self, metric: Metric) -> Metric:
        return self.register(metric.name)(metric)

    def add_namespace(self, prefix: str, metrics: Callable[[], list[Metric]]) -> None:
        """Register the metrics that `metrics()` returns under `prefix` (a suite's "<suite>."), when the
        registry is first read: a suite registers while its module is still being imported, and its
        tables may use names the module defines further down (only_bg's VARIATIONS).

        Replaces what was registered under the prefix before: a suite class defined again (as tests
        do, in fresh modules) brings its own table. The suite registry itself refuses two different
        suites of one name."""
        if prefix == "explain.":
            raise ValueError("'explain' is the main run's namespace; a suite cannot be named 'explain'")
        self.remove_namespace(prefix)
        self._pending[prefix] = metrics

    def remove_namespace(self, prefix: str) -> None:
        """Forget every metric under `prefix`, registered or pending (a suite unregistered again)."""
        self._pending.pop(prefix, None)
        for name in [n for n in self._entries if n.startswith(prefix)]:
            del self._entries[name]

    def _resolve(self) -> None:
        while self._pending:
            prefix, factory = next(iter(self._pending.items()))
            # A table that fails (a direction without a definition) stays pending and fails every read
            # again, naming the suite, rather than leaving its metrics silently unregistered.
            metrics = factory()
            for metric in metrics:
                if not metric.name.startswith(prefix):
                    raise ValueError(f"metric {metric.name!r} does not lie under {prefix!r}")
            del self._pending[prefix]
            for metric in metrics:
                self.add(metric)

    def get(self, name: str) -> Metric:
        self._resolve()
        return super().get(name)

    def names(self) -> list[str]:
        self._resolve()
        return super().names()

    def __contains__(self, name: object) -> bool:
        self._resolve()
        return super().__contains__(name)

    def per_image(self, name: str, direction: str, definition: str, verdict: VerdictRule | None = None) -> Callable[[Callable[..., float]], Callable[..., float]]:
        """Decorator: register the function as the per-image value of metric `name`, whose run-level
        value is its mean over images (and whose interval is a bootstrap over images); `verdict`: the
        controls a headline metric must beat (contracts/verdicts.py)."""

        def decorator(function: Callable[..., float]) -> Callable[..., float]:
            self.add(Metric(name, definition, direction, per_image=function, verdict=verdict))
            return function

        return decorator

    def per_set(self, name: str, direction: str, definition: str, library: str, settings: dict | None = None):
        """Decorator: register the function as the scorer of set metric `name` (a caption metric): it takes
        one scored set and returns (value per key, value of the whole set)."""

        def decorator(function: Callable[..., tuple[dict[str, float], float]]):
            self.add(Metric(name, definition, direction, per_set=function, library=library, settings=dict(settings or {})))
            return function

        return decorator

    def per_set_metrics(self, prefix: str) -> list[Metric]:
        """The metrics under `prefix` (e.g. "caption.") that score a set, in registration order. Reads only what
        is registered already: it never resolves a suite's pending table (it is called while suites import)."""
        return [m for m in self._entries.values() if m.name.startswith(prefix) and m.per_set is not None]

    def entries(self) -> list[Metric]:
        return [self.get(name) for name in self.names()]

    def find(self, name: str) -> Metric | None:
        """The metric `name` is, exact names first, then templates; None when none is registered."""
        if name in self:
            return self.get(name)
        for metric in self.entries():
            if metric.is_template and metric.matches(name):
                return metric
        return None

    def lookup(self, name: str) -> Metric:
        """Like find, but an unknown name is an UnknownNameError with the closest registered name."""
        found = self.find(name)
        return found if found is not None else self.get(name)  # get raises, with "did you mean"

    def definitions(self, names: Iterable[str]) -> dict[str, str]:
        """name -> definition for the registered ones among `names`."""
        return {name: metric.definition for name in names if (metric := self.find(name)) is not None}

    def higher_is_better(self, names: Iterable[str]) -> dict[str, bool]:
        """name -> True / False for the registered ones among `names` that have a direction."""
        found = {name: self.find(name) for name in names}
        return {name: metric.higher_is_better for name, metric in found.items() if metric is not None and metric.direction != NONE}

    def per_image_metrics(self, prefix: str) -> list[Metric]:
        """The metrics under `prefix` (e.g. "explain.") that have a per-image function, in registration order."""
        self._resolve()
        return [m for m in self._entries.values() if m.name.startswith(prefix) and m.per_image is not None]


METRICS = MetricRegistry("metric")


def suite_metrics(suite: str, definitions: dict[str, str], higher_is_better: dict[str, bool]) -> list[Metric]:
    """A suite's ``definitions`` and ``higher_is_better`` (contracts/suite.py) as registry entries named
    ``<suite>.<metric>``.

    A definition's direction is that of the names in higher_is_better it covers (a template covers
    several, which must agree); a defined metric that higher_is_better does not name is descriptive
    (``none``, e.g. num_images). A direction without a definition is an error: it could not be reported.
    """
    metrics, covered = [], set()
    for metric, definition in definitions.items():
        probe = Metric(metric, definition or "?", NONE)  # only to match names against the template
        named = {name: value for name, value in higher_is_better.items() if probe.matches(name)}
        covered |= set(named)
        directions = set(named.values())
        if len(directions) > 1:
            raise ValueError(
                f"suite {suite!r}: the metrics {sorted(named)} that {metric!r} defines disagree on higher_is_better; "
                "give the ones that differ their own definitions"
            )
        direction = NONE if not directions else (HIGHER if directions.pop() else LOWER)
        metrics.append(Metric(suite_metric_name(suite, metric), definition, direction))
    missing = sorted(set(higher_is_better) - covered)
    if missing:
        raise ValueError(
            f"suite {suite!r}: {', '.join(missing)} {'has' if len(missing) == 1 else 'have'} a direction in higher_is_better "
            "but no entry in definitions; add a one-line definition for each (a template such as 'acc.<variation>' covers several)"
        )
    return metrics


def all_metrics() -> MetricRegistry:
    """The registry with every plug-in's metrics: loading the plug-ins registers the suites, and
    registering a suite registers its metrics (contracts/suite.py)."""
    load_plugins()
    return METRICS
