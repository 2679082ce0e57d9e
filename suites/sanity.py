"""The sanity suite: does the explanation stop naming a concept once the features no longer carry it?

This suite tests the explainer itself, not a world's shortcut. It erases one concept (an image's background,
or its object) from the run's classifier tokens with a guarantee, retrains the translator on the erased
tokens with the same captions and the run's recipe, and asks whether the retrained translator's explanations
stop naming the erased concept while they keep naming the other one. An explainer that names the background
because the language model guesses it from the object (the caption prior), not because the features carry
it, keeps naming it after erasure, and fails.

Erasure is LEACE (Belrose et al., "LEACE: Perfect linear concept erasure in closed form", NeurIPS 2023; after
Ravfogel et al.'s iterative nullspace projection, ACL 2020): the least-squares affine map that makes the
class-conditional means of its input equal, after which no linear classifier predicts the concept better
than a constant (their Theorem: linear guardedness holds iff the class-conditional means are equal). The
tokens are (T, D) per image; one eraser is fitted per token position t on tokens[:, t, :]. Equal
class-conditional means at every position are equal class-conditional means of the flattened (T*D) vector,
which is their concatenation, so no linear function of all tokens together (nor of their mean) beats chance
either. Per-position erasure may remove more than one eraser on the flattened vector would (up to
T*(k-1) directions rather than k-1), but it stays a rank-(k-1) change per position and needs a D x D
covariance, not a T*D x T*D one. The erasers are fitted on the translator's training items only and applied
to every image, so nothing about the evaluated images enters the fit.

For each arm (concept c erased, the other concept o kept):

1. labels z_i = the true c word of every image (the data's truth; without it the suite yields no records);
2. LEACE per token position, fitted on the training items, applied to all images (kept in the tokens' dtype);
3. probes on the validation and held-out items, trained on the training items, before and after erasure:
   multinomial logistic regression (full batch, L2, L-BFGS) on the mean-pooled and on the flattened tokens,
   and an MLP (one hidden layer of 256, ReLU, Adam) on the mean-pooled tokens; each accuracy beside chance
   (the majority class's share of the evaluation items) and its Wilson 95% interval (statsmodels): a probe
   is "at chance" when chance lies inside that interval. Reported, not tuned: the MLP may read what a
   linear eraser leaves (LEACE guards linear probes only);
4. a translator trained on the erased tokens with the run's captions, items and recipe
   (``context.train_translator``), explaining the held-out images as TExplain's are explained;
5. per held-out image: whether c and o are in the top-k words (k = explain.top_k, explain.min_doc_freq, the
   run's word filter) of TExplain's explanation and of the erased translator's, and the *kept-concept
   prior*: whether the image's true c word is in the top-k words of the training captions of the training
   images that share its o (what an explainer knowing only o would name as c);
6. two verdicts (contracts/verdicts.py): ``sanity.erase_<c>.<c>_falls`` (TExplain's c rate minus the erased
   translator's: pass when the interval lies above 0 and the erased rate is not above the kept-concept prior
   by min_effect or more; fail when the whole interval lies below min_effect) and ``sanity.erase_<c>.<o>_holds``
   (an equivalence check of the o rates within ±holds_margin). Both rest on a quality gate: the run's own
   translator names c for at least gate_rate_<c> of the held-out images (else erasure has nothing to remove);
   a smoke run (--limit) or fewer than 10 images is inconclusive.

Outside a run (a context without the run's training data, e.g. the suite contract test's), the suite renders
a synthetic world of its own (standalone_* settings) and trains both translators, the original and the erased
one, on it with the run's recipe.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import torch

from contracts.intervals import mean_interval
from contracts.run_context import CaptionedFeatures, TrainingData
from contracts.suite import SUITES, StepSeconds, Suite
from contracts.verdicts import (
    FAIL,
    INCONCLUSIVE,
    PASS,
    Comparison,
    Gate,
    Verdict,
    decide_equivalent,
    held_back,
)
from harness.worlds.default_world import make_world
from harness.worlds.scene import WorldSpec
from texplain.hashing import hash_json
from texplain.words import WordFilter, WordStats, word_stats

CONCEPTS = ("background", "object")
PROBES = ("linear_mean", "linear_flat", "mlp_mean")
PROBE_TEXT = {
    "linear_mean": "logistic regression on the mean-pooled tokens",
    "linear_flat": "logistic regression on the flattened tokens (all positions)",
    "mlp_mean": "MLP (256 ReLU) on the mean-pooled tokens",
}
ERASED = "erased_translator"  # the comparison's name in the verdict rows
PRIOR = "kept_concept_prior"  # the ceiling-like entry of the <c>_falls rows
METHOD = "leace-per-position"
NO_TRUTH = "the data has no truth (an object and a background word for every image): nothing to erase or score"


def other_concept(concept: str) -> str:
    return CONCEPTS[1 - CONCEPTS.index(concept)]


@dataclass(frozen=True)
class SanityConfig:
    """The sanity suite's settings: the run config's ``suites.sanity`` section."""

    enabled: bool = True
    arms: tuple[str, ...] = ("background", "object")  # the concepts erased, one arm each
    holds_margin: float = 0.1  # <o>_holds passes when TExplain - erased on the kept concept lies within ±this
    min_effect: float = 0.05  # a difference of rates smaller than this does not matter (as harness/metrics/explain.py)
    # Quality gate: the run's own translator names the concept in its top-k for at least this share of held-out images.
    gate_rate_background: float = 0.9
    gate_rate_object: float = 0.5
    probe_steps: int = 300  # L-BFGS iterations of the linear probes, Adam steps of the MLP probe
    probe_l2: float = 1e-3  # L2 penalty of every probe (on standardized inputs)
    # Outside a run only (no training data in the context): the synthetic world the suite renders for itself.
    standalone_images: int = 480
    standalone_image_size: int = 224
    standalone_held_out: int = 48
    standalone_val: int = 48

    def __post_init__(self) -> None:
        if not self.arms:
            raise ValueError("suites.sanity.arms must name at least one concept")
        unknown = [a for a in self.arms if a not in CONCEPTS]
        if unknown or len(set(self.arms)) != len(self.arms):
            raise ValueError(f"suites.sanity.arms must be distinct concepts of {list(CONCEPTS)}, got {list(self.arms)}")
        for name in ("holds_margin", "min_effect", "probe_l2"):
            if not getattr(self, name) > 0:
                raise ValueError(f"suites.sanity.{name} must be positive, got {getattr(self, name)}")
        for concept in CONCEPTS:
            if not 0.0 <= self.gate_rate(concept) <= 1.0:
                raise ValueError(f"suites.sanity.gate_rate_{concept} must be in [0, 1], got {self.gate_rate(concept)}")
        for name in ("probe_steps", "standalone_held_out", "standalone_val"):
            if getattr(self, name) < 1:
                raise ValueError(f"suites.sanity.{name} must be >= 1, got {getattr(self, name)}")
        if self.standalone_images < self.standalone_held_out + self.standalone_val + 4:
            raise ValueError("suites.sanity.standalone_images must exceed standalone_held_out + standalone_val by at least 4 (training images)")

    def gate_rate(self, concept: str) -> float:
        return getattr(self, f"gate_rate_{concept}")


# ----------------------------------------------------------------------------------------------
# Erasure
# ----------------------------------------------------------------------------------------------


def label_codes(labels: list[str], fit_items: list[int]) -> tuple[list[str], np.ndarray]:
    """The classes seen on the fitted items (sorted) and every item's index into them (-1: not seen there)."""
    classes = sorted({labels[i] for i in fit_items})
    index = {c: k for k, c in enumerate(classes)}
    return classes, np.array([index.get(label, -1) for label in labels], dtype=np.int64)


