"""The report's "Human ratings" section (TExplain, Section 4.2, Figure 3), built from <run>/ratings/.

Three states: no export (the studies were not exported: say how); exported but not pulled (ratings not
collected yet: the push and pull commands); pulled (results.json: Figure 3's two quantities with
their intervals, the distribution of matched-word counts in numeric order, agreement with its level and
interval, per-rater summaries (raters named by user id, the email beside where known), how many
annotations were read and kept, completeness, and the two plots beside what the paper's Figure 3 gives).
"""

from __future__ import annotations

import json
from html import escape
from pathlib import Path

from contracts.run_extensions import REPORT_SECTIONS, ReportSection
from harness.reporting.html import img_html, table_html, table_md
from human_eval.analysis import RESULTS, rater_label, rater_labels, rater_order, set_aside
from human_eval.export import MANIFEST, RATINGS_DIR
from human_eval.figures import PAPER_FIGURE_3

PAPER_NOTE = ("The paper's Figure 3 shows these two quantities as bar charts without printed values; no reading of its bars is "
              "on record here, so ours stand alone (compare by eye with the paper's figure).")


def _fmt(value, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _with_interval(value, interval: dict | None) -> str:
    text = _fmt(value)
    if interval:
        text += f" [{interval['low']:.3f}, {interval['high']:.3f}]"
    return text


def _agreement_rows(name: str, agreement: dict) -> list[list[str]]:
    rows = []
    for key, result in agreement.items():
        if result["value"] is None:
            shown = f"undefined: {result['reason']}"
        else:
            shown = _fmt(result["value"]) + (f" [{result['low']:.3f}, {result['high']:.3f}]" if result["low"] is not None else "")
        level = result["level"] or "nominal categories"
        note = result["reason"] if result["value"] is not None and result["reason"] else ""
        rows.append([name, key, level, shown, str(result["items"]), note])
    return rows


def count_distribution_text(distribution: dict) -> str:
    """'0: 5, 1: 3, 2: 0, ..., 10: 1', in numeric order whatever order the file holds the keys in."""
    return ", ".join(f"{k}: {v}" for k, v in sorted(distribution.items(), key=lambda kv: int(kv[0])))


def annotations_text(results: dict) -> str:
    """How many annotations the pull read and kept, in all and per study, and why the rest was set aside."""
    counted = results.get("annotations")
    if not counted:  # results.json of an earlier version
        return ""
    parts = [f"study ({study}): {row['read']} read, {row['kept']} kept ({', '.join(set_aside(row))})"
             for study, row in sorted(counted["by_study"].items())]
    return f"Annotations read: {counted['read']}, kept in the statistics: {counted['kept']}; " + "; ".join(parts) + "."


def ratings_parts(run_path: Path) -> tuple[str, str]:
    """(html, markdown) of the section."""

    folder = Path(run_path) / RATINGS_DIR
    push = f"texplain ratings push {run_path} --url URL --token TOKEN"
    pull = f"texplain ratings pull {run_path} --url URL --token TOKEN"
    if not (folder / MANIFEST).is_file():
        text = f"The rating studies were not exported for this run. Export them with `texplain ratings export {run_path}`, then `{push}`."
        return f'<p class="empty">{escape(text)}</p>', f"_{text}_"
    manifest = json.loads((folder / MANIFEST).read_text())
    counts = ", ".join(f"study ({s}): {p['tasks']} tasks ({p['attention_checks']} attention checks)" for s, p in sorted(manifest["projects"].items()))
    intro = (f"Exported in {RATINGS_DIR}/ ({counts}; {manifest['items']} images from {', '.join(manifest['sources'])}; images mode "
             f"{manifest['images_mode']}). Study (a): raters tick which of an image's 10 most frequent words match it; study (b): "
             "whether the classifier's top prediction and the most frequent word are related (the paper's Section 4.2, Figure 3).")
    results_path = folder / RESULTS
    if not results_path.is_file():
        text = (f"Ratings are not collected yet. Push the studies to a Label Studio server with `{push}`, let raters work, then "
                f"collect and analyse the ratings with `{pull}` (or `--file export.json` for a manual export).")
        return (f'<p class="sub">{escape(intro)}</p><p class="empty">{escape(text)}</p>', f"{intro}\n\n_{text}_")
    results = json.loads(results_path.read_text())
    a, b = results["study_a"], results["study_b"]
    dropped = results["raters_dropped"]
    summary_header = ["quantity", "ours [95% interval over images]", "paper (Figure 3)"]
    paper_left, paper_right = PAPER_FIGURE_3.get("left"), PAPER_FIGURE_3.get("right")
    summary_rows = [
        ["(a) mean matched words per image (of 10)", _with_interval(a["mean_count"], a.get("mean_count_interval")), _fmt(paper_left) if paper_left else "not readable"],
        ["(a) share of ratings with 0 matched words", _fmt(a["count_share"].get("0")), "not readable"],
        ["(a) ratings by matched words", count_distribution_text(a["count_distribution"]), "not readable"],
        ["(b) share of yes (all ratings)", _fmt(b["share_yes"]), _fmt(paper_right) if paper_right else "not readable"],
        ["(b) share of yes, mean over images", _with_interval(b["item_share_yes"], b.get("item_share_yes_interval")), "not readable"],
    ]
    facts = (f"{results['raters']} raters ({len(dropped)} dropped for failing the attention checks"
             f"{': ' + ', '.join(rater_labels(results, dropped)) if dropped else ''}; threshold {results['settings']['min_check_accuracy']}); "
             f"study (a): {a['ratings']} ratings of {a['items_rated']} of {a['items']} images; study (b): {b['ratings']} ratings of "
             f"{b['items_rated']} of {b['items']} images; read from {results['source']}.")
    agreement_header = ["study", "statistic", "level", "value [95% interval over items]", "items", "note"]
    agreement_rows = _agreement_rows("(a)", a["agreement"]) + _agreement_rows("(b)", b["agreement"])
    rater_header = ["rater", "(a) ratings", "(a) mean count", "(b) ratings", "(b) share yes", "checks passed", "dropped"]
    rater_rows = [[rater_label(r, s.get("email")), str(s["study_a_ratings"]), _fmt(s["study_a_mean_count"]), str(s["study_b_ratings"]), _fmt(s["study_b_share_yes"]),
                   f"{s['checks_passed']}/{s['checks']}", "yes" if s["dropped"] else "no"] for r, s in sorted(results["per_rater"].items(), key=lambda kv: rater_order(kv[0]))]
    lost = {s: c["lost_count"] for s, c in results["completeness"].items()}
    # 'none of these' exists in study (a) only, so only (a) has contradictory answers to count.
    completeness = "; ".join(f"study ({s}): {c['pulled']} of {c['exported']} tasks pulled, {c['cancelled']} skipped annotations"
                             + (f", {c['contradictory']} contradictory ('none of these' with words)" if s == "a" and "contradictory" in c else "")
                             for s, c in sorted(results["completeness"].items()))
    counted = annotations_text(results)
    if counted:
        facts += " " + counted
    figures = results.get("figures", [])
    html = [f'<p class="sub">{escape(intro)}</p>', f'<p class="sub">{escape(facts)}</p>',
            table_html(summary_header, [[escape(c) for c in row] for row in summary_rows], numeric={1}),
            f'<p class="sub">{escape(PAPER_NOTE)}</p>']
    if figures:
        cards = "".join(f'<div class="card"><h4>{escape(Path(f).stem)}</h4>{img_html(Path(run_path) / f, Path(f).stem)}</div>' for f in figures)
        html.append(f'<div class="grid">{cards}</div>')
    html += ["<h3>Agreement</h3>", table_html(agreement_header, [[escape(c) for c in row] for row in agreement_rows], numeric={3, 4}),
             "<h3>Raters</h3>", table_html(rater_header, [[escape(c) for c in row] for row in rater_rows], numeric={1, 2, 3, 4}),
             f'<p class="sub">{escape(completeness)}{escape(" LOST TASKS: " + str(lost)) if any(lost.values()) else ""}</p>']
    markdown = [intro, "", facts, "", table_md(summary_header, summary_rows), "", f"_{PAPER_NOTE}_", ""]
    markdown += [" ".join(f"![{Path(f).stem}]({f})" for f in figures), "", "### Agreement", "", table_md(agreement_header, agreement_rows), "",
                 "### Raters", "", table_md(rater_header, rater_rows), "", completeness]
    return "".join(html), "\n".join(markdown)


REPORT_SECTIONS.register("ratings")(ReportSection("Human ratings", ratings_parts))
