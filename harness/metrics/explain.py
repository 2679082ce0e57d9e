"""The main run's metrics (``explain.*``): how often an image's explanation names its true object and
background, registered in the metrics registry (contracts/metrics.py).

An explanation is N sentences sampled for one held-out image; its words are ranked by document frequency
(the share of sentences containing the word, texplain/words.py), and its top-k words are the k most
frequent (k = ``explain.top_k``; words below ``explain.min_doc_freq`` are left out). The four per-image
metrics are registered with their per-image function: harness/pipeline/words_step.py's ``score_explanations``
writes each image's values into its record (``per_image_metrics``) and the run-level metric is their
mean over images, so a bootstrap over images gives its interval (contracts/intervals.py) and
``texplain compare`` pairs them image by image.

The image-blind baselines score one word list for every image (the k most frequent words over all the
run's explanations): what a rate reaches without looking at the image. They depend on all images at
once, so they have no per-image values, no interval, and no direction.
"""

from __future__ import annotations

from contracts.explainers import EXPLAINERS, ExplainerInputs, ExplainerUnavailable
from contracts.intervals import mean_interval
from contracts.metrics import HIGHER, METRICS, NONE, Metric
from contracts.plugins import load_plugins
from contracts.verdicts import INCONCLUSIVE, VERDICTS_FORMAT, Gate, content_rule, decide
from texplain.words import WordStats

# A rate or a mean share of sentences: a difference under 5 points is not one a reader should act on.
MIN_EFFECT = 0.05

# Descriptive: what was scored, not how well.
METRICS.add(Metric("explain.num_images", "held-out images explained and scored (never trained on)", NONE))
METRICS.add(Metric(
    "explain.sentences_per_image",
    "sentences sampled per image: the setting sampling.num_sentences, or the mean drawn when adaptive stopping drew fewer",
    NONE,
))
METRICS.add(Metric("explain.top_k", "k of the top-k metrics (the setting explain.top_k): how many of an explanation's most frequent words are looked at", NONE))


@METRICS.per_image(
    "explain.object_in_top_k_rate", HIGHER,
    "share of held-out images whose true object class word is among the top-k words (k = explain.top_k, by document frequency) of their explanation",
    verdict=content_rule(MIN_EFFECT),
)
def object_in_top_k(truth: dict, top_words: list[str], stats: WordStats) -> float:
    return float(truth["object"] in top_words)


@METRICS.per_image(
    "explain.background_in_top_k_rate", HIGHER,
    "share of held-out images whose true background word is among the top-k words (k = explain.top_k) of their explanation",
    verdict=content_rule(MIN_EFFECT),
)
def background_in_top_k(truth: dict, top_words: list[str], stats: WordStats) -> float:
    return float(truth["background"] in top_words)


@METRICS.per_image(
    "explain.object_doc_freq_mean", HIGHER,
    "mean over held-out images of the share of sampled sentences that contain the true object word",
    verdict=content_rule(MIN_EFFECT),
)
def object_doc_freq(truth: dict, top_words: list[str], stats: WordStats) -> float:
    return stats.doc_freq(truth["object"])


@METRICS.per_image(
    "explain.background_doc_freq_mean", HIGHER,
    "mean over held-out images of the share of sampled sentences that contain the true background word",
    verdict=content_rule(MIN_EFFECT),
)
def background_doc_freq(truth: dict, top_words: list[str], stats: WordStats) -> float:
    return stats.doc_freq(truth["background"])


METRICS.add(Metric(
    "explain.chance_object_in_top_k_rate",
    "image-blind baseline of explain.object_in_top_k_rate: the k most frequent words over all held-out explanations, the same list for every image",
    NONE,
))
METRICS.add(Metric(
    "explain.chance_background_in_top_k_rate",
    "image-blind baseline of explain.background_in_top_k_rate: the same word list for every image",
    NONE,
))


def per_image_values(truth: dict, top_words: list[str], stats: WordStats) -> dict[str, float]:
    """One image's values of every registered per-image explain.* metric, in registration order."""
    return {metric.name: metric.per_image(truth, top_words, stats) for metric in METRICS.per_image_metrics("explain.")}


TEXPLAIN = "texplain"