def erase_per_position(tokens: torch.Tensor, labels: list[str], fit_items: list[int]) -> torch.Tensor:
    """LEACE per token position: for each t an eraser fitted on tokens[fit_items, t, :] (float32) against the
    one-hot labels, applied to tokens[:, t, :] of every item. Returns (N, T, D) in the tokens' dtype.

    Equal class-conditional means at every position (what each eraser guarantees on the fitted items) are
    equal class-conditional means of the flattened tokens, so no linear function of all positions together
    predicts the label better than a constant there. A concept constant on the fitted items has nothing
    to erase: the tokens come back unchanged."""
    from concept_erasure import LeaceEraser

    if tokens.ndim != 3:
        raise ValueError(f"tokens must be (N, T, D), got {tuple(tokens.shape)}")
    if len(labels) != tokens.shape[0]:
        raise ValueError(f"{len(labels)} labels for {tokens.shape[0]} items")
    classes, codes = label_codes(labels, fit_items)
    if len(classes) < 2:
        return tokens.clone()
    fit = torch.as_tensor(list(fit_items), dtype=torch.long)
    z = torch.nn.functional.one_hot(torch.as_tensor(codes[fit.numpy()]), len(classes)).float()
    erased = torch.empty(tokens.shape, dtype=torch.float32)
    with torch.no_grad():
        for t in range(tokens.shape[1]):
            eraser = LeaceEraser.fit(tokens[fit, t, :].float(), z)
            erased[:, t, :] = eraser(tokens[:, t, :].float())
    return erased.to(tokens.dtype)


# ----------------------------------------------------------------------------------------------
# Probes
# ----------------------------------------------------------------------------------------------


