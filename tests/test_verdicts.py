"""Verdicts (contracts/verdicts.py): TExplain against the controls a headline metric must beat, on
constructed per-image values (the arithmetic), and end to end through the explainer registry
(harness/metrics/explain.py's score_explainers and explainer_verdicts)."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest

from contracts.explainers import EXPLAINERS, ExplainerInputs
from contracts.intervals import mean_interval
from contracts.metrics import METRICS
from contracts.plugins import load_plugins
from contracts.verdicts import (
    CLASSIFIER_CONTROLS,
    CONTENT_CEILINGS,
    CONTENT_CONTROLS,
    FAIL,
    INCONCLUSIVE,
    MIN_IMAGES,
    PASS,
    Gate,
    VerdictRule,
    classifier_rule,
    content_rule,
    decide,
)
from harness.metrics.explain import MIN_EFFECT, explainer_verdicts, score_explainers
from texplain.words import DEFAULT_FILTER, word_stats

load_plugins()

RULE = content_rule(0.05)
METRIC = "explain.object_in_top_k_rate"


def _controls(n: int, seed: int = 1, level: float = 0.1) -> dict[str, np.ndarray]:
    """Every control a content metric must beat, each ~`level` with a little spread, plus its ceiling."""
    rng = np.random.default_rng(seed)
    controls = {name: np.clip(level + rng.normal(0.0, 0.05, n), 0.0, 1.0) for name in CONTENT_CONTROLS}
    controls["truth_captions"] = np.ones(n)
    return controls


def _comparison(verdict, control: str):
    (found,) = [c for c in verdict.comparisons if c.control == control]
    return found


# ---- the rule -----------------------------------------------------------------------------------------


def test_the_rules_name_the_controls_of_the_design():
    assert set(CONTENT_CONTROLS) == {"image_blind", "permuted", "shuffled_captions", "random_classifier"}
    assert RULE.must_beat == CONTENT_CONTROLS and RULE.ceilings == CONTENT_CEILINGS == ("truth_captions",)
    assert "truth_captions" not in RULE.must_beat  # a ceiling, never a control of a content metric
    rule = classifier_rule(0.05)
    assert set(rule.must_beat) == set(CLASSIFIER_CONTROLS) >= set(CONTENT_CONTROLS) | {"truth_captions", "class_prior"}
    assert rule.tests == "classifier" and RULE.tests == "content"


def test_a_rule_needs_a_control_and_a_positive_min_effect():
    with pytest.raises(ValueError, match="at least one control"):
        VerdictRule((), 0.05)
    for bad in (0.0, -0.1):
        with pytest.raises(ValueError, match="min_effect"):
            VerdictRule(("image_blind",), bad)
    with pytest.raises(ValueError, match="min_effect"):
        VerdictRule(("image_blind",), float("nan"))  # `not nan > 0`: refused too


# ---- golden cases -------------------------------------------------------------------------------------


def test_a_clear_pass():
    n = 40
    texplain = np.ones(n)
    controls = _controls(n)
    verdict = decide(METRIC, texplain, controls, RULE)
    assert verdict.verdict == PASS, verdict.reason
    assert verdict.n == n and verdict.texplain == 1.0 and verdict.min_effect == 0.05 and verdict.tests == "content"
    assert [c.control for c in verdict.comparisons] == list(CONTENT_CONTROLS)
    for c in verdict.comparisons:
        assert c.beats is True and c.as_good is False and c.reason is None
        assert c.low > 0 and c.low <= c.difference <= c.high
    assert verdict.images_to_decide is None
    row = verdict.to_json()
    assert row["verdict"] == PASS and row["metric"] == METRIC and len(row["comparisons"]) == len(CONTENT_CONTROLS)


def test_the_numbers_are_the_paired_bootstrap_of_the_difference():
    n = 40
    rng = np.random.default_rng(7)
    texplain = np.clip(0.8 + rng.normal(0.0, 0.15, n), 0.0, 1.0)
    controls = _controls(n, seed=3)
    verdict = decide(METRIC, texplain, controls, RULE)
    for name in CONTENT_CONTROLS:
        difference = texplain - controls[name]
        interval = mean_interval(difference)  # paired: image by image, not two separate intervals
        c = _comparison(verdict, name)
        assert c.control_value == float(np.mean(controls[name]))
        assert c.difference == float(difference.mean())
        assert (c.low, c.high) == (interval.low, interval.high)
        assert c.beats == (interval.low > 0) and c.as_good == (interval.high < RULE.min_effect)
    assert verdict.texplain == float(texplain.mean())


def test_ceilings_are_reported_but_do_not_enter_the_verdict():
    n = 40
    texplain = np.ones(n)
    controls = _controls(n)
    with_ceiling = decide(METRIC, texplain, controls, RULE)
    assert with_ceiling.ceilings == {"truth_captions": 1.0}
    assert "truth_captions" not in {c.control for c in with_ceiling.comparisons}

    # A ceiling far above TExplain, equal to it, or not run at all: the same verdict, the same comparisons.
    for ceiling in (np.full(n, 5.0), texplain.copy(), None):
        other = decide(METRIC, texplain, {**controls, "truth_captions": ceiling}, RULE)
        assert other.verdict == with_ceiling.verdict == PASS
        assert other.comparisons == with_ceiling.comparisons
        assert other.ceilings == {"truth_captions": None if ceiling is None else float(np.mean(ceiling))}


def test_a_control_as_good_as_texplain_fails():
    n = 40
    texplain = np.ones(n)
    controls = {**_controls(n), "permuted": texplain.copy()}
    verdict = decide(METRIC, texplain, controls, RULE)
    assert verdict.verdict == FAIL
    assert "permuted" in verdict.reason and "image_blind" not in verdict.reason
    c = _comparison(verdict, "permuted")
    assert (c.difference, c.low, c.high) == (0.0, 0.0, 0.0)  # every image equal: the interval is [0, 0]
    assert c.as_good is True and c.beats is False
    assert _comparison(verdict, "image_blind").beats is True


def test_a_control_not_run_leaves_it_inconclusive():
    n = 40
    texplain = np.ones(n)
    controls = {**_controls(n), "random_classifier": None}
    verdict = decide(METRIC, texplain, controls, RULE, not_run={"random_classifier": "left out by controls.trained"})
    assert verdict.verdict == INCONCLUSIVE
    assert "random_classifier" in verdict.reason and "left out by controls.trained" in verdict.reason
    c = _comparison(verdict, "random_classifier")
    assert c.control_value is None and c.difference is None and c.beats is None and c.reason == "left out by controls.trained"

    # A control absent from the dict altogether counts as not run, too.
    del controls["random_classifier"]
    absent = decide(METRIC, texplain, controls, RULE)
    assert absent.verdict == INCONCLUSIVE and "random_classifier (not run)" in absent.reason


def test_a_fail_wins_over_a_control_not_run():
    n = 40
    texplain = np.ones(n)
    controls = {**_controls(n), "shuffled_captions": None, "image_blind": texplain.copy()}
    verdict = decide(METRIC, texplain, controls, RULE)
    assert verdict.verdict == FAIL
    assert "image_blind" in verdict.reason and "shuffled_captions" not in verdict.reason


def test_an_unmet_gate_leaves_it_inconclusive_even_when_the_values_pass():
    n = 40
    texplain, controls = np.ones(n), _controls(n)
    gate = Gate("the translator names the background of held-out images", met=False, value=0.2)
    verdict = decide(METRIC, texplain, controls, RULE, gates=[Gate("the data is complete", True), gate])
    assert verdict.verdict == INCONCLUSIVE
    assert "quality gate" in verdict.reason and gate.description in verdict.reason and "the data is complete" not in verdict.reason
    assert all(c.beats for c in verdict.comparisons)  # the comparisons are still there for the reader
    # An unmet gate is checked before a fail, too: a verdict resting on it says nothing.
    failing = decide(METRIC, texplain, {**controls, "permuted": texplain}, RULE, gates=[gate])
    assert failing.verdict == INCONCLUSIVE
    assert decide(METRIC, texplain, controls, RULE, gates=[Gate("the data is complete", True)]).verdict == PASS


def test_too_few_images_leave_it_inconclusive():
    few = MIN_IMAGES - 1
    verdict = decide(METRIC, np.ones(few), _controls(few), RULE)
    assert verdict.verdict == INCONCLUSIVE and str(MIN_IMAGES) in verdict.reason and verdict.n == few
    # ... even where a control equals TExplain on every image.
    assert decide(METRIC, np.ones(few), {**_controls(few), "permuted": np.ones(few)}, RULE).verdict == INCONCLUSIVE
    assert decide(METRIC, np.ones(MIN_IMAGES), _controls(MIN_IMAGES), RULE).verdict == PASS


def test_an_interval_that_straddles_says_how_many_images_would_decide():
    n = 30
    rng = np.random.default_rng(11)
    z = rng.normal(size=n)
    noise = 0.03 + 0.3 * (z - z.mean()) / z.std()  # mean exactly ~0.03, wide spread
    controls = _controls(n)
    texplain = np.full(n, 0.5)
    controls["shuffled_captions"] = texplain - noise  # TExplain minus it is `noise`
    controls["image_blind"] = np.full(n, 0.1) + 0.01 * np.arange(n) / n
    verdict = decide(METRIC, texplain, controls, RULE)
    assert verdict.verdict == INCONCLUSIVE
    c = _comparison(verdict, "shuffled_captions")
    assert c.difference == pytest.approx(0.03)
    assert c.low < 0 < c.difference < RULE.min_effect < c.high  # straddles both lines
    assert c.beats is False and c.as_good is False
    assert "straddles" in verdict.reason and "shuffled_captions" in verdict.reason and "image_blind" not in verdict.reason
    assert isinstance(verdict.images_to_decide, int) and verdict.images_to_decide > n
    assert f"about {verdict.images_to_decide} images would decide" in verdict.reason
    # The half-width shrinks as 1/sqrt(n): decided once it falls below the farther of 0 and min_effect.
    half = (c.high - c.low) / 2
    distance = max(c.difference, RULE.min_effect - c.difference)
    assert verdict.images_to_decide == max(n + 1, math.ceil(n * (half / distance) ** 2))


def test_one_seed_is_no_verdict():
    rule = VerdictRule(("random_classifier",), 0.05)
    verdict = decide("retrieval.recall", [0.9], {"random_classifier": [0.1]}, rule, unit="seed")
    assert verdict.verdict == INCONCLUSIVE and "n/a" in verdict.reason and "seed" in verdict.reason
    # Fewer than MIN_IMAGES *seeds* is not the image minimum: five clearly separated seeds decide.
    five = decide("retrieval.recall", [0.9, 0.91, 0.92, 0.9, 0.93], {"random_classifier": [0.1, 0.12, 0.11, 0.1, 0.09]}, rule, unit="seed")
    assert five.verdict == PASS


def test_unpaired_values_are_refused():
    with pytest.raises(ValueError, match="paired"):
        decide(METRIC, np.ones(20), {**_controls(20), "permuted": np.ones(19)}, RULE)


# ---- end to end through the explainer registry --------------------------------------------------------

OBJECTS = ("bird", "car", "boat", "dog", "cat", "horse")
BACKGROUNDS = ("water", "road", "grass", "forest")
# 24 images, each (object, background) pair once.
TRUTH = {f"im{o}{b}": {"object": obj, "background": bg} for o, obj in enumerate(OBJECTS) for b, bg in enumerate(BACKGROUNDS)}
HEADLINE = [m.name for m in METRICS.per_image_metrics("explain.") if m.verdict is not None]


def _sentences(truth: dict) -> list[str]:
    return [f"a {truth['object']} near the {truth['background']}"] * 3


def _inputs(explanations: dict[str, list[str]]) -> ExplainerInputs:
    return ExplainerInputs(
        image_ids=tuple(TRUTH),
        texplain={i: word_stats(s, DEFAULT_FILTER) for i, s in explanations.items()},
        captions={i: (f"a {t['object']} on {t['background']}",) for i, t in TRUTH.items()},
        predicted={i: t["object"] for i, t in TRUTH.items()},
        word_filter=DEFAULT_FILTER,
        seed=0,
    )


FAITHFUL = {i: _sentences(t) for i, t in TRUTH.items()}


def _another_images(image_id: str) -> list[str]:
    """The explanation of the image with the next object and the next background: never this image's."""
    o, b = OBJECTS.index(TRUTH[image_id]["object"]), BACKGROUNDS.index(TRUTH[image_id]["background"])
    return _sentences({"object": OBJECTS[(o + 1) % len(OBJECTS)], "background": BACKGROUNDS[(b + 1) % len(BACKGROUNDS)]})