def score_explainers(truth: dict[str, dict], inputs: ExplainerInputs, top_k: int, min_doc_freq: float,
                     trained: tuple[str, ...] = ()) -> dict[str, dict]:
    """Every registered explainer (contracts/explainers.py) scored on the same images by every per-image
    explain.* metric: {explainer: {"definition", "reads_image", "reads_classifier", "trained", "metrics",
    "intervals", "n", "per_image"}}; "metrics" is None, with a "reason", for an explainer that cannot
    explain these images or a trained control that `trained` (the config's controls.trained) leaves out.
    "per_image" holds each metric's values in the order of inputs.image_ids (verdicts pair on them).

    truth: image_id -> {"object", "background", ...} for every image of `inputs` (the caller scores only
    where the truth is known)."""
    load_plugins()
    table = {}
    for name in EXPLAINERS.names():
        explainer = EXPLAINERS.get(name)()
        entry = {"definition": explainer.definition, "reads_image": explainer.reads_image, "reads_classifier": explainer.reads_classifier,
                 "trained": explainer.trained}
        stats, reason = None, "it cannot explain these images (what it reads is not known for them)"
        if explainer.trained and name not in trained:
            reason = "left out by the config's controls.trained (it trains a translator of its own)"
        else:
            try:
                stats = explainer.explain(inputs)
            except ExplainerUnavailable as error:
                reason = str(error)
        if stats is None:
            table[name] = {**entry, "metrics": None, "intervals": {}, "n": 0, "per_image": {}, "reason": reason}
            continue
        values: dict[str, list[float]] = {}
        for image_id in inputs.image_ids:
            top = [word for word, _ in stats[image_id].top_k(top_k, min_doc_freq=min_doc_freq)]
            for metric, value in per_image_values(truth[image_id], top, stats[image_id]).items():
                values.setdefault(metric, []).append(value)
        intervals = {metric: mean_interval(v) for metric, v in values.items()}
        table[name] = {
            **entry,
            "metrics": {metric: sum(v) / len(v) for metric, v in values.items()},
            "intervals": {metric: interval.to_json() for metric, interval in intervals.items() if interval is not None},
            "n": len(inputs.image_ids),
            "per_image": values,
        }
    return table


def explainer_verdicts(table: dict[str, dict], gates: list[Gate] = ()) -> dict:
    """metrics.json's "verdicts": each per-image explain.* metric with a verdict rule, TExplain against the
    controls it must beat on the same images (contracts/verdicts.py), from score_explainers' table."""
    rows = []
    ours = table.get(TEXPLAIN) or {}
    if ours.get("metrics"):
        for metric in METRICS.per_image_metrics("explain."):
            if metric.verdict is None or metric.name not in ours["per_image"]:
                continue
            controls = {name: entry["per_image"].get(metric.name) for name, entry in table.items() if name != TEXPLAIN and entry.get("metrics")}
            not_run = {name: entry.get("reason", "not run") for name, entry in table.items() if not entry.get("metrics")}
            verdict = decide(metric.name, ours["per_image"][metric.name], controls, metric.verdict, list(gates), not_run=not_run)
            rows.append(_with_what_decides(verdict).to_json())
    return {"format": VERDICTS_FORMAT, "rows": rows}


def _with_what_decides(verdict):
    """An inconclusive row of the main run names the setting that decides it: more held-out images where the
    interval is too wide, the trained controls where one did not run."""
    if verdict.verdict != INCONCLUSIVE:
        return verdict
    if verdict.images_to_decide:
        # Held-out images come out of the world's training split, so asking for more retrains the translator;
        # the world must hold them (world.num_images).
        verdict.reason += (f"; --set explain.num_images={verdict.images_to_decide} would give them (taken from the training split: "
                           "the translator retrains; raise world.num_images if it has too few), or --config validate (128)")
    elif any(c.control_value is None for c in verdict.comparisons):
        verdict.reason += "; --config validate (or controls.trained) runs every trained control"
    return verdict


def per_class_rates(records: list[dict], top_k: int, object_words: list[str] | None = None) -> list[dict]:
    """The explain.* rates per true object class, from records.jsonl rows (a rate over all images can hide a class
    whose object the explanations never name).

    For each class: its images, the share whose object / background is in the top-k (with a 95% Wilson
    interval: ten-odd images per class, where a bootstrap of 0/1 values says little), the mean object document
    frequency, and which *other* class word an explanation of this class most often put in its top-k (the
    confusion a reader of the class cloud sees, e.g. "flower" in the bird cloud). Records without truth are
    left out; an empty list when none has it. top_k: the run's explain.top_k (records hold their top 20 words);
    object_words: the words that count as a class's name (default: the classes seen)."""
    from statsmodels.stats.proportion import proportion_confint

    scored = [r for r in records if (r.get("truth") or {}).get("object") and "object_in_top_k" in r]
    classes = sorted({r["truth"]["object"] for r in scored})
    vocabulary = set(object_words or classes)
    rows = []
    for name in classes:
        mine = [r for r in scored if r["truth"]["object"] == name]
        n = len(mine)
        hits = sum(bool(r["object_in_top_k"]) for r in mine)
        low, high = proportion_confint(hits, n, alpha=0.05, method="wilson")
        confused: dict[str, int] = {}
        for record in mine:
            top = [w for w, _ in record.get("top_words", [])][:top_k]
            for word in top:
                if word in vocabulary and word != name:
                    confused[word] = confused.get(word, 0) + 1
        other = max(sorted(confused), key=lambda w: confused[w]) if confused else None
        rows.append({
            "class": name,
            "images": n,
            "object_in_top_k_rate": hits / n,
            "object_in_top_k_interval": [float(low), float(high)],
            "background_in_top_k_rate": sum(bool(r.get("background_in_top_k")) for r in mine) / n,
            "object_doc_freq_mean": sum(r.get("per_image_metrics", {}).get("explain.object_doc_freq_mean", 0.0) for r in mine) / n,
            "most_confused_with": other,
            "most_confused_images": confused.get(other, 0) if other else 0,
        })
    return rows