def _standardize(train: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Centred on the training items' mean and divided by one scalar (their RMS): a linear change that leaves
    no direction stretched (per-feature scaling would blow up the near-constant directions erasure leaves)."""
    mean = train.mean(dim=0)
    scale = (train.pow(2).mean(dim=0) - mean.pow(2)).clamp_min(0).mean().sqrt().clamp_min(1e-12)
    return (x - mean) / scale


def _row_space(train: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Each row of `x` in an orthonormal basis of the span of the training rows, (N, r) with r <= n_train.

    An L2-penalised linear model's weights lie in that span (the representer theorem: a part orthogonal to
    every training row changes no training logit and only adds to the penalty), so a probe on these
    coordinates is the same probe as on all F inputs, at n_train inputs instead of F (the flattened tokens
    have T*D). Directions with less than 1e-6 of the largest variance are left out (rounding)."""
    gram = (train @ train.T).double()
    eigenvalues, vectors = torch.linalg.eigh(gram)
    keep = eigenvalues > eigenvalues.max().clamp_min(1e-30) * 1e-6
    basis = (vectors[:, keep] / eigenvalues[keep].sqrt()).float()  # (n_train, r): V = train.T @ basis
    return (x @ train.T) @ basis


def _fit_linear(x: torch.Tensor, y: torch.Tensor, num_classes: int, l2: float, steps: int):
    weight = torch.zeros(x.shape[1], num_classes, requires_grad=True)
    bias = torch.zeros(num_classes, requires_grad=True)
    optimizer = torch.optim.LBFGS([weight, bias], lr=1.0, max_iter=steps, history_size=20, line_search_fn="strong_wolfe",
                                  tolerance_grad=1e-7, tolerance_change=1e-10)

    def closure():
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(x @ weight + bias, y) + 0.5 * l2 * weight.pow(2).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    return lambda inputs: (inputs @ weight + bias).argmax(dim=1)


def _fit_mlp(x: torch.Tensor, y: torch.Tensor, num_classes: int, l2: float, steps: int, seed: int):
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        net = torch.nn.Sequential(torch.nn.Linear(x.shape[1], 256), torch.nn.ReLU(), torch.nn.Linear(256, num_classes))
    finally:
        torch.random.set_rng_state(generator_state)  # the caller's random stream is left as it was
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-2, weight_decay=l2)
    for _ in range(steps):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(net(x), y).backward()
        optimizer.step()
    return lambda inputs: net(inputs).argmax(dim=1)


def probe_accuracies(tokens: torch.Tensor, labels: list[str], train_items: list[int], eval_items: list[int],
                     steps: int = 300, l2: float = 1e-3, seed: int = 0) -> dict[str, dict]:
    """Each probe (PROBES) trained on `train_items` and scored on `eval_items`: {probe: {"accuracy", "correct",
    "n", "chance", "interval", "at_chance", "above_chance"}}. Chance is the majority class's share of the
    evaluation items; "interval" the Wilson 95% interval of the accuracy (statsmodels proportion_confint);
    "at_chance": chance lies inside it; "above_chance": its lower end lies above chance. With fewer than two
    classes on the training items no probe can be trained: every entry says so under "reason"."""
    from statsmodels.stats.proportion import proportion_confint

    classes, codes = label_codes(labels, train_items)
    evaluated = [labels[i] for i in eval_items]
    counts = {label: evaluated.count(label) for label in set(evaluated)}
    chance = max(counts.values()) / len(evaluated) if evaluated else None
    if len(classes) < 2 or not eval_items:
        reason = "fewer than two classes on the training items" if len(classes) < 2 else "no evaluation items"
        return {name: {"accuracy": None, "chance": chance, "n": len(eval_items), "reason": reason} for name in PROBES}
    train = torch.as_tensor(list(train_items), dtype=torch.long)
    evaluate = torch.as_tensor(list(eval_items), dtype=torch.long)
    y_train = torch.as_tensor(codes[train.numpy()])
    y_eval = torch.as_tensor(codes[evaluate.numpy()])  # -1 (a class never trained on) is never predicted
    tokens = tokens.float()
    inputs = {"mean": tokens.mean(dim=1), "flat": tokens.reshape(tokens.shape[0], -1)}
    results = {}
    with torch.enable_grad():
        for name in PROBES:
            kind, pooling = name.split("_")
            x = _standardize(inputs[pooling][train], inputs[pooling])
            if kind == "linear":
                if x.shape[1] > len(train_items):
                    x = _row_space(x[train], x)
                predict = _fit_linear(x[train], y_train, len(classes), l2, steps)
            else:
                predict = _fit_mlp(x[train], y_train, len(classes), l2, steps, seed)
            with torch.no_grad():
                correct = int((predict(x[evaluate]) == y_eval).sum())
            n = len(eval_items)
            low, high = proportion_confint(correct, n, alpha=0.05, method="wilson")
            results[name] = {
                "accuracy": correct / n, "correct": correct, "n": n, "chance": chance, "interval": [float(low), float(high)],
                "at_chance": bool(low <= chance <= high), "above_chance": bool(low > chance),
            }
    return results


# ----------------------------------------------------------------------------------------------
# Per-image values
# ----------------------------------------------------------------------------------------------


def top_words(stats: WordStats, k: int, min_doc_freq: float) -> list[str]:
    return [word for word, _ in stats.top_k(k, min_doc_freq=min_doc_freq)]