def _score(explanations: dict[str, list[str]]) -> dict:
    return score_explainers(TRUTH, _inputs(explanations), top_k=2, min_doc_freq=0.0, trained=())


def test_the_headline_metrics_carry_content_rules():
    assert set(HEADLINE) == {
        "explain.object_in_top_k_rate", "explain.background_in_top_k_rate", "explain.object_doc_freq_mean", "explain.background_doc_freq_mean",
    }
    assert all(METRICS.get(name).verdict == content_rule(MIN_EFFECT) for name in HEADLINE)


def test_a_faithful_run_without_its_trained_controls_is_never_a_pass():
    table = _score(FAITHFUL)
    verdicts = explainer_verdicts(table)
    assert verdicts["format"] == 1
    rows = {row["metric"]: row for row in verdicts["rows"]}
    assert list(rows) == HEADLINE
    for metric, row in rows.items():
        assert row["verdict"] == INCONCLUSIVE, (metric, row["reason"])
        assert row["n"] == len(TRUTH) and row["texplain"] == 1.0
        assert "shuffled_captions" in row["reason"] and "random_classifier" in row["reason"] and "controls.trained" in row["reason"]
        assert row["reason"].endswith("--config validate (or controls.trained) runs every trained control")  # what decides it
        comparisons = {c["control"]: c for c in row["comparisons"]}
        assert set(comparisons) == set(CONTENT_CONTROLS)
        for control in ("image_blind", "permuted"):  # run, and clearly beaten
            assert comparisons[control]["beats"] is True and comparisons[control]["low"] > 0
        for control in ("shuffled_captions", "random_classifier"):
            assert comparisons[control]["control_value"] is None and "controls.trained" in comparisons[control]["reason"]
        assert row["ceilings"] == {"truth_captions": 1.0}


