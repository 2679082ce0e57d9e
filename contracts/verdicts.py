"""Verdicts: does a headline metric of TExplain beat the controls it must beat (docs/design.md#verdicts)?

A faithfulness metric that an explainer which ignores the classifier also reaches is not evidence (Adebayo
et al., "Sanity Checks for Saliency Maps", NeurIPS 2018). So each headline metric names, in its
``VerdictRule``, the controls (registered explainers, contracts/explainers.py) it must beat and the smallest
difference that matters, and gets one of three verdicts, computed on the same images for TExplain and
every control:

- **pass**: for every control it must beat, the lower end of the 95% interval of the paired difference
  (TExplain minus control, bootstrapped over images: contracts/intervals.py; a Student t interval where the
  unit is a seed, since a bootstrap over a handful of seeds is too narrow) lies above zero;
- **fail**: for some control it must beat, the whole interval lies below ``min_effect``: the control is
  as good as TExplain to within what matters;
- **inconclusive** otherwise, with the reason: a quality gate is not met, a control it must beat was not
  run, there are too few images or a single seed where the unit is a model, or an interval straddles the
  line; then it says about how many images would decide (the interval's half-width shrinks as 1/sqrt(n)).

Ceilings (``truth_captions`` for a metric of image content) stand beside the verdict as what an explainer
faithful to the image alone reaches; they do not enter it.

``decide_equivalent`` gives the verdict of the opposite claim, that two explainers agree (the sanity
suite: erasing one concept leaves the naming of the other as it was): pass when the whole interval of
the paired difference lies within a margin, fail when it lies wholly outside, inconclusive otherwise.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np

from contracts.intervals import mean_interval, seed_interval

PASS, FAIL, INCONCLUSIVE = "pass", "fail", "inconclusive"
VERDICTS_FORMAT = 1  # metrics.json "verdicts" -> {"format": VERDICTS_FORMAT, "rows": [...]}
MIN_IMAGES = 10  # fewer paired images than this: inconclusive whatever the interval says

# Controls a metric of image content (is the object, the background named?) must beat: what an explainer
# reaches without this image (image_blind, permuted) or without what the classifier learned
# (shuffled_captions, random_classifier). truth_captions, faithful to the image and blind to the
# classifier, is its ceiling.
CONTENT_CONTROLS = ("image_blind", "permuted", "shuffled_captions", "random_classifier")
CONTENT_CEILINGS = ("truth_captions",)
# A metric that claims to test the classifier must also beat the explainers that read the image but not
# the classifier (truth_captions) and the prediction but not the features (class_prior).
CLASSIFIER_CONTROLS = CONTENT_CONTROLS + ("truth_captions", "class_prior")


@dataclass(frozen=True)
class VerdictRule:
    """What a metric must beat, and by how much a difference matters."""

    must_beat: tuple[str, ...]
    min_effect: float  # in the metric's units: a difference smaller than this does not matter
    ceilings: tuple[str, ...] = ()
    tests: str = "content"  # "content" (what the image holds) or "classifier" (what the classifier learned)

    def __post_init__(self) -> None:
        if not self.must_beat:
            raise ValueError("a verdict rule needs at least one control to beat")
        if not self.min_effect > 0:
            raise ValueError(f"min_effect must be positive, got {self.min_effect}")


def content_rule(min_effect: float) -> VerdictRule:
    return VerdictRule(CONTENT_CONTROLS, min_effect, CONTENT_CEILINGS, "content")


def classifier_rule(min_effect: float) -> VerdictRule:
    return VerdictRule(CLASSIFIER_CONTROLS, min_effect, (), "classifier")


@dataclass(frozen=True)
class Gate:
    """A quality gate a verdict rests on (e.g. the translator names the background of held-out images)."""

    description: str
    met: bool
    value: float | None = None


@dataclass
class Comparison:
    """TExplain against one control on the same images."""

    control: str
    control_value: float | None  # its mean over the images; None when it was not run
    difference: float | None = None  # TExplain minus control, mean over images
    low: float | None = None  # 95% interval of the paired difference
    high: float | None = None
    beats: bool | None = None  # low > 0
    as_good: bool | None = None  # high < min_effect
    reason: str | None = None  # why it was not compared


@dataclass
class Verdict:
    metric: str
    verdict: str
    reason: str
    texplain: float
    n: int
    min_effect: float
    tests: str
    comparisons: list[Comparison] = field(default_factory=list)
    ceilings: dict[str, float | None] = field(default_factory=dict)
    images_to_decide: int | None = None  # about how many units (see `unit`) would decide an inconclusive row
    unit: str = "image"  # what n counts and the intervals are over: "image", or "seed" where the unit is a trained model

    def to_json(self) -> dict:
        return asdict(self)


def _images_to_decide(undecided: list[Comparison], n: int, min_effect: float) -> int | None:
    """About how many units would decide every undecided comparison: an interval's half-width shrinks as
    1/sqrt(n), and a comparison is decided once its half-width is below the distance from its difference to
    the line it can still reach first (0 for a pass, min_effect for a fail): the farther of the two from its difference."""
    needed = []
    for c in undecided:
        if c.difference is None or c.low is None:
            return None
        half = (c.high - c.low) / 2
        distance = max(c.difference, min_effect - c.difference)  # > 0 since min_effect > 0
        needed.append(max(n + 1, math.ceil(n * (half / distance) ** 2)))
    return max(needed) if needed else None


def units(unit: str | None) -> str:
    """The plural a reason or a table counts n in: images, seeds, classes."""
    unit = unit or "image"
    return unit + ("es" if unit.endswith("s") else "s")


def paired_interval(difference: np.ndarray, unit: str):
    """The 95% interval of the mean paired difference: a bootstrap over images, a t interval over seeds."""
    return seed_interval(difference) if unit == "seed" else mean_interval(difference)


def held_back(gates, n: int, unit: str = "image") -> str | None:
    """Why no verdict can be given whatever the values say (an unmet gate, one seed, too few images), or None."""
    unmet = [g for g in gates if not g.met]
    if unmet:
        return "quality gate not met: " + "; ".join(g.description for g in unmet)
    if unit == "seed" and n < 2:
        return "one seed: a trained model's spread over seeds is n/a, and no verdict rests on one seed"
    if n < MIN_IMAGES and unit == "image":
        return f"{n} {units(unit)}; a verdict needs at least {MIN_IMAGES}"
    return None


def decide(metric: str, texplain: np.ndarray | list[float], controls: dict[str, np.ndarray | list[float] | None], rule: VerdictRule,
           gates: list[Gate] = (), unit: str = "image", not_run: dict[str, str] | None = None) -> Verdict:
    """The verdict of one metric from per-unit values (images, or seeds where the unit is a model).

    texplain: (n,) TExplain's values; controls: control -> (n,) values on the same units in the same order,
    or None when it was not run (``not_run`` may say why); gates: quality gates the verdict rests on."""
    values = np.asarray(texplain, dtype=np.float64)
    n = int(values.size)
    not_run = dict(not_run or {})
    comparisons = []
    for control in rule.must_beat:
        other = controls.get(control)
        if other is None:
            comparisons.append(Comparison(control, None, reason=not_run.get(control, "not run")))
            continue
        other = np.asarray(other, dtype=np.float64)
        if other.shape != values.shape:
            raise ValueError(f"{metric}: control {control!r} has {other.size} values, TExplain {n}; they must be paired on the same {units(unit)}")
        difference = values - other
        interval = paired_interval(difference, unit)
        comparison = Comparison(control, float(other.mean()), float(difference.mean()))
        if interval is not None:
            comparison.low, comparison.high = interval.low, interval.high
            comparison.beats = interval.low > 0
            comparison.as_good = interval.high < rule.min_effect
        comparisons.append(comparison)
    ceilings = {name: (float(np.mean(controls[name])) if controls.get(name) is not None else None) for name in rule.ceilings}
    mean = float(values.mean()) if n else float("nan")

    def verdict(kind: str, reason: str, to_decide: int | None = None) -> Verdict:
        return Verdict(metric, kind, reason, mean, n, rule.min_effect, rule.tests, comparisons, ceilings, to_decide, unit)

    held = held_back(gates, n, unit)
    if held is not None:
        return verdict(INCONCLUSIVE, held)
    failed = [c for c in comparisons if c.as_good]
    if failed:
        names = ", ".join(f"{c.control} (difference {c.difference:+.3f}, interval [{c.low:+.3f}, {c.high:+.3f}])" for c in failed)
        return verdict(FAIL, f"as good as TExplain to within {rule.min_effect:g}: {names}")
    missing = [c for c in comparisons if c.control_value is None]
    if missing:
        return verdict(INCONCLUSIVE, "not run: " + "; ".join(f"{c.control} ({c.reason})" for c in missing))
    undecided = [c for c in comparisons if not c.beats]
    if undecided:
        to_decide = _images_to_decide(undecided, n, rule.min_effect)
        names = ", ".join(c.control for c in undecided)
        more = f"; about {to_decide} {units(unit)} would decide" if to_decide else ""
        return verdict(INCONCLUSIVE, f"the interval of the difference straddles 0 or {rule.min_effect:g} for {names}{more}", to_decide)
    return verdict(PASS, f"above every control it must beat ({', '.join(rule.must_beat)}), each interval's lower end above 0")


def _images_to_decide_equivalence(difference: float, low: float, high: float, n: int, margin: float) -> int | None:
    """About how many units would decide an equivalence check: the interval's half-width shrinks as 1/sqrt(n),
    and the check is decided once the half-width is below the distance from the difference to the margin it
    lies on the other side of (inside: to pass; outside: to fail). None when the difference sits on the margin."""
    distance = abs(margin - abs(difference))
    if distance == 0:
        return None
    half = (high - low) / 2
    return max(n + 1, math.ceil(n * (half / distance) ** 2))


def decide_equivalent(metric: str, a: np.ndarray | list[float], b: np.ndarray | list[float], margin: float,
                      gates: list[Gate] = (), unit: str = "image", control: str = "control",
                      tests: str = "equivalence") -> Verdict:
    """An equivalence verdict (the interval form of two one-sided tests, Schuirmann 1987): do `a` and `b`,
    paired on the same units, differ by less than `margin`?

    The paired difference a - b gets its 95% bootstrap interval over units (contracts/intervals.py):

    - **pass**: the whole interval lies within [-margin, +margin] (a and b agree to within what matters);
    - **fail**: the whole interval lies outside it (below -margin or above +margin);
    - **inconclusive** otherwise (it crosses a margin), or when a gate is not met, with too few units, or with
      one seed where the unit is a model; then it says about how many units would decide.

    The row has one comparison, `control` (b), whose ``beats`` says the interval lies above 0 and whose
    ``as_good`` says it lies within the margin; ``min_effect`` holds the margin."""
    if not margin > 0:
        raise ValueError(f"margin must be positive, got {margin}")
    values = np.asarray(a, dtype=np.float64)
    other = np.asarray(b, dtype=np.float64)
    if other.shape != values.shape:
        raise ValueError(f"{metric}: {control!r} has {other.size} values, the other side {values.size}; they must be paired on the same {units(unit)}")
    n = int(values.size)
    difference = values - other
    comparison = Comparison(control, float(other.mean()) if n else None, float(difference.mean()) if n else None,
                            reason=None if n else f"no {units(unit)}")
    interval = paired_interval(difference, unit) if n >= 2 else None
    if interval is not None:
        comparison.low, comparison.high = interval.low, interval.high
        comparison.beats = interval.low > 0
        comparison.as_good = -margin <= interval.low and interval.high <= margin
    mean = float(values.mean()) if n else float("nan")

    def verdict(kind: str, reason: str, to_decide: int | None = None) -> Verdict:
        return Verdict(metric, kind, reason, mean, n, margin, tests, [comparison], {}, to_decide, unit)

    held = held_back(gates, n, unit)
    if held is not None:
        return verdict(INCONCLUSIVE, held)
    if interval is None:
        return verdict(INCONCLUSIVE, f"{n} {units(unit)}: no interval")
    where = f"difference {comparison.difference:+.3f}, interval [{interval.low:+.3f}, {interval.high:+.3f}]"
    if comparison.as_good:
        return verdict(PASS, f"equivalent to {control} to within ±{margin:g}: the whole interval lies inside ({where})")
    if interval.low > margin or interval.high < -margin:
        return verdict(FAIL, f"differs from {control} by more than {margin:g}: the whole interval lies outside ±{margin:g} ({where})")
    to_decide = _images_to_decide_equivalence(comparison.difference, interval.low, interval.high, n, margin)
    more = f"; about {to_decide} {units(unit)} would decide" if to_decide else ""
    return verdict(INCONCLUSIVE, f"the interval crosses ±{margin:g} ({where}){more}", to_decide)