def kept_concept_priors(captions: list[list[str]], truth: list[dict], train_items: list[int], kept: str,
                        word_filter: WordFilter, k: int, min_doc_freq: float) -> dict[str, list[str]]:
    """For each value of the kept concept: the top-k words of the pooled training captions of the training
    images with that value (what an explainer that knows only the kept concept would name)."""
    groups: dict[str, list[str]] = {}
    for i in train_items:
        groups.setdefault(truth[i][kept], []).extend(captions[i])
    return {value: top_words(word_stats(texts, word_filter), k, min_doc_freq) for value, texts in sorted(groups.items())}


def per_image_names(concept: str) -> dict[str, str]:
    """The per-image metrics of an arm: role -> metric name."""
    o = other_concept(concept)
    arm = f"erase_{concept}"
    return {
        "texplain_c": f"{arm}.texplain_{concept}_rate",
        "texplain_o": f"{arm}.texplain_{o}_rate",
        "erased_c": f"{arm}.erased_{concept}_rate",
        "erased_o": f"{arm}.erased_{o}_rate",
        "drop_c": f"{arm}.{concept}_drop",
        "drop_o": f"{arm}.{o}_drop",
        "over_prior": f"{arm}.erased_{concept}_over_prior",
    }


def arm_record(concept: str, image_id: str, truth: dict, texplain: list[str], erased: list[str], prior: list[str],
               probes: dict, facts: dict, path: str | None = None) -> dict:
    """One held-out image's record of an arm, from the top-k words of TExplain, of the erased translator and of
    the kept-concept prior. The prior is a reference, not a metric: it sits under "kept_concept_prior" (its
    per-image flag "named"), outside per_image_metrics. The arm's probes and facts ride on every record, so that
    aggregate, tables and verdicts read the records alone."""
    o = other_concept(concept)
    names = per_image_names(concept)
    named = float(truth[concept] in prior)
    values = {"texplain_c": float(truth[concept] in texplain), "texplain_o": float(truth[o] in texplain),
              "erased_c": float(truth[concept] in erased), "erased_o": float(truth[o] in erased)}
    values["drop_c"] = values["texplain_c"] - values["erased_c"]
    values["drop_o"] = values["texplain_o"] - values["erased_o"]
    values["over_prior"] = values["erased_c"] - named
    return {
        "image_id": f"erase_{concept}/{image_id}",
        "image": image_id,
        "path": path,
        "arm": concept,
        "kept": o,
        "truth": {concept: truth[concept], o: truth[o]},
        "top_k_words": {"texplain": list(texplain), "erased": list(erased)},
        "kept_concept_prior": {"named": named, "top_k_words": list(prior)},
        "per_image_metrics": {names[role]: value for role, value in values.items()},
        "probes": probes,
        "facts": facts,
    }


def prior_values(records: list[dict]) -> np.ndarray:
    return np.array([r["kept_concept_prior"]["named"] for r in records], dtype=np.float64)


# ----------------------------------------------------------------------------------------------
# Verdicts
# ----------------------------------------------------------------------------------------------


def _to_decide(difference: float, low: float, high: float, n: int, lines: tuple[float, ...]) -> int | None:
    """About how many images would bring the interval's half-width (shrinking as 1/sqrt(n)) below the distance
    from the difference to the farthest line it must clear (decide()'s estimate)."""
    half = (high - low) / 2
    distance = max(abs(difference - line) for line in lines)
    if distance == 0:
        return None
    return max(n + 1, math.ceil(n * (half / distance) ** 2))


def arm_gates(concept: str, records: list[dict], config: SanityConfig) -> list[Gate]:
    """The gates both verdicts of an arm rest on: the run's translator names the concept to begin with, and
    the run is not a smoke run."""
    names = per_image_names(concept)
    rates = [r["per_image_metrics"][names["texplain_c"]] for r in records]
    rate = float(np.mean(rates)) if rates else 0.0
    k = records[0]["facts"]["top_k"] if records else "k"
    needed = config.gate_rate(concept)
    met = rate >= needed
    described = (f"the run's translator names {concept} in its top-{k} for {rate:.3f} of held-out images (gate: {needed:g})"
                 if met else
                 f"the translator does not name {concept} to begin with ({rate:.3f} of held-out images have it in the top-{k}; the gate is {needed:g})")
    limit = records[0]["facts"].get("limit") if records else None
    smoke = Gate(f"a smoke run (--limit {limit}) decides nothing", met=limit is None)
    return [Gate(described, met, rate), smoke]