@pytest.mark.parametrize("unfaithful", ["image_blind", "another_image"])
def test_an_unfaithful_run_fails(unfaithful):
    if unfaithful == "image_blind":
        explanations = {i: _sentences({"object": "bird", "background": "water"}) for i in TRUTH}  # one list for every image
    else:
        explanations = {i: _another_images(i) for i in TRUTH}
    table = _score(explanations)
    rows = explainer_verdicts(table)["rows"]
    assert [row["metric"] for row in rows] == HEADLINE
    for row in rows:
        assert row["verdict"] == FAIL, (row["metric"], row["reason"])  # a fail does not wait for the trained controls
        assert "image_blind" in row["reason"]
        (blind,) = [c for c in row["comparisons"] if c["control"] == "image_blind"]
        assert blind["as_good"] is True and blind["high"] < MIN_EFFECT
    if unfaithful == "image_blind":
        for row in rows:
            (blind,) = [c for c in row["comparisons"] if c["control"] == "image_blind"]
            assert (blind["difference"], blind["low"], blind["high"]) == (0.0, 0.0, 0.0)


def _with_trained_controls(table: dict, random_classifier_values=None) -> dict:
    """The table with hand-made entries for the trained controls, as if controls.trained had named them."""
    table = copy.deepcopy(table)
    n = len(TRUTH)
    rng = np.random.default_rng(5)
    for name in ("shuffled_captions", "random_classifier"):
        per_image = {metric: [float(v) for v in (rng.random(n) < 0.15)] for metric in HEADLINE}
        if name == "random_classifier" and random_classifier_values is not None:
            per_image = copy.deepcopy(random_classifier_values)
        table[name] = {
            **table[name],
            "metrics": {metric: float(np.mean(v)) for metric, v in per_image.items()},
            "n": n,
            "per_image": per_image,
        }
        table[name].pop("reason", None)
    return table


