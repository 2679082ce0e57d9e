"""Verdicts of the Waterbirds suite's headlines (contracts/verdicts.py): does masking the images TExplain selects
raise the worst group more than the controls do, and do the explanations of the ERM model name the planted
place more than those of a model trained on a balanced copy?

The unit of both is a trained model, not an image: a worst-group accuracy is one number per fine-tuned model,
and most of its noise is the training run's (measured here: at 3 seeds every method's mean change was within
one standard deviation of 0). So each comparison is paired by seed (every seed's methods start from that
seed's ERM model and are scored on the same test images) and decided over seeds:

- ``waterbirds.worst_group.<texplain method>``: the TExplain-masked
  model against ``erm`` (no mitigation), ``randmask`` (as many images, random rectangles of TExplain's mask
  areas), ``randmask_all`` (every image, the paper's RandMask) and ``masktune`` (every image, MaskTune's
  masks); min effect ``MIN_EFFECT`` (2 accuracy points). They rest on a gate: ERM's worst group lies at least
  ``MIN_EFFECT`` below its test accuracy (there is a shortcut to mitigate); without it no method can beat ERM
  and a "fail" would say nothing about TExplain.
- ``waterbirds.detect.doc_freq_difference.mean``: the share of sentences naming the planted place, ERM model
  against ``balanced_model``; min effect ``DETECT_MIN_EFFECT``. Detection runs at seed 0 only (one ERM and one
  balanced model, each with one translator), so it is inconclusive: one seed.

Over seeds the interval is Student's t (contracts/intervals.py seed_interval), not a bootstrap: a bootstrap
over 3 values is about their range (a pass would need only all three changes positive, a chance of 1 in 8 when
nothing changes), while the t interval widens with the few degrees of freedom there are. Fewer than
``MIN_SEEDS`` seeds (the paper's 3) decide nothing.
"""

from __future__ import annotations

import numpy as np

from contracts.verdicts import INCONCLUSIVE, Gate, Verdict, VerdictRule, decide

MIN_EFFECT = 0.02  # accuracy (2 points): a smaller difference of worst-group or test accuracy does not matter
DETECT_MIN_EFFECT = 0.05  # share of sentences naming the planted place
MIN_SEEDS = 3  # the paper's Table 2; with the t interval, 3 seeds decide only a large, consistent change
TEXPLAIN_METHODS = ("texplain_class_cam", "texplain_word_cam")
MITIGATION_CONTROLS = ("erm", "randmask", "randmask_all", "masktune")
MITIGATION_RULE = VerdictRule(MITIGATION_CONTROLS, MIN_EFFECT, (), "mitigation")
DETECT_RULE = VerdictRule(("balanced_model",), DETECT_MIN_EFFECT, (), "classifier")
DECIDES = f"a run with at least {MIN_SEEDS} seeds can decide it (--set suites.waterbirds.seeds={MIN_SEEDS} or more)"
CONTROLS_MEAN = ("paired by seed; erm: the unmitigated model; randmask: as many images as TExplain masked, random rectangles of "
                 "its mask areas; randmask_all: every image so masked; masktune: every image masked by MaskTune's GradCAM")


def seed_gate(seeds: int) -> list[Gate]:
    """The gate on the number of seeds; one seed is left to held_back, whose reason names it."""
    if seeds < 2:
        return []
    return [Gate(f"{seeds} seeds: fewer than {MIN_SEEDS} trained models per method decide nothing", met=seeds >= MIN_SEEDS, value=float(seeds))]


def shortcut_gate(per_seed: dict[str, list]) -> Gate:
    """ERM's worst group lies at least MIN_EFFECT below its test accuracy, mean over seeds."""
    gap = float(np.mean([run.avg_test - run.worst_group for run in per_seed["erm"]]))
    met = gap >= MIN_EFFECT
    described = (f"ERM's worst group lies {gap:.3f} below its test accuracy (gate: {MIN_EFFECT:g}), a shortcut to mitigate" if met else
                 f"ERM's worst group lies only {gap:.3f} below its test accuracy (gate: {MIN_EFFECT:g}): there is no shortcut for "
                 "a mitigation to remove, so no method can show it beats ERM")
    return Gate(described, met, gap)


def _with_seeds_hint(verdict: Verdict, seeds: int, why: str = "") -> Verdict:
    """An undecided verdict over too few seeds says what decides it."""
    if verdict.verdict == INCONCLUSIVE and seeds < MIN_SEEDS:
        verdict.reason += f"; {why or DECIDES}"
    return verdict


def mitigation_verdicts(per_seed: dict[str, list]) -> list[Verdict]:
    """Per TExplain method that ran, its worst-group and test accuracy against every control, paired by seed.

    per_seed: method -> one GroupAccuracy per seed (suite.per_seed_accuracy), ERM's included."""
    if "erm" not in per_seed:
        return []
    seeds = len(per_seed["erm"])
    shortcut = shortcut_gate(per_seed)
    # With one seed, held_back's own reason (one seed) leads, and an unmet shortcut gate is added after it.
    gates = [shortcut, *seed_gate(seeds)] if seeds > 1 else []
    rows = []
    for method in (m for m in TEXPLAIN_METHODS if m in per_seed):
        # Worst group only: a mitigation that works keeps test accuracy about where ERM has it, so "must beat
        # ERM" on test accuracy would call the good case a fail; test accuracy is reported, not judged.
        for name in ("worst_group",):
            controls = {c: [getattr(run, name) for run in per_seed[c]] if c in per_seed else None for c in MITIGATION_CONTROLS}
            not_run = {c: "not in this run's methods" for c in MITIGATION_CONTROLS if c not in per_seed}
            verdict = decide(f"waterbirds.{name}.{method}", [getattr(run, name) for run in per_seed[method]], controls,
                             MITIGATION_RULE, gates, unit="seed", not_run=not_run)
            verdict = _with_seeds_hint(verdict, seeds)
            if seeds < 2 and not shortcut.met:
                verdict.reason += f"; besides, {shortcut.description}"
            verdict.reason += f" ({CONTROLS_MEAN})"
            rows.append(verdict)
    return rows


def detection_verdict(metrics: dict[str, float]) -> Verdict | None:
    """detect.doc_freq_difference.mean as a verdict: the ERM model's explanations against the balanced model's,
    one value per seed detection ran at (seed 0 only, today); None when detection was not scored."""
    classes = sorted(k.rsplit(".", 1)[1] for k in metrics if k.startswith("detect.doc_freq_difference.") and not k.endswith(".mean"))
    if not classes:
        return None
    erm = [float(np.mean([metrics[f"detect.doc_freq.erm.{c}"] for c in classes]))]
    balanced = [float(np.mean([metrics[f"detect.doc_freq.balanced.{c}"] for c in classes]))]
    verdict = decide("waterbirds.detect.doc_freq_difference.mean", erm, {"balanced_model": balanced}, DETECT_RULE, unit="seed")
    return _with_seeds_hint(verdict, len(erm), "detection runs at seed 0 only (one ERM and one balanced model, each with one "
                                              "translator); repeating it over seeds, which the suite does not do yet, can decide it")