def falls_verdict(concept: str, records: list[dict], config: SanityConfig, gates: list[Gate]) -> Verdict:
    """sanity.erase_<c>.<c>_falls: does erasing c make the retrained translator stop naming c, down to what the
    kept concept alone predicts?"""
    names = per_image_names(concept)
    metric = f"sanity.erase_{concept}.{concept}_falls"
    texplain = np.array([r["per_image_metrics"][names["texplain_c"]] for r in records], dtype=np.float64)
    erased = np.array([r["per_image_metrics"][names["erased_c"]] for r in records], dtype=np.float64)
    prior = prior_values(records)
    n, effect = len(records), config.min_effect
    comparison = Comparison(ERASED, float(erased.mean()) if n else None, float((texplain - erased).mean()) if n else None,
                            reason=None if n else "no images")
    interval = mean_interval(texplain - erased) if n >= 2 else None
    if interval is not None:
        comparison.low, comparison.high = interval.low, interval.high
        comparison.beats = interval.low > 0
        comparison.as_good = interval.high < effect
    ceilings = {PRIOR: float(prior.mean()) if n else None}
    mean = float(texplain.mean()) if n else float("nan")

    def verdict(kind: str, reason: str, to_decide: int | None = None) -> Verdict:
        return Verdict(metric, kind, reason, mean, n, effect, "explainer", [comparison], ceilings, to_decide)

    held = held_back(gates, n)
    if held is not None:
        return verdict(INCONCLUSIVE, held)
    if interval is None:
        return verdict(INCONCLUSIVE, f"{n} images: no interval")
    falls = f"TExplain − erased {comparison.difference:+.3f} [{interval.low:+.3f}, {interval.high:+.3f}]"
    if comparison.as_good:
        return verdict(FAIL, f"erasing {concept} did not stop the explanations naming it: {falls}, the whole interval below {effect:g}")
    leak = mean_interval(erased - prior)
    over = float((erased - prior).mean())
    leak_text = (f"erased − kept-concept prior {over:+.3f} [{leak.low:+.3f}, {leak.high:+.3f}]" if leak is not None
                 else f"erased − kept-concept prior {over:+.3f}")
    leak_low = leak.low if leak is not None else over
    if comparison.beats and leak_low < effect:
        return verdict(PASS, f"{concept} falls after erasure ({falls}, above 0) to what the kept {other_concept(concept)} "
                             f"alone predicts ({leak_text}, lower end below {effect:g})")
    if comparison.beats:
        return verdict(INCONCLUSIVE, f"{concept} falls ({falls}) but the erased translator still names it more often than the "
                                     f"kept-concept prior by {effect:g} or more ({leak_text}): something beyond the kept "
                                     f"{other_concept(concept)} still tells it {concept} (a non-linear trace LEACE leaves?)")
    to_decide = _to_decide(comparison.difference, interval.low, interval.high, n, (0.0, effect))
    more = f"; about {to_decide} images would decide" if to_decide else ""
    return verdict(INCONCLUSIVE, f"the interval of TExplain − erased straddles 0 or {effect:g} ({falls}){more}", to_decide)


def arm_verdicts(concept: str, records: list[dict], config: SanityConfig) -> list[Verdict]:
    """The two verdicts of one arm, from its records (one per held-out image)."""
    o = other_concept(concept)
    names = per_image_names(concept)
    gates = arm_gates(concept, records, config)
    holds = decide_equivalent(
        f"sanity.erase_{concept}.{o}_holds",
        [r["per_image_metrics"][names["texplain_o"]] for r in records],
        [r["per_image_metrics"][names["erased_o"]] for r in records],
        config.holds_margin, gates, control=ERASED, tests="explainer",
    )
    return [falls_verdict(concept, records, config, gates), holds]


def no_truth_verdicts(concept: str, reason: str, config: SanityConfig) -> list[Verdict]:
    o = other_concept(concept)
    return [Verdict(f"sanity.erase_{concept}.{concept}_falls", INCONCLUSIVE, reason, float("nan"), 0, config.min_effect, "explainer",
                    [Comparison(ERASED, None, reason="not run")], {PRIOR: None}),
            Verdict(f"sanity.erase_{concept}.{o}_holds", INCONCLUSIVE, reason, float("nan"), 0, config.holds_margin, "explainer",
                    [Comparison(ERASED, None, reason="not run")])]


# ----------------------------------------------------------------------------------------------
# The metric tables
# ----------------------------------------------------------------------------------------------