def test_a_faithful_run_with_every_control_passes():
    table = _with_trained_controls(_score(FAITHFUL))
    rows = explainer_verdicts(table)["rows"]
    assert [row["metric"] for row in rows] == HEADLINE
    for row in rows:
        assert row["verdict"] == PASS, (row["metric"], row["reason"])
        assert {c["control"] for c in row["comparisons"]} == set(CONTENT_CONTROLS)
        for c in row["comparisons"]:
            assert c["beats"] is True and c["low"] > 0 and c["control_value"] is not None
        shuffled = next(c for c in row["comparisons"] if c["control"] == "shuffled_captions")
        difference = np.asarray(table["texplain"]["per_image"][row["metric"]]) - np.asarray(table["shuffled_captions"]["per_image"][row["metric"]])
        interval = mean_interval(difference)
        assert (shuffled["difference"], shuffled["low"], shuffled["high"]) == (float(difference.mean()), interval.low, interval.high)
        assert row["ceilings"] == {"truth_captions": 1.0}


def test_a_run_no_better_than_a_random_classifier_fails():
    faithful = _score(FAITHFUL)
    table = _with_trained_controls(faithful, random_classifier_values=faithful["texplain"]["per_image"])
    rows = explainer_verdicts(table)["rows"]
    for row in rows:
        assert row["verdict"] == FAIL, (row["metric"], row["reason"])
        assert "random_classifier" in row["reason"]
        for c in row["comparisons"]:
            assert c["as_good"] is (c["control"] == "random_classifier")


