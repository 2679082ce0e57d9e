"""The analysis of pulled ratings (TExplain, Section 4.2, Figure 3): the distribution of matched-word
counts (Figure 3, left), the share of "yes" (Figure 3, right), per-rater summaries and agreement
(agreement.py), written to <run>/ratings/results.json.

Steps: every study's export is read into ratings (annotations.py); raters whose attention-check accuracy
is below the threshold are dropped from both studies (attention.py); check tasks are set aside; what
remains is summarised per item and over items. Means over items carry the harness's 95% bootstrap
interval over items (contracts/intervals.py, BCa). Tasks the export lacks, compared with the
exported tasks (manifest), are counted as lost; tasks nobody rated yet are counted, not guessed at.
"""

from __future__ import annotations

from collections import Counter, defaultdict

import numpy as np

from contracts.files import write_json
from contracts.intervals import mean_interval
from human_eval.agreement import fleiss_kappa, krippendorff_alpha
from human_eval.annotations import ParsedExport, Rating, parse_export
from human_eval.attention import check_summaries, failing_raters
from human_eval.export import Export
from human_eval.label_configs import STUDIES, STUDY_A, STUDY_B, YES
from human_eval.settings import AnalysisSettings

RESULTS = "results.json"
RESULTS_FORMAT = "texplain-ratings-results/1"


def _interval(values: list[float], settings: AnalysisSettings) -> dict | None:
    interval = mean_interval(values, level=settings.level, resamples=9999, seed=settings.bootstrap_seed) if len(values) >= 2 else None
    return interval.to_json() if interval else None


def _matrix(ratings: list[Rating], items: list[str], raters: list[str], value) -> np.ndarray:
    """raters x items, NaN where a rater did not rate the item."""
    column = {item: i for i, item in enumerate(items)}
    row = {rater: i for i, rater in enumerate(raters)}
    matrix = np.full((len(raters), len(items)), np.nan)
    for rating in ratings:
        if rating.task_id in column:
            matrix[row[rating.rater], column[rating.task_id]] = value(rating)
    return matrix


def _per_word_matrix(ratings: list[Rating], items: list[str], raters: list[str], words: dict[str, list[str]]) -> tuple[np.ndarray, np.ndarray]:
    """raters x (item, word) 0/1 choices, and each column's item index (for the bootstrap over items)."""
    columns, groups = [], []
    for index, item in enumerate(items):
        for word in words[item]:
            columns.append((item, word))
            groups.append(index)
    position = {key: i for i, key in enumerate(columns)}
    row = {rater: i for i, rater in enumerate(raters)}
    matrix = np.full((len(raters), len(columns)), np.nan)
    for rating in ratings:
        for word in words.get(rating.task_id, []):
            matrix[row[rating.rater], position[(rating.task_id, word)]] = float(word in rating.selected)
    return matrix, np.asarray(groups)


def _study_a(ratings: list[Rating], tasks: dict[str, dict], settings: AnalysisSettings) -> dict:
    items = sorted(t for t, d in tasks.items() if not d.get("attention_check"))
    raters = sorted({r.rater for r in ratings})
    words = {t: list(tasks[t]["word_list"]) for t in items}
    most = max((len(w) for w in words.values()), default=10)
    histogram = Counter(r.count for r in ratings)
    per_item: dict[str, list[int]] = defaultdict(list)
    for r in ratings:
        per_item[r.task_id].append(r.count)
    item_means = [float(np.mean(v)) for _, v in sorted(per_item.items())]
    count_matrix = _matrix(ratings, items, raters, lambda r: r.count)
    word_matrix, groups = _per_word_matrix(ratings, items, raters, words)
    resamples, seed, level = settings.bootstrap_resamples, settings.bootstrap_seed, settings.level
    other_level = "interval" if settings.count_level == "ordinal" else "ordinal"
    return {
        "ratings": len(ratings),
        "items": len(items),
        "items_rated": len(per_item),
        "ratings_per_item": dict(sorted(Counter(len(per_item.get(t, [])) for t in items).items())),
        "count_distribution": {str(k): histogram.get(k, 0) for k in range(most + 1)},
        "count_share": {str(k): (histogram.get(k, 0) / len(ratings) if ratings else None) for k in range(most + 1)},
        "mean_count": float(np.mean(item_means)) if item_means else None,
        "mean_count_interval": _interval(item_means, settings),
        "agreement": {
            f"count_alpha_{settings.count_level}": krippendorff_alpha(count_matrix, settings.count_level, resamples, seed, level).to_json(),
            f"count_alpha_{other_level}": krippendorff_alpha(count_matrix, other_level, resamples, seed, level).to_json(),
            "per_word_alpha_nominal": krippendorff_alpha(word_matrix, "nominal", resamples, seed, level, groups=groups).to_json(),
            "per_word_fleiss_kappa": fleiss_kappa(word_matrix, resamples, seed, level, groups=groups).to_json(),
        },
    }