def _metric_tables() -> tuple[dict[str, str], dict[str, bool]]:
    definitions: dict[str, str] = {}
    directions: dict[str, bool] = {}
    for c in CONCEPTS:
        o = other_concept(c)
        arm = f"erase_{c}"
        entries = [
            (f"{arm}.texplain_{c}_rate", True, f"share of held-out images whose true {c} word is in the top-k words of TExplain's explanation (the run's translator)"),
            (f"{arm}.texplain_{o}_rate", True, f"share of held-out images whose true {o} word is in the top-k words of TExplain's explanation"),
            (f"{arm}.erased_{c}_rate", False, f"share of held-out images whose true {c} word is in the top-k words of the translator retrained on tokens "
                                              f"with {c} erased (LEACE per position): lower means erasure removed what it named"),
            (f"{arm}.erased_{o}_rate", True, f"share of held-out images whose true {o} word is in the top-k words of the {c}-erased translator's explanation"),
            (f"{arm}.{c}_drop", True, f"TExplain's {c} rate minus the {c}-erased translator's (per image paired): how far naming {c} falls"),
            (f"{arm}.{o}_drop", False, f"TExplain's {o} rate minus the {c}-erased translator's: how far naming the kept {o} falls (near 0 is faithful)"),
            (f"{arm}.erased_{c}_over_prior", False, f"the {c}-erased translator's {c} rate minus the kept-concept prior's (the top-k words of the training "
                                                    f"captions of training images with the same {o}): what it still names beyond what {o} predicts"),
            (f"{arm}.probes_above_chance_after", False, f"probes whose accuracy on {c} after erasure lies above chance (Wilson 95% interval), of {len(PROBES)}"),
        ]
        for name, higher, text in entries:
            definitions[name] = text
            directions[name] = higher
        definitions[f"{arm}.num_images"] = f"held-out images scored in the {c} arm"
    definitions["erase_<arm>.probe.<probe>.after"] = ("accuracy of the probe (linear_mean, linear_flat: logistic regression on mean-pooled or flattened "
                                                       "tokens; mlp_mean: 256-unit MLP) on the erased concept after erasure, on validation and held-out images")
    definitions["erase_<arm>.probe.<probe>.removed"] = "the probe's accuracy before erasure minus after: how much erasure removed"
    for c in CONCEPTS:
        for probe in PROBES:
            directions[f"erase_{c}.probe.{probe}.after"] = False
            directions[f"erase_{c}.probe.{probe}.removed"] = True
    definitions["num_images"] = "records: held-out images times arms"
    return definitions, directions


_DEFINITIONS, _DIRECTIONS = _metric_tables()