def test_an_unmet_gate_holds_back_a_pass_through_the_table():
    table = _with_trained_controls(_score(FAITHFUL))
    gate = Gate("the translator names the background of held-out images", met=False, value=0.1)
    rows = explainer_verdicts(table, [gate])["rows"]
    assert rows and all(row["verdict"] == INCONCLUSIVE and gate.description in row["reason"] for row in rows)


def test_no_texplain_no_verdicts():
    table = _score(FAITHFUL)
    table["texplain"] = {**table["texplain"], "metrics": None, "per_image": {}, "reason": "no explanations"}
    assert explainer_verdicts(table)["rows"] == []
    assert "texplain" in EXPLAINERS


# ---- equivalence (decide_equivalent) ------------------------------------------------------------------


def test_equivalent_identical_values_pass():
    from contracts.verdicts import decide_equivalent

    values = np.random.default_rng(0).integers(0, 2, 30).astype(float)
    verdict = decide_equivalent("sanity.erase_background.object_holds", values, values.copy(), 0.1, control="erased_translator")
    assert verdict.verdict == PASS, verdict.reason
    (comparison,) = verdict.comparisons
    assert comparison.control == "erased_translator" and (comparison.difference, comparison.low, comparison.high) == (0.0, 0.0, 0.0)
    assert comparison.as_good is True and comparison.beats is False
    assert verdict.min_effect == 0.1 and verdict.n == 30 and verdict.texplain == float(values.mean())
    assert verdict.to_json()["comparisons"][0]["control_value"] == float(values.mean())