def _study_b(ratings: list[Rating], tasks: dict[str, dict], settings: AnalysisSettings) -> dict:
    items = sorted(t for t, d in tasks.items() if not d.get("attention_check"))
    raters = sorted({r.rater for r in ratings})
    per_item: dict[str, list[float]] = defaultdict(list)
    for r in ratings:
        per_item[r.task_id].append(float(r.answer == YES))
    item_shares = [float(np.mean(v)) for _, v in sorted(per_item.items())]
    yes = sum(r.answer == YES for r in ratings)
    matrix = _matrix(ratings, items, raters, lambda r: float(r.answer == YES))
    resamples, seed, level = settings.bootstrap_resamples, settings.bootstrap_seed, settings.level
    return {
        "ratings": len(ratings),
        "items": len(items),
        "items_rated": len(per_item),
        "ratings_per_item": dict(sorted(Counter(len(per_item.get(t, [])) for t in items).items())),
        "yes": yes,
        "no": len(ratings) - yes,
        "share_yes": yes / len(ratings) if ratings else None,
        "item_share_yes": float(np.mean(item_shares)) if item_shares else None,
        "item_share_yes_interval": _interval(item_shares, settings),
        "items_majority_yes": sum(s > 0.5 for s in item_shares),
        "agreement": {
            "alpha_nominal": krippendorff_alpha(matrix, "nominal", resamples, seed, level).to_json(),
            "fleiss_kappa": fleiss_kappa(matrix, resamples, seed, level).to_json(),
        },
    }


def analyse(export: Export, pulled: dict[str, list[dict]], settings: AnalysisSettings | None = None, source: str = "export") -> dict:
    """results.json's content from the pulled exports {study: tasks} of `export`'s studies."""
    settings = settings or export.settings.analysis
    parsed: dict[str, ParsedExport] = {study: parse_export(study, pulled.get(study, []), f"{source} (study {study})") for study in STUDIES}
    every = [r for p in parsed.values() for r in p.ratings]
    checks = check_summaries(every)
    dropped = failing_raters(checks, settings.min_check_accuracy) if settings.min_check_accuracy > 0 else []
    kept = [r for r in every if r.rater not in dropped]
    studies = {}
    completeness = {}
    for study in STUDIES:
        expected = {t["data"]["task_id"] for t in export.tasks[study]}
        found = set(parsed[study].tasks)
        completeness[study] = {"exported": len(expected), "pulled": len(found), "lost": sorted(expected - found)[:50],
                               "lost_count": len(expected - found), "unknown": len(found - expected),
                               "cancelled": parsed[study].cancelled, "contradictory": parsed[study].contradictory,
                               "replaced": parsed[study].replaced, "unknown_words": parsed[study].unknown_words}
        tasks = {t: d for t, d in parsed[study].tasks.items() if t in expected}
        ratings = [r for r in kept if r.study == study and not r.check and r.task_id in tasks]
        studies[study] = (_study_a if study == STUDY_A else _study_b)(ratings, tasks, settings)
    per_rater = {}
    for rater, summary in checks.items():
        mine_a = [r for r in every if r.rater == rater and r.study == STUDY_A and not r.check]
        mine_b = [r for r in every if r.rater == rater and r.study == STUDY_B and not r.check]
        per_rater[rater] = {
            "study_a_ratings": len(mine_a),
            "study_a_mean_count": float(np.mean([r.count for r in mine_a])) if mine_a else None,
            "study_b_ratings": len(mine_b),
            "study_b_share_yes": float(np.mean([r.answer == YES for r in mine_b])) if mine_b else None,
            "checks": summary.checks,
            "checks_passed": summary.passed,
            "check_accuracy": summary.accuracy,
            "dropped": rater in dropped,
        }
    return {
        "format": RESULTS_FORMAT,
        "run": export.run_name,
        "source": source,
        "settings": {"min_check_accuracy": settings.min_check_accuracy, "count_level": settings.count_level,
                     "bootstrap_resamples": settings.bootstrap_resamples, "bootstrap_seed": settings.bootstrap_seed, "level": settings.level},
        "raters": len(checks),
        "raters_dropped": dropped,
        "per_rater": per_rater,
        "completeness": completeness,
        "study_a": studies[STUDY_A],
        "study_b": studies[STUDY_B],
    }


def write_results(export: Export, pulled: dict[str, list[dict]], source: str, settings: AnalysisSettings | None = None) -> dict:
    """Analyse, write <run>/ratings/results.json and the two plots; returns the results."""
    from human_eval.figures import draw_figures

    results = analyse(export, pulled, settings, source)
    figures = draw_figures(results, export.folder)
    results["figures"] = [p.relative_to(export.run_dir).as_posix() for p in figures]
    write_json(export.folder / RESULTS, results)
    return results