@SUITES.register("sanity")
class SanitySuite(Suite):
    name = "sanity"
    version = 1
    config_class = SanityConfig
    definitions = _DEFINITIONS
    higher_is_better = _DIRECTIONS
    headline = ("erase_<arm>.<concept>_drop", "erase_<arm>.erased_<concept>_rate")
    # A 40-image world of its own at 64 px (the contract test's context carries no training data), one arm.
    tiny_options = {"arms": ("background",), "standalone_images": 40, "standalone_image_size": 64, "standalone_held_out": 12,
                    "standalone_val": 8, "probe_steps": 50}

    # ------------------------------------------------------------------------------------------
    # Data
    # ------------------------------------------------------------------------------------------

    def _standalone(self, context) -> tuple[TrainingData, dict[str, list[str]]]:
        """A synthetic world of the suite's own, its features, and TExplain on it: a translator trained on its
        training images with the run's recipe, explaining its held-out images."""
        cfg = self.config
        world = getattr(context.config, "world", None)
        spec = WorldSpec(num_images=cfg.standalone_images, image_size=cfg.standalone_image_size, seed=getattr(world, "seed", 0))
        root = context.cache_root / "worlds" / hash_json(spec.to_json())[:16]
        with self._timed("data"):
            with context.workers.main_first():
                scenes = make_world(spec, root, progress=context.progress)
            paths = [root / "images" / f"{s.image_id}.png" for s in scenes]
            tokens = context.extract(paths).tokens
        held, val = cfg.standalone_held_out, cfg.standalone_val
        scored = min(held, context.limit) if context.limit else held
        held_items, val_items, train_items = tuple(range(scored)), tuple(range(held, held + val)), tuple(range(held + val, len(scenes)))
        source = CaptionedFeatures(tokens, [[s.caption] for s in scenes], context.classifier.identity(),
                                   {"world": spec.to_json(), "split": {"held_out": held, "val": val}, "by": "sanity suite (standalone)"})
        ids = tuple(s.image_id for s in scenes)
        truth = tuple({"object": s.object_class, "background": s.background} for s in scenes)
        training = TrainingData(source, tuple(paths), train_items, val_items, held_items, (), ids, truth)
        with self._timed("translator"):
            trained = context.train_translator("sanity-original", source, list(train_items), list(val_items))
        with self._timed("explain"):
            sentences = self._explain(context, "sanity-original-explain", trained.stage.key, [ids[i] for i in held_items],
                                      tokens[list(held_items)], "sanity: explain (the suite's own original translator)", trained.translator)
        self._facts["texplain"] = "a translator trained here on the suite's own world with the run's recipe (no run's translator for it)"
        return training, sentences

    def _explain(self, context, stage_name: str, translator_key: str, ids: list[str], tokens: torch.Tensor, description: str, translator=None):
        """Sentences of the held-out images in a cached stage keyed as explainers/trained_control.py keys them."""
        stage = context.stage(stage_name, {
            "translator_explained": translator_key,
            "sampling": dataclasses.asdict(context.config.sampling),
            "precision": context.explain_precision,
            "images": list(ids),
        })
        sentences = context.explain(list(ids), tokens, stage / "samples.jsonl", description=description, translator=translator)
        if context.workers.is_main:
            stage.mark_done()
        return sentences

    @staticmethod
    def _has_truth(training: TrainingData) -> bool:
        """Every image has a truth with an object and a background word (an arm needs both: one erased, one kept)."""
        count = int(training.source.tokens.shape[0])
        return len(training.truth) == count and all(
            isinstance(t, dict) and all(isinstance(t.get(c), str) and t.get(c) for c in CONCEPTS) for t in training.truth
        )

    # ------------------------------------------------------------------------------------------
    # The contract
    # ------------------------------------------------------------------------------------------

    def run(self, context, work_dir: Path) -> Iterator[dict]:
        cfg = self.config
        self._timed = StepSeconds()
        self._facts: dict = {"texplain": "the run's translator and its explanations of the held-out images"}
        self._reason = None
        standalone = getattr(context, "training", None) is None
        if not context.has_store:
            # A context without the run's stage store (a test's): the sub-steps live in the suite's folder.
            context = context.with_own_store(Path(work_dir) / "stages")
        if standalone:
            training, texplain_sentences = self._standalone(context)
        else:
            training, texplain_sentences = context.training, dict(getattr(context, "held_out_sentences", None) or {})
        self._facts["standalone"] = standalone
        if not self._has_truth(training):
            self._reason = NO_TRUTH
            return
        explain = context.config.explain
        word_filter = WordFilter(keep_numbers=explain.keep_numbers, lexicon=explain.lexicon, extra_words=frozenset(explain.extra_words))
        k, min_doc_freq = explain.top_k, explain.min_doc_freq
        source = training.source
        count = int(source.tokens.shape[0])
        image_ids = list(training.image_ids) if len(training.image_ids) == count else [str(i) for i in range(count)]
        train_items, val_items, held_items = list(training.train_items), list(training.val_items), list(training.held_out_items)
        held_ids = [image_ids[i] for i in held_items]
        truth = list(training.truth)
        if any(i not in texplain_sentences for i in held_ids):
            # The run's explanations are not in this context: explain the held-out images with the run's translator.
            with self._timed("explain"):
                texplain_sentences = self._explain(context, "sanity-texplain-explain", context.translator_key, held_ids,
                                                   source.tokens[held_items], "sanity: explain (the run's translator)")
        texplain_top = {i: top_words(word_stats(texplain_sentences[i], word_filter), k, min_doc_freq) for i in held_ids}
        eval_items = val_items + held_items  # never the items the erasers and the probes are fitted on
        facts = {"limit": context.limit, "top_k": k, "min_doc_freq": min_doc_freq, "standalone": standalone,
                 "fit_items": len(train_items), "eval_items": len(eval_items), "positions": int(source.tokens.shape[1])}
        for concept in cfg.arms:
            kept = other_concept(concept)
            labels = [t[concept] for t in truth]
            with self._timed("leace"):
                erased = erase_per_position(source.tokens, labels, train_items)
            with self._timed("probes"):
                probes = {
                    "before": probe_accuracies(source.tokens, labels, train_items, eval_items, cfg.probe_steps, cfg.probe_l2, context.config.seed),
                    "after": probe_accuracies(erased, labels, train_items, eval_items, cfg.probe_steps, cfg.probe_l2, context.config.seed),
                }
            erased_source = CaptionedFeatures(
                erased, source.captions,
                {**source.source, "erased": concept, "method": METHOD, "fitted_on": "train_items", "eraser": f"concept-erasure {importlib.metadata.version('concept-erasure')} LeaceEraser",
                 "suite_version": self.version},
                source.data,
            )
            with self._timed("translator"):
                trained = context.train_translator(f"sanity-erase-{concept}", erased_source, train_items, val_items)
            with self._timed("explain"):
                erased_sentences = self._explain(context, f"sanity-erase-{concept}-explain", trained.stage.key, held_ids, erased[held_items],
                                                 f"sanity: explain the {concept}-erased translator", trained.translator)
            priors = kept_concept_priors(source.captions, truth, train_items, kept, word_filter, k, min_doc_freq)
            self._facts.setdefault("arms", {})[concept] = {"translator_history_epochs": len(trained.history), "kept_concept_priors": priors,
                                                            "classes": sorted(set(labels))}
            classes = sorted({labels[i] for i in train_items})
            for item, image_id in zip(held_items, held_ids):
                erased_top = top_words(word_stats(erased_sentences[image_id], word_filter), k, min_doc_freq)
                path = str(training.image_paths[item]) if len(training.image_paths) == count else None
                yield arm_record(concept, image_id, truth[item], texplain_top[image_id], erased_top, priors.get(truth[item][kept], []),
                                 probes, {**facts, "classes": classes}, path)

    def _arms(self, records: list[dict]) -> list[tuple[str, list[dict]]]:
        present = [c for c in CONCEPTS if any(r["arm"] == c for r in records)]
        order = [c for c in self.config.arms if c in present] + [c for c in present if c not in self.config.arms]
        return [(c, [r for r in records if r["arm"] == c]) for c in order]

    def aggregate(self, records: list[dict]) -> dict[str, float]:
        metrics: dict[str, float] = {}
        for concept, group in self._arms(records):
            names = per_image_names(concept)
            for name in names.values():
                metrics[name] = float(np.mean([r["per_image_metrics"][name] for r in group]))
            metrics[f"erase_{concept}.num_images"] = len(group)
            probes = group[0]["probes"]
            above = 0
            for probe in PROBES:
                before, after = probes["before"][probe], probes["after"][probe]
                if after.get("accuracy") is None:
                    continue
                metrics[f"erase_{concept}.probe.{probe}.after"] = float(after["accuracy"])
                if before.get("accuracy") is not None:
                    metrics[f"erase_{concept}.probe.{probe}.removed"] = float(before["accuracy"] - after["accuracy"])
                above += int(bool(after["above_chance"]))
            metrics[f"erase_{concept}.probes_above_chance_after"] = above
        metrics["num_images"] = len(records)
        return metrics

    def summarize(self, records: list[dict], context, out_dir: Path) -> tuple[dict, list[str]]:
        explain = context.config.explain
        word_filter = WordFilter(keep_numbers=explain.keep_numbers, lexicon=explain.lexicon, extra_words=frozenset(explain.extra_words))
        details: dict = {
            "method": (f"LEACE ({METHOD}, concept-erasure {importlib.metadata.version('concept-erasure')}) fitted on the translator's training items; probes trained on them, "
                       "scored on validation and held-out items; the erased translator trained with the run's recipe and captions"),
            "word_filter": word_filter.describe(),
            "seconds": dict(self._timed.seconds) if hasattr(self, "_timed") else {},
            **{key: value for key, value in getattr(self, "_facts", {}).items() if key != "arms"},
        }
        if getattr(self, "_reason", None) or not records:
            details["reason"] = getattr(self, "_reason", None) or NO_TRUTH
        arms = {}
        for concept, group in self._arms(records):
            arms[concept] = {"probes": group[0]["probes"], "facts": group[0]["facts"], "n": len(group),
                             "kept_concept_prior_rate": float(prior_values(group).mean()),
                             **getattr(self, "_facts", {}).get("arms", {}).get(concept, {})}
        details["arms"] = arms
        return details, []

    def verdicts(self, records: list[dict], details: dict) -> list[dict]:
        arms = dict(self._arms(records))
        rows = []
        for concept in self.config.arms:
            if concept in arms:
                rows += [v.to_json() for v in arm_verdicts(concept, arms[concept], self.config)]
            else:
                rows += [v.to_json() for v in no_truth_verdicts(concept, details.get("reason") or NO_TRUTH, self.config)]
        return rows

    def tables(self, records: list[dict], details: dict) -> list[dict]:
        tables = []
        for concept, group in self._arms(records):
            kept = other_concept(concept)
            metrics = self.aggregate(group)
            names = per_image_names(concept)
            prior = float(prior_values(group).mean())
            k = group[0]["facts"]["top_k"]

            def rate(name: str) -> float:
                return round(metrics[name], 3)

            rows: list[list] = [
                [f"{concept} in the top-{k} words (share of held-out images)", rate(names["texplain_c"]), rate(names["erased_c"]),
                 f"kept-concept prior {prior:.3f}"],
                [f"{kept} in the top-{k} words", rate(names["texplain_o"]), rate(names["erased_o"]), "-"],
            ]
            probes = group[0]["probes"]
            for probe in PROBES:
                before, after = probes["before"][probe], probes["after"][probe]

                def accuracy(entry: dict) -> str | float:
                    if entry.get("accuracy") is None:
                        return f"n/a ({entry.get('reason')})"
                    low, high = entry["interval"]
                    return f"{entry['accuracy']:.3f} [{low:.3f}, {high:.3f}]" + (" at chance" if entry["at_chance"] else "")

                chance = after.get("chance")
                rows.append([f"probe on {concept}: {PROBE_TEXT[probe]}", accuracy(before), accuracy(after),
                             f"chance {chance:.3f}" if chance is not None else "-"])
            facts = group[0]["facts"]
            tables.append({
                "title": f"Erasing {concept} (LEACE per token position): TExplain before, the translator retrained on erased tokens after",
                "header": ["", "before erasure (TExplain; original tokens)", f"after erasure ({concept}-erased translator; erased tokens)", "reference"],
                "rows": rows,
                "note": (f"{len(group)} held-out images; probes trained on {facts['fit_items']} training items and scored on {facts['eval_items']} "
                         "validation and held-out items, with Wilson 95% intervals; chance is the majority class's share of those. The kept-concept "
                         f"prior names as {concept} the top-{k} words of the training captions of training images with the same {kept}."),
            })
        return tables

    def stand_in(self, context) -> str | None:
        if getattr(context, "training", None) is None:
            return ("a synthetic world rendered by harness/worlds for this suite alone (the context carries no run's training data); "
                    "TExplain on it is a translator trained here with the run's recipe")
        if getattr(context.config.data, "source", None) == "synthetic":
            return "the run's synthetic world (harness/worlds), not real images"
        return None