def test_equivalent_a_constant_gap_fails():
    from contracts.verdicts import decide_equivalent

    a = np.full(30, 0.8)
    verdict = decide_equivalent("m", a, a - 0.5, 0.1)
    assert verdict.verdict == FAIL, verdict.reason
    (comparison,) = verdict.comparisons
    assert comparison.difference == pytest.approx(0.5) and comparison.low == pytest.approx(0.5) and comparison.as_good is False
    # The other side fails the same way.
    assert decide_equivalent("m", a - 0.5, a, 0.1).verdict == FAIL


def test_equivalent_a_noisy_difference_on_few_images_is_inconclusive_and_says_how_many_would_decide():
    from contracts.verdicts import decide_equivalent

    rng = np.random.default_rng(2)
    a, b = rng.integers(0, 2, 12).astype(float), rng.integers(0, 2, 12).astype(float)
    verdict = decide_equivalent("m", a, b, 0.1)
    assert verdict.verdict == INCONCLUSIVE, verdict.reason
    (comparison,) = verdict.comparisons
    assert comparison.low < -0.1 and comparison.high > 0.1  # the interval crosses both margins
    assert verdict.images_to_decide > 12 and f"about {verdict.images_to_decide} images would decide" in verdict.reason


def test_equivalent_gates_and_counts_hold_back_a_verdict():
    from contracts.verdicts import decide_equivalent

    same = np.ones(30)
    gate = Gate("the translator does not name background to begin with", met=False, value=0.2)
    held = decide_equivalent("m", same, same, 0.1, [gate])
    assert held.verdict == INCONCLUSIVE and gate.description in held.reason
    few = decide_equivalent("m", np.ones(MIN_IMAGES - 1), np.ones(MIN_IMAGES - 1), 0.1)
    assert few.verdict == INCONCLUSIVE and f"at least {MIN_IMAGES}" in few.reason
    assert decide_equivalent("m", [1.0], [1.0], 0.1, unit="seed").verdict == INCONCLUSIVE
    assert decide_equivalent("m", [], [], 0.1).verdict == INCONCLUSIVE
    with pytest.raises(ValueError, match="paired"):
        decide_equivalent("m", np.ones(3), np.ones(4), 0.1)
    with pytest.raises(ValueError, match="margin"):
        decide_equivalent("m", same, same, 0.0)


def test_over_seeds_the_interval_is_students_t_not_a_bootstrap():
    """Golden t interval (scipy.stats.t.ppf(0.975, 2) = 4.303): differences 0.1, 0.2, 0.3 have mean 0.2 and
    standard error 0.1 / sqrt(3), so [0.2 - 0.2484, 0.2 + 0.2484]: inconclusive, where a bootstrap over the three
    values (lower end about 0.1) would have passed. Every row records its unit."""
    seeds = decide("m", [0.6, 0.7, 0.8], {"c": [0.5, 0.5, 0.5]}, VerdictRule(("c",), 0.05), unit="seed")
    c = seeds.comparisons[0]
    half = 4.302652729911275 * 0.1 / math.sqrt(3)
    assert (c.low, c.high) == pytest.approx((0.2 - half, 0.2 + half), abs=1e-9)
    assert seeds.verdict == INCONCLUSIVE and seeds.unit == "seed" and seeds.to_json()["unit"] == "seed"
    assert mean_interval(np.array([0.1, 0.2, 0.3])).low > 0  # what a bootstrap would have said
    many = decide("m", [0.7] * 4 + [0.72] * 4, {"c": [0.5] * 8}, VerdictRule(("c",), 0.05), unit="seed")
    assert many.verdict == PASS
    assert decide("m", [0.7] * 12, {"c": [0.5] * 12}, VerdictRule(("c",), 0.05)).unit == "image"
