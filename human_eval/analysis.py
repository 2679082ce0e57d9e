"""The analysis of pulled ratings (TExplain, Section 4.2, Figure 3): the distribution of matched-word
counts (Figure 3, left), the share of "yes" (Figure 3, right), per-rater summaries and agreement
(agreement.py), written to <run>/ratings/results.json.

Steps: every study's export is read into ratings (annotations.py); raters whose attention-check accuracy
is below the threshold are dropped from both studies (attention.py); check tasks are set aside; what
remains is summarised per item and over items. Means over items carry the harness's 95% bootstrap
interval over items (contracts/intervals.py, BCa). Tasks the export lacks, compared with the
exported tasks (manifest), are counted as lost; tasks nobody rated yet are counted, not guessed at.

Every annotation read is accounted for ("annotations": in all, per study and per rater): the ratings
kept in the statistics, and those set aside with the reason (attention checks, raters dropped by them,
cancelled or empty, replaced by the rater's later annotation, tasks not in the export and, in study (a),
contradictory "none of these" or words the task did not offer). Raters are named by user id with the
email beside where known (annotations.py), whether the ratings came from the server or a manual export.

results.json is written atomically, after the plots, and keeps its keys in the order built here (no
sorting), so that count keys read 0, 1, 2, ..., 10 rather than 0, 1, 10, 2.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

from contracts.files import atomic_write_text
from contracts.intervals import mean_interval
from human_eval.agreement import fleiss_kappa, krippendorff_alpha
from human_eval.annotations import ParsedExport, Rating, parse_export
from human_eval.attention import CheckSummary, check_summaries, failing_raters
from human_eval.export import Export
from human_eval.label_configs import STUDIES, STUDY_A, STUDY_B, YES
from human_eval.settings import AnalysisSettings

RESULTS = "results.json"
RESULTS_FORMAT = "texplain-ratings-results/1"


def rater_label(name: str, email: str | None) -> str:
    """'user 7 (ann@example.com)' where the email is known, else the name alone."""
    return f"{name} ({email})" if email and email != name else name


def set_aside(row: dict) -> list[str]:
    """Why the annotations of one study (a row of results["annotations"]["by_study"]) not kept were set aside."""
    parts = [f"{row['attention_checks']} attention checks", f"{row['of_dropped_raters']} of dropped raters",
             f"{row['cancelled']} cancelled or empty", f"{row['replaced']} replaced by a later one"]
    if "contradictory" in row:  # study (a) only: study (b) has no "none of these"
        parts.append(f"{row['contradictory']} contradictory ('none of these' with words)")
    if row.get("unknown_words"):
        parts.append(f"{row['unknown_words']} with words the task did not offer")
    if row.get("unknown_tasks"):
        parts.append(f"{row['unknown_tasks']} of tasks not in the export")
    return parts


def rater_order(name: str) -> tuple:
    """Sort key of rater names: 'user 2' before 'user 10', then names that are no id (emails)."""
    number = name[5:] if name.startswith("user ") else ""
    return (0, int(number), "") if number.isdigit() else (1, 0, name)


def rater_labels(results: dict, names: list[str]) -> list[str]:
    return [rater_label(n, results["per_rater"].get(n, {}).get("email")) for n in names]


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


def _annotations(parsed: dict[str, ParsedExport], kept_by_study: dict[str, list[Rating]], dropped: list[str],
                 expected: dict[str, set[str]]) -> dict:
    """How many annotations were read, in all, per study and per rater, and where each went."""
    by_study = {}
    for study in STUDIES:
        p = parsed[study]
        of_dropped = sum(r.rater in dropped for r in p.ratings)
        checks = sum(r.check and r.rater not in dropped for r in p.ratings)
        unknown = sum(not r.check and r.rater not in dropped and r.task_id not in expected[study] for r in p.ratings)
        row = {"read": p.read, "kept": len(kept_by_study[study]), "attention_checks": checks, "of_dropped_raters": of_dropped,
               "cancelled": p.cancelled, "replaced": p.replaced, "unknown_tasks": unknown}
        if study == STUDY_A:  # only study (a) offers "none of these" and a list of words
            row.update(contradictory=p.contradictory, unknown_words=p.unknown_words)
        by_study[study] = row
    read_by_rater = sum((parsed[s].read_by_rater for s in STUDIES), Counter())
    kept_by_rater = Counter(r.rater for ratings in kept_by_study.values() for r in ratings)
    by_rater = {rater: {"read": read_by_rater[rater], "kept": kept_by_rater.get(rater, 0)} for rater in sorted(read_by_rater, key=rater_order)}
    return {"read": sum(r["read"] for r in by_study.values()), "kept": sum(r["kept"] for r in by_study.values()),
            "by_study": by_study, "by_rater": by_rater}


def analyse(export: Export, pulled: dict[str, list[dict]], settings: AnalysisSettings | None = None, source: str = "export") -> dict:
    """results.json's content from the pulled exports {study: tasks} of `export`'s studies."""
    settings = settings or export.settings.analysis
    parsed: dict[str, ParsedExport] = {study: parse_export(study, pulled.get(study, []), f"{source} (study {study})") for study in STUDIES}
    every = [r for p in parsed.values() for r in p.ratings]
    checks = check_summaries(every)
    dropped = sorted(failing_raters(checks, settings.min_check_accuracy), key=rater_order) if settings.min_check_accuracy > 0 else []
    kept = [r for r in every if r.rater not in dropped]
    emails = {name: email for p in parsed.values() for name, email in p.emails.items()}
    studies, completeness, kept_by_study, expected_ids = {}, {}, {}, {}
    for study in STUDIES:
        expected = {t["data"]["task_id"] for t in export.tasks[study]}
        expected_ids[study] = expected
        found = set(parsed[study].tasks)
        completeness[study] = {"exported": len(expected), "pulled": len(found), "lost": sorted(expected - found)[:50],
                               "lost_count": len(expected - found), "unknown": len(found - expected),
                               "cancelled": parsed[study].cancelled, "replaced": parsed[study].replaced}
        if study == STUDY_A:
            completeness[study].update(contradictory=parsed[study].contradictory, unknown_words=parsed[study].unknown_words)
        tasks = {t: d for t, d in parsed[study].tasks.items() if t in expected}
        ratings = [r for r in kept if r.study == study and not r.check and r.task_id in tasks]
        kept_by_study[study] = ratings
        studies[study] = (_study_a if study == STUDY_A else _study_b)(ratings, tasks, settings)
    annotations = _annotations(parsed, kept_by_study, dropped, expected_ids)
    per_rater = {}
    # Every rater who left an annotation, even one who only skipped tasks (no rating, no check).
    for rater in sorted(set(checks) | set(annotations["by_rater"]), key=rater_order):
        summary = checks.get(rater) or CheckSummary(rater, 0, 0)
        mine_a = [r for r in every if r.rater == rater and r.study == STUDY_A and not r.check]
        mine_b = [r for r in every if r.rater == rater and r.study == STUDY_B and not r.check]
        counted = annotations["by_rater"].get(rater, {"read": 0, "kept": 0})
        per_rater[rater] = {
            "email": emails.get(rater),
            "annotations_read": counted["read"],
            "ratings_kept": counted["kept"],
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
        "raters": len(per_rater),
        "raters_dropped": dropped,
        "per_rater": per_rater,
        "annotations": annotations,
        "completeness": completeness,
        "study_a": studies[STUDY_A],
        "study_b": studies[STUDY_B],
    }


def write_results(export: Export, pulled: dict[str, list[dict]], source: str, settings: AnalysisSettings | None = None) -> dict:
    """Analyse, then write the two plots and <run>/ratings/results.json; returns the results.

    Nothing is written before the analysis has succeeded, the plots are drawn in a temporary folder
    and moved into place, and results.json is replaced atomically last, so that an interrupted or failed
    pull leaves the earlier results.json whole."""
    from human_eval.figures import draw_figures

    results = analyse(export, pulled, settings, source)
    export.folder.mkdir(parents=True, exist_ok=True)
    drawing = Path(tempfile.mkdtemp(prefix=".figures-", dir=export.folder))
    try:
        figures = []
        for path in draw_figures(results, drawing):
            figures.append(export.folder / path.name)
            os.replace(path, figures[-1])
    finally:
        shutil.rmtree(drawing, ignore_errors=True)
    results["figures"] = [p.relative_to(export.run_dir).as_posix() for p in figures]
    # Not write_json: it sorts keys, which puts count "10" before "2".
    atomic_write_text(export.folder / RESULTS, json.dumps(results, indent=2, default=str) + "\n")
    return results
