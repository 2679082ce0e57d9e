"""The run report: ``report.html`` and ``report.md`` inside a run directory: what a person reads after a run,
opened from disk with no server.

Built only from files in the run directory (harness/reporting/run_reader.py), so ``texplain report RUN_DIR``
rebuilds it at any time, also for runs made by older versions. Sections, each with an id the tests
look for:

    verdicts      first: each headline metric's verdict (pass / fail / inconclusive) against the controls it must
                  beat, with TExplain's value, each control's, the paired difference with its 95% interval, the
                  ceilings and the reason (metrics.json "verdicts", contracts/verdicts.py); runs without it say so
    summary       the main metrics with their 95% intervals, definitions and the image-blind baseline
    class-clouds  one word cloud per true object class (the paper's Fig. 1 style: class word in red)
    examples      a few single images: the image, the classifier's top-1, the true labels, top words, cloud
    suites        every suite's metrics (with intervals) beside the paper's figure where there is one, and its figures
    ratings       the human rating studies (human_eval/): not collected yet with the two commands, or their results and plots
    training      loss by epoch (inline SVG) and the per-epoch table
    timings       seconds per stage (and whether it ran or was reused)
    provenance    harness version, result format, seed, config hash, git commit, date, device, library versions, models, data, config

Anything computed with stand-in models or synthetic data carries a visible amber label: a banner at the
top with the full sentence, and a badge on every section it affects.

report.html is one self-contained file: every image (word clouds, example images, suite figures) is
embedded as a base64 data URI and the chart is inline SVG, so it opens from disk with no server and no
network, and can be mailed on its own. report.md cannot embed images portably, so it links files in the
run directory (wordclouds/, suites/) and in ``report_assets/``, where the example images (which live
in the world cache outside the run directory) and the training chart are copied.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import Any

from contracts.files import atomic_write_text
from contracts.metrics import all_metrics, suite_metric_name
from contracts.plugins import load_plugins
from contracts.run_extensions import REPORT_SECTIONS
from contracts.verdicts import CLASSIFIER_CONTROLS, units
from harness.metrics.explain import per_class_rates
from harness.reporting.html import badge, data_uri, img_html, md_cell, table_html, table_md  # noqa: F401  (md_cell, data_uri: report helpers)
from harness.reporting.run_reader import FinishedRun, SuiteResult, read_run, renamed_note
from harness.reporting.svg import Series, line_chart
from texplain.words import WordStats, merge_stats

ASSETS = "report_assets"
DEFAULT_EXAMPLES = 6
TOP_WORDS_SHOWN = 10

CSS = """
:root { --ink:#18181b; --muted:#52525b; --line:#e4e4e7; --soft:#f4f4f5; --accent:#2563eb;
        --warn-bg:#fef3c7; --warn-line:#f59e0b; --warn-ink:#78350f; --red:#dc2626; --green:#15803d; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif;
       color: var(--ink); background: #fff; }
main { max-width: 1120px; margin: 0 auto; padding: 24px 28px 64px; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 20px; margin: 40px 0 12px; padding-bottom: 6px; border-bottom: 2px solid var(--line);
     display: flex; align-items: center; gap: 10px; flex-wrap: wrap; }
h3 { font-size: 16px; margin: 24px 0 8px; display: flex; align-items: center; gap: 8px; flex-wrap: wrap; }
.sub { color: var(--muted); margin: 0 0 16px; }
nav { display: flex; flex-wrap: wrap; gap: 6px 14px; padding: 10px 14px; background: var(--soft);
      border-radius: 8px; font-size: 14px; }
nav a { color: var(--accent); text-decoration: none; }
nav a:hover { text-decoration: underline; }
.banner { margin: 16px 0; padding: 12px 16px; background: var(--warn-bg); border: 1px solid var(--warn-line);
          border-left: 6px solid var(--warn-line); border-radius: 6px; color: var(--warn-ink); }
.banner strong { display: block; margin-bottom: 2px; }
.badge { display: inline-block; font-size: 11px; font-weight: 700; letter-spacing: .04em; text-transform: uppercase;
         padding: 2px 8px; border-radius: 999px; background: var(--warn-bg); color: var(--warn-ink);
         border: 1px solid var(--warn-line); white-space: nowrap; }
.badge.ok { background: #dcfce7; color: #14532d; border-color: #86efac; }
table { border-collapse: collapse; width: 100%; margin: 8px 0 12px; font-size: 14px; }
table.compact { width: auto; min-width: 420px; }
table.kv td:first-child { color: var(--muted); white-space: nowrap; width: 1%; }
td.barcell { width: 320px; }
th, td { text-align: left; padding: 6px 10px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { background: var(--soft); font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.def { color: var(--muted); font-size: 13px; }
code { font: 13px ui-monospace, "DejaVu Sans Mono", monospace; background: var(--soft); padding: 1px 4px; border-radius: 4px; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(320px, 1fr)); gap: 16px; }
.card { border: 1px solid var(--line); border-radius: 8px; padding: 12px; background: #fff; }
.card h4 { margin: 0 0 8px; font-size: 15px; }
.card img { width: 100%; height: auto; display: block; border-radius: 4px; background: var(--soft); }
.card .meta { font-size: 13px; color: var(--muted); margin-top: 6px; }
.example { display: grid; grid-template-columns: 220px 1fr 300px; gap: 16px; align-items: start;
           border: 1px solid var(--line); border-radius: 8px; padding: 12px; margin-bottom: 14px; }
.example img { width: 100%; height: auto; display: block; border-radius: 4px; }
.example dl { margin: 0; display: grid; grid-template-columns: auto 1fr; gap: 2px 10px; font-size: 14px; }
.example dt { color: var(--muted); }
.example dd { margin: 0; }
.chips { display: flex; flex-wrap: wrap; gap: 4px; margin-top: 8px; }
.chip { font-size: 12px; padding: 1px 7px; border-radius: 999px; background: var(--soft); border: 1px solid var(--line); }
.chip.object { background: #fee2e2; border-color: #fca5a5; color: #991b1b; font-weight: 600; }
.chip.background { background: #dbeafe; border-color: #93c5fd; color: #1e3a8a; font-weight: 600; }
.verdict { display: inline-block; font-size: 12px; font-weight: 700; letter-spacing: .04em; text-transform: uppercase;
           padding: 2px 8px; border-radius: 999px; border: 1px solid; white-space: nowrap; }
.verdict.pass { background: #dcfce7; color: #14532d; border-color: #86efac; }
.verdict.fail { background: #fee2e2; color: #991b1b; border-color: #fca5a5; }
.verdict.inconclusive { background: var(--warn-bg); color: var(--warn-ink); border-color: var(--warn-line); }
.scroll { overflow-x: auto; }
.wide { width: min(1440px, calc(100vw - 32px)); position: relative; left: 50%; transform: translateX(-50%); }
table.verdicts th, table.verdicts td { padding: 6px 8px; }
table.verdicts th .def { font-weight: 400; white-space: normal; }
table.verdicts .diff { font-size: 12px; color: var(--muted); }
table.verdicts td.verdict-cell { min-width: 240px; }
table.verdicts td.verdict-cell .def { margin-top: 4px; }
.yes { color: var(--green); font-weight: 600; } .no { color: var(--red); font-weight: 600; }
.missing { display: flex; align-items: center; justify-content: center; min-height: 120px; padding: 8px;
           background: var(--soft); color: var(--muted); font-size: 12px; border-radius: 4px; text-align: center; }
.bar { height: 10px; background: var(--accent); border-radius: 3px; min-width: 1px; }
.chart { overflow-x: auto; }
details { margin: 8px 0; } summary { cursor: pointer; color: var(--accent); }
pre { background: var(--soft); padding: 10px; border-radius: 6px; overflow-x: auto; font-size: 12px; }
.empty { color: var(--muted); font-style: italic; }
@media (max-width: 900px) { .example { grid-template-columns: 1fr; } }
"""


@dataclass
class Section:
    id: str
    title: str
    html: str
    markdown: str
    stand_in: bool = False  # carries the stand-in badge


@dataclass
class ReportPaths:
    html: Path
    markdown: Path
    assets: Path


@dataclass
class _Context:
    """What the section builders share: the run, its stand-in sentence, and where assets go."""

    run: FinishedRun
    stand_in: str | None
    assets: Path
    examples: int
    notes: list[str] = field(default_factory=list)


# ---------------------------------------------------------------- small formatting helpers


def fmt_value(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) >= 1000 or (value != 0 and abs(value) < 0.001) else f"{value:.3f}"
    if value is None:
        return "-"
    if isinstance(value, dict):
        return "; ".join(f"{k}: {fmt_value(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return ", ".join(fmt_value(v) for v in value)
    return str(value)


def fmt_interval(value: Any, interval: dict | None) -> str:
    """'0.531 [0.344, 0.719]': the value and its 95% interval, or the value alone where the metric has
    no interval (no per-image values): never a made-up zero-width one."""
    if not interval or "low" not in interval or "high" not in interval:
        return fmt_value(value)
    return f"{fmt_value(value)} [{fmt_value(float(interval['low']))}, {fmt_value(float(interval['high']))}]"


def interval_sentence(intervals: dict[str, dict]) -> str:
    """How the intervals shown were computed, from what metrics.json says of them."""
    if not intervals:
        return "No metric has an interval (no per-image values, or a run written before intervals were recorded)."
    methods = sorted({str(i.get("method")) for i in intervals.values()})
    resamples = sorted({int(i.get("resamples", 0)) for i in intervals.values()})
    levels = sorted({round(100 * float(i.get("level", 0.95))) for i in intervals.values()})
    return (
        f"[low, high] is a {'/'.join(f'{p}%' for p in levels)} bootstrap interval over images ({' or '.join(methods)}, "
        f"{', '.join(str(r) for r in resamples)} resamples); a metric without per-image values has none."
    )


def fmt_paper(value: Any) -> str:
    """A published figure as the paper prints it (7.3 stays 7.3, not 7.300); notes as they are."""
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, dict):
        return "; ".join(f"{k}: {fmt_paper(v)}" for k, v in value.items())
    return fmt_value(value)


def direction(higher_is_better: bool | None) -> str:
    return {True: "higher", False: "lower"}.get(higher_is_better, "")


def describe_metric(name: str, registered_name: str, definitions: dict, higher_is_better: dict) -> tuple[str, str]:
    """The 'better' cell and the definition of a metric: as the run's metrics.json says, or where it
    says nothing (a run written before it recorded every definition) as the metrics registry does."""
    metric = all_metrics().find(registered_name)
    better = direction(higher_is_better.get(name)) if name in higher_is_better else (direction(metric.higher_is_better) if metric else "")
    definition = definitions.get(name) or (metric.definition if metric else "")
    return better, definition


def stand_in_badge(sentence: str | None) -> str:
    return badge("stand-in / synthetic", sentence or "") if sentence else ""


# ---------------------------------------------------------------- sections


def summary_section(ctx: _Context) -> Section:
    run = ctx.run
    metrics, definitions, hib, intervals = run.metrics, run.definitions, run.higher_is_better, run.intervals
    rows_html, rows_md = [], []
    for name in sorted(metrics):
        if ".chance_" in name:
            continue  # shown beside the metric it is the baseline of
        baseline_name = name.replace("explain.", "explain.chance_", 1)
        baseline = metrics.get(baseline_name)
        value = fmt_interval(metrics[name], intervals.get(name))
        better, definition = describe_metric(name, name, definitions, hib)
        rows_html.append([f"<code>{escape(name)}</code>", escape(value), escape(fmt_value(baseline)) if baseline is not None else "", escape(better), f'<span class="def">{escape(definition)}</span>'])
        rows_md.append([f"`{name}`", value, fmt_value(baseline) if baseline is not None else "", better, definition])
    header = ["metric", "value [95% interval]", "image-blind baseline", "better", "definition"]
    n = len(run.records)
    intro = f"{n} explained images; each rate is the mean over images of the per-image value in records.jsonl. {interval_sentence(intervals)}"
    html = f'<p class="sub">{escape(intro)}</p>' + table_html(header, rows_html, numeric={1, 2})
    markdown = intro + "\n\n" + table_md(header, rows_md)
    return Section("summary", "Metrics", html, markdown, stand_in=bool(ctx.stand_in))


VERDICT_WORDS = ("pass", "fail", "inconclusive")
VERDICT_DEFINITIONS = (
    ("pass", "the lower end of every paired 95% interval (TExplain minus a control it must beat, bootstrapped over the same images; Student's t over seeds where the unit is a trained model) lies above 0."),
    ("fail", "some control's whole interval lies below the stated minimum effect: that control is as good as TExplain to within what matters."),
    ("inconclusive", "a quality gate is unmet, a control was not run, there are too few images, or an interval is too wide to decide; "
                     "the reason then says about how many images would decide."),
)
CEILING_NOTE = "Ceilings (e.g. truth_captions) stand beside the verdict and do not enter it."


def verdict_definitions_html() -> str:
    parts = " ".join(f"<b>{escape(word)}</b>: {escape(text)}" for word, text in VERDICT_DEFINITIONS)
    return f'<p class="sub" id="verdict-definitions">{parts} {escape(CEILING_NOTE)}</p>'


def verdict_definitions_md() -> str:
    return " ".join(f"**{word}**: {text}" for word, text in VERDICT_DEFINITIONS) + " " + CEILING_NOTE


def verdict_rows(metrics_json: dict) -> list[dict] | None:
    """metrics.json's verdict rows (contracts/verdicts.py Verdict.to_json()), or None for a run that did not
    compute them (no "verdicts" key, or the empty dict older runs wrote)."""
    block = metrics_json.get("verdicts")
    if not isinstance(block, dict) or not block:
        return None
    rows = block.get("rows")
    return [r for r in rows if isinstance(r, dict)] if isinstance(rows, list) else None


def _ordered_names(rows: list[dict], key: str) -> list[str]:
    """Every control (key "comparisons") or ceiling (key "ceilings") named in any row, in order of first
    appearance: the rules list their controls in one fixed order (contracts/verdicts.py), so this order is
    stable from run to run."""
    names: list[str] = []
    for row in rows:
        if key == "comparisons":
            found = [c.get("control") for c in row.get("comparisons") or [] if isinstance(c, dict)]
        else:
            found = list(row.get("ceilings") or {})
        for name in found:
            if name is not None and name not in names:
                names.append(name)
    return names


def _fmt_difference(comparison: dict | None) -> str:
    """'+0.420 [+0.310, +0.520]': TExplain minus the control with its paired 95% interval."""
    if not comparison or comparison.get("difference") is None:
        return "-"
    difference = float(comparison["difference"])
    low, high = comparison.get("low"), comparison.get("high")
    if low is None or high is None:
        return f"{difference:+.3f} (no interval)"
    return f"{difference:+.3f} [{float(low):+.3f}, {float(high):+.3f}]"


def _verdict_reason(row: dict) -> str:
    reason = str(row.get("reason") or "")
    to_decide = row.get("images_to_decide")
    if to_decide and "would decide" not in reason:
        reason += f" (about {to_decide} {units(row.get('unit'))} would decide)"
    return reason


def verdicts_section(ctx: _Context) -> Section:
    """The report's opening table: each headline metric's verdict against the controls it must beat."""
    title = "Verdicts"
    rows = verdict_rows(ctx.run.metrics_json)
    if rows is None:
        message = ("Verdicts were not computed for this run (it predates them, or it scored no controls): "
                   "no metric has a pass, fail or inconclusive.")
        return Section("verdicts", title, f'<p class="empty">{escape(message)}</p>', f"_{message}_")
    if not rows:
        message = "Verdicts were computed for this run, but no headline metric had one (TExplain was not scored on images with known truth)."
        return Section("verdicts", title, f'<p class="empty">{escape(message)}</p>' + verdict_definitions_html(),
                       f"_{message}_\n\n{verdict_definitions_md()}", stand_in=bool(ctx.stand_in))
    controls = _ordered_names(rows, "comparisons")
    ceilings = _ordered_names(rows, "ceilings")
    # Markdown: one column per quantity. HTML: the same quantities in fewer, stacked cells (a control's mean over
    # its difference and interval; the verdict over its reason), so the verdict is on screen without scrolling.
    header_md = ["metric", "TExplain", "n", "min effect", *controls, *(f"TExplain − {c} [95%]" for c in controls),
                 *(f"{c} (ceiling)" for c in ceilings), "verdict", "reason"]
    header_html = ["metric", "TExplain", *(f'{escape(c)}<div class="def">mean; TExplain − {escape(c)} [95%]</div>' for c in controls),
                   *(f'{escape(c)}<div class="def">ceiling</div>' for c in ceilings), "verdict and reason"]
    rows_html, rows_md = [], []
    for row in rows:
        by_control = {c.get("control"): c for c in row.get("comparisons") or [] if isinstance(c, dict)}
        values_md, control_cells = [], []
        for control in controls:
            comparison = by_control.get(control)
            if comparison is None:  # this metric's rule does not ask for this control
                values_md.append("")
                control_cells.append("")
                continue
            if comparison.get("control_value") is None:
                why = comparison.get("reason") or "not run"
                values_md.append("not run" if why == "not run" else f"not run ({why})")
                value_html = f'<span class="def" title="{escape(why)}">not run</span>'
            else:
                values_md.append(fmt_value(float(comparison["control_value"])))
                value_html = escape(values_md[-1])
            difference = _fmt_difference(comparison)
            if difference != "-":  # the difference over its interval: narrower than on one line
                value_html += "".join(f'<div class="diff">{escape(part)}</div>' for part in difference.replace(" [", "\n[").split("\n"))
            control_cells.append(value_html)
        differences = [_fmt_difference(by_control.get(control)) if control in by_control else "" for control in controls]
        row_ceilings = row.get("ceilings") or {}
        ceiling_cells = []
        for ceiling in ceilings:
            value = row_ceilings.get(ceiling)
            if isinstance(value, (int, float)):
                ceiling_cells.append(fmt_value(float(value)))
            else:
                ceiling_cells.append("not run" if ceiling in row_ceilings else "")  # "": not a ceiling of this metric
        word = str(row.get("verdict") or "?")
        css = word if word in VERDICT_WORDS else "inconclusive"
        texplain = row.get("texplain")
        texplain_text = fmt_value(float(texplain)) if isinstance(texplain, (int, float)) else "-"
        metric = str(row.get("metric") or "?")
        n, min_effect = fmt_value(row.get("n")), fmt_value(row.get("min_effect"))
        facts = f"{n} {units(row.get('unit'))}; min effect {min_effect}" + (f"; tests {row['tests']}" if row.get("tests") else "")
        reason = _verdict_reason(row)
        rows_html.append([
            f'<code>{escape(metric)}</code><div class="def">{escape(facts)}</div>', escape(texplain_text), *control_cells,
            *map(escape, ceiling_cells), f'<span class="verdict {css}">{escape(word)}</span><div class="def">{escape(reason)}</div>',
        ])
        rows_md.append([f"`{metric}`", texplain_text, f"{n} {units(row.get('unit'))}", min_effect, *values_md, *differences, *ceiling_cells, f"**{word}**", reason])
    counts = {w: sum(1 for r in rows if r.get("verdict") == w) for w in VERDICT_WORDS}
    intro = (f"Each headline metric of TExplain against the controls it must beat, on the same images: "
             f"{counts['pass']} pass, {counts['fail']} fail, {counts['inconclusive']} inconclusive. "
             "For each control: its mean, and TExplain minus it (the mean paired difference with its 95% interval: a bootstrap over the same images, or Student's t over seeds where the unit is a trained model).")
    numeric = set(range(1, 2 + len(controls) + len(ceilings)))
    html = (f'<p class="sub">{escape(intro)}</p><div class="scroll wide">'
            + table_html(header_html, rows_html, numeric=numeric, css="verdicts", cell_css={len(header_html) - 1: "verdict-cell"}) + "</div>"
            + verdict_definitions_html())
    markdown = intro + "\n\n" + table_md(header_md, rows_md) + "\n\n" + verdict_definitions_md()
    return Section("verdicts", title, html, markdown, stand_in=bool(ctx.stand_in))


def _class_stats(records: list[dict]) -> dict[str, tuple[int, WordStats]]:
    grouped: dict[str, list[WordStats]] = {}
    for record in records:
        # The run draws a class's cloud from the true object where known, else the classifier's top-1.
        name = (record.get("truth") or {}).get("object") or (record.get("classifier_top1") or {}).get("name")
        if name is None or "word_stats" not in record:
            continue
        grouped.setdefault(name, []).append(WordStats.from_json(record["word_stats"]))
    return {name: (len(stats), merge_stats(stats)) for name, stats in grouped.items()}


EMPTY_CLOUD_ADVICE = (
    "every sampled sentence was stop words or words shorter than two letters (or no word reached "
    "explain.min_doc_freq); sample more sentences (--set sampling.num_sentences=...), longer ones "
    "(--set sampling.min_words=...), or lower explain.min_doc_freq"
)


def empty_clouds_note(empty: dict[str, dict]) -> str | None:
    """One report note naming every placeholder cloud, its reason, and what to change."""
    if not empty:
        return None
    listed = "; ".join(f"{Path(cloud).stem} ({info['reason']})" for cloud, info in sorted(empty.items()))
    return f"{len(empty)} word cloud(s) had no word to draw and show a placeholder: {listed}. Why: {EMPTY_CLOUD_ADVICE}"


def class_clouds_section(ctx: _Context) -> Section:
    run = ctx.run
    clouds = [c for c in run.metrics_json.get("wordclouds", []) if Path(c).name.startswith("class_")]
    stats = _class_stats(run.records)
    empty = run.empty_clouds
    cards, md = [], []
    for cloud in clouds:
        name = Path(cloud).stem.removeprefix("class_")
        count, merged = stats.get(name, (0, None))
        top = ", ".join(w for w, _ in merged.top_k(5, min_doc_freq=run.min_doc_freq)) if merged else ""
        meta = f"{count} image{'s' if count != 1 else ''}; top words: {top}" if merged else ""
        if cloud in empty:
            meta = f"{count} image{'s' if count != 1 else ''}; empty cloud: {empty[cloud]['reason']}"
        cards.append(f'<div class="card"><h4>{escape(name)}</h4>{img_html(run.path / cloud, f"word cloud of class {name}")}<div class="meta">{escape(meta)}</div></div>')
        md.append(f"### {name}\n\n![word cloud of class {name}]({cloud})\n\n{meta}\n")
    if not cards:
        html = '<p class="empty">No per-class word clouds in metrics.json["wordclouds"].</p>'
        return Section("class-clouds", "Per-class word clouds", html, "_No per-class word clouds._", stand_in=bool(ctx.stand_in))
    intro = "All sentences of a class's explained images pooled; word size is document frequency; the class word is red, other words gray."
    html = f'<p class="sub">{escape(intro)}</p>'
    markdown = intro + "\n\n"
    empty_classes = [Path(c).stem.removeprefix("class_") for c in clouds if c in empty]
    if empty_classes:
        warning = f"Empty clouds ({', '.join(empty_classes)}): {EMPTY_CLOUD_ADVICE}."
        html += f'<p class="empty" id="empty-clouds">{escape(warning)}</p>'
        markdown += f"> **{warning}**\n\n"
    html += f'<div class="grid">{"".join(cards)}</div>'
    table_html_part, table_md_part = _per_class_table(run)
    html += table_html_part
    return Section("class-clouds", "Per-class word clouds", html, markdown + "\n".join(md) + table_md_part, stand_in=bool(ctx.stand_in))


def _per_class_table(run) -> tuple[str, str]:
    """The explain rates per true class (harness/metrics/explain.py per_class_rates); empty without truth."""
    top_k = int(run.metrics_json.get("metrics", {}).get("explain.top_k") or 5)
    rows = per_class_rates(run.records, top_k)
    if not rows:
        return "", ""
    header = ["class", "images", f"object in top-{top_k} [95% Wilson]", f"background in top-{top_k}", "object doc. freq.", "other class word most often in top-k"]
    body = [
        [r["class"], str(r["images"]), f"{r['object_in_top_k_rate']:.2f} [{r['object_in_top_k_interval'][0]:.2f}, {r['object_in_top_k_interval'][1]:.2f}]",
         f"{r['background_in_top_k_rate']:.2f}", f"{r['object_doc_freq_mean']:.2f}",
         f"{r['most_confused_with']} ({r['most_confused_images']} images)" if r["most_confused_with"] else "-"]
        for r in rows
    ]
    intro = "Per class (the true object of each explained image): how often its explanation names it, and which other class word it names instead."
    html = f'<h3 id="per-class-rates">Rates per class</h3><p class="sub">{escape(intro)}</p>' + table_html(header, [[escape(c) for c in row] for row in body], numeric={1, 2, 3, 4})
    return html, f"\n### Rates per class\n\n{intro}\n\n" + table_md(header, body) + "\n"


def _chips(record: dict) -> tuple[str, str]:
    truth = record.get("truth") or {}
    chips_html, words_md = [], []
    for word, freq in (record.get("top_words") or [])[:TOP_WORDS_SHOWN]:
        kind = "object" if word == truth.get("object") else "background" if word == truth.get("background") else ""
        chips_html.append(f'<span class="chip {kind}" title="in {freq:.0%} of sentences">{escape(word)} {freq:.2f}</span>')
        words_md.append(f"**{word}** {freq:.2f}" if kind else f"{word} {freq:.2f}")
    return f'<div class="chips">{"".join(chips_html)}</div>', ", ".join(words_md)


def _yes_no(value: Any) -> str:
    if value is None:
        return "-"
    return '<span class="yes">yes</span>' if value else '<span class="no">no</span>'


def examples_section(ctx: _Context) -> Section:
    run = ctx.run
    clouds = {Path(c).stem.removeprefix("image_"): c for c in run.metrics_json.get("wordclouds", []) if Path(c).name.startswith("image_")}
    empty = run.empty_clouds
    # Images that have their own cloud first (the run draws clouds for the first few only).
    chosen = [r for r in run.records if r["image_id"] in clouds] or list(run.records)
    chosen = chosen[: ctx.examples]
    blocks, md = [], []
    for record in chosen:
        image_id = record["image_id"]
        truth = record.get("truth") or {}
        top1 = record.get("classifier_top1") or {}
        image_path = run.image_path(record)
        cloud = clouds.get(image_id)
        chips, words_md = _chips(record)
        per_image = record.get("per_image_metrics") or {}
        facts = [
            ("classifier top-1", escape(f"{top1.get('name', '-')} (index {top1.get('index', '-')})")),
            ("true object", escape(str(truth.get("object", "-")))),
            ("true background", escape(str(truth.get("background", "-")))),
            ("colour", escape(str(truth.get("color", "-")))),
            ("caption", escape(str(truth.get("caption", "-")))),
            ("object word in top-k", _yes_no(record.get("object_in_top_k"))),
            ("background word in top-k", _yes_no(record.get("background_in_top_k"))),
            ("sentences", escape(str(record.get("num_sentences", "-")))),
        ]
        facts_html = "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in facts)
        cloud_html = img_html(run.path / cloud, f"word cloud of {image_id}") if cloud else '<div class="missing">no cloud drawn for this image</div>'
        empty_reason = empty.get(cloud, {}).get("reason") if cloud else None
        if empty_reason:
            cloud_html += f'<div class="sub">empty cloud: {escape(empty_reason)}</div>'
        blocks.append(
            f'<div class="example"><div>{img_html(image_path, image_id)}<div class="sub"><code>{escape(image_id)}</code></div></div>'
            f'<div><dl>{facts_html}</dl><div class="sub" style="margin:10px 0 0">top words (share of sentences; object red, background blue)</div>{chips}</div>'
            f"<div>{cloud_html}</div></div>"
        )
        copied = _copy_asset(image_path, ctx.assets / f"image_{image_id}{image_path.suffix if image_path else '.png'}", ctx.notes)
        md_lines = [f"### {image_id}", ""]
        pictures = []
        if copied:
            pictures.append(f"![{image_id}]({ASSETS}/{copied.name})")
        if cloud:
            pictures.append(f"![word cloud of {image_id}]({cloud})")
        if pictures:
            md_lines += [" ".join(pictures), ""]
        md_lines += [
            f"- classifier top-1: {top1.get('name', '-')} (index {top1.get('index', '-')})",
            f"- truth: object **{truth.get('object', '-')}**, background **{truth.get('background', '-')}**, colour {truth.get('color', '-')}",
            f"- caption: {truth.get('caption', '-')}",
            f"- top words: {words_md}",
            f"- object word in top-k: {fmt_value(record.get('object_in_top_k'))}; background word in top-k: {fmt_value(record.get('background_in_top_k'))}",
        ]
        if empty_reason:
            md_lines.append(f"- empty cloud: {empty_reason}")
        if per_image:
            md_lines.append("- per-image metrics: " + ", ".join(f"`{k}` {fmt_value(v)}" for k, v in sorted(per_image.items())))
        md.append("\n".join(md_lines) + "\n")
    if not blocks:
        return Section("examples", "Single-image examples", '<p class="empty">records.jsonl is empty.</p>', "_records.jsonl is empty._", stand_in=bool(ctx.stand_in))
    intro = (
        f"The first {len(blocks)} explained image{'s' if len(blocks) != 1 else ''}: the image, what the classifier predicts, "
        "the true labels where they are known, and the explanation."
    )
    return Section("examples", "Single-image examples", f'<p class="sub">{escape(intro)}</p>' + "".join(blocks), intro + "\n\n" + "\n".join(md), stand_in=bool(ctx.stand_in))


def _suite_block(suite: SuiteResult, run_path: Path) -> tuple[str, str]:
    rows_html, rows_md = [], []
    for name in sorted(suite.metrics):
        value, paper = fmt_interval(suite.metrics[name], suite.intervals.get(name)), suite.paper.get(name)
        better, definition = describe_metric(name, suite_metric_name(suite.name, name), suite.definitions, suite.higher_is_better)
        rows_html.append([f"<code>{escape(name)}</code>", escape(value), escape(fmt_paper(paper)) if paper is not None else '<span class="def">no figure in the paper</span>', escape(better), f'<span class="def">{escape(definition)}</span>'])
        rows_md.append([f"`{name}`", value, fmt_paper(paper) if paper is not None else "(none)", better, definition])
    # Paper entries without a metric of ours (e.g. notes) are still shown, so nothing the suite says is lost.
    for name in sorted(set(suite.paper) - set(suite.metrics)):
        rows_html.append([f"<code>{escape(name)}</code>", "-", escape(fmt_paper(suite.paper[name])), "", '<span class="def">paper only</span>'])
        rows_md.append([f"`{name}`", "-", fmt_paper(suite.paper[name]), "", "paper only"])
    header = ["metric", "this run [95% interval]", "paper", "better", "definition"]
    version = suite.summary.get("version", "?")
    seconds = suite.summary.get("seconds")
    heading_badge = stand_in_badge(suite.stand_in) if suite.stand_in else badge("real data and models", ok=True)
    html = [f'<h3 id="suite-{escape(suite.name)}">{escape(suite.name)} <span class="sub" style="margin:0">version {escape(str(version))}{f", {seconds:.0f} s" if isinstance(seconds, (int, float)) else ""}</span>{heading_badge}</h3>']
    md = [f"### {suite.name} (version {version})", ""]
    if suite.stand_in:
        html.append(f'<div class="banner"><strong>Stand-in</strong>{escape(suite.stand_in)}</div>')
        md += [f"> **STAND-IN:** {suite.stand_in}", ""]
    html.append(f'<p class="sub">{escape(interval_sentence(suite.intervals))}</p>')
    md += [interval_sentence(suite.intervals), ""]
    for table in suite.summary.get("tables") or []:
        html_part, md_part = _paper_layout_table(table)
        html.append(html_part)
        md += [md_part, ""]
    html.append(table_html(header, rows_html, numeric={1}))
    md += [table_md(header, rows_md), ""]
    if suite.figures:
        cards = "".join(f'<div class="card"><h4>{escape(Path(f).stem)}</h4>{img_html(run_path / f, Path(f).stem)}</div>' for f in suite.figures)
        html.append(f'<div class="grid">{cards}</div>')
        md += [" ".join(f"![{Path(f).stem}]({f})" for f in suite.figures), ""]
    details = suite.summary.get("details")
    if details:
        text = json.dumps(details, indent=1, sort_keys=True)
        if len(text) > 20000:
            text = text[:20000] + "\n... (truncated; see the suite's metrics.json)"
        html.append(f"<details><summary>details (from suites/{escape(suite.name)}/metrics.json)</summary><pre>{escape(text)}</pre></details>")
    return "".join(html), "\n".join(md)


def _paper_layout_table(table: dict) -> tuple[str, str]:
    """A table a suite returned from Suite.tables (e.g. Waterbirds' Table 2 layout, ours beside the paper's)."""
    header = [str(h) for h in table.get("header", [])]
    rows = [[fmt_value(cell) if not isinstance(cell, str) else cell for cell in row] for row in table.get("rows", [])]
    title, note = table.get("title", ""), table.get("note")
    numeric = set(range(1, len(header)))
    html = f"<h4>{escape(title)}</h4>" + table_html(header, [[escape(c) for c in row] for row in rows], numeric=numeric)
    md = (f"**{title}**\n\n" if title else "") + table_md(header, rows)
    if note:
        html += f'<p class="sub">{escape(note)}</p>'
        md += f"\n\n_{note}_"
    return html, md


def suites_section(ctx: _Context) -> Section:
    suites = ctx.run.suites
    if not suites:
        message = "No faithfulness suite ran in this run (enable one under suites: in the config)."
        return Section("suites", "Faithfulness suites", f'<p class="empty">{escape(message)}</p>', f"_{message}_")
    blocks = [_suite_block(suite, ctx.run.path) for _, suite in sorted(suites.items())]
    intro = "Each suite's metrics beside the paper's figure for the same quantity, where the paper reports one."
    any_stand_in = any(s.stand_in for s in suites.values())
    return Section("suites", "Faithfulness suites", f'<p class="sub">{escape(intro)}</p>' + "".join(b[0] for b in blocks), intro + "\n\n" + "\n".join(b[1] for b in blocks), stand_in=any_stand_in)


def extension_sections(ctx: _Context) -> list[Section]:
    """The sections other packages register for finished runs (contracts/run_extensions.py), e.g. the human
    ratings of human_eval, in registry order."""
    load_plugins()
    sections = []
    for name in REPORT_SECTIONS.names():
        extension = REPORT_SECTIONS.get(name)
        html, markdown = extension.parts(ctx.run.path)
        sections.append(Section(name, extension.title, html, markdown))
    return sections


def explainers_section(ctx: _Context) -> Section:
    """TExplain beside its controls on the same held-out images (metrics.json "explainers")."""
    table = ctx.run.metrics_json.get("explainers") or {}
    if not table:
        message = "No explainer table in this run (its images have no known truth, or it predates the table)."
        return Section("explainers", "TExplain and its controls", f'<p class="empty">{escape(message)}</p>', f"_{message}_")
    # A trained control the config left out and no verdict needs (e.g. a cascading-randomization level) is
    # named once below the table, not given a row of n/a; one a verdict needs keeps its row, so its absence shows.
    left_out = [name for name, entry in table.items()
                if entry.get("trained") and not entry.get("metrics") and name not in CLASSIFIER_CONTROLS
                and str(entry.get("reason", "")).startswith(LEFT_OUT)]
    table = {name: entry for name, entry in table.items() if name not in left_out}
    metrics = sorted({m for entry in table.values() for m in (entry.get("metrics") or {})})
    header = ["explainer", "reads image", "reads classifier", *metrics]
    rows_html, rows_md = [], []
    for name, entry in table.items():
        values = entry.get("metrics")
        cells = [fmt_interval(values[m], (entry.get("intervals") or {}).get(m)) if values else "n/a" for m in metrics]
        facts = ["yes" if entry.get("reads_image") else "no", "yes" if entry.get("reads_classifier") else "no"]
        rows_html.append([f'<span title="{escape(entry.get("definition", ""))}">{escape(name)}</span>', *facts, *map(escape, cells)])
        rows_md.append([name, *facts, *cells])
    intro = ("Every per-image explain metric for TExplain and for controls that must not reach it if the metric tests what the "
             "classifier learned: image_blind and permuted ignore the image, truth_captions ignores the classifier. "
             "95% bootstrap intervals over the same images; n/a: the control cannot explain these images.")
    definitions = "".join(f"<li><b>{escape(n)}</b>: {escape(e.get('definition', ''))}</li>" for n, e in table.items())
    html = f'<p class="sub">{escape(intro)}</p>' + table_html(header, rows_html, numeric=set(range(3, len(header)))) + f"<ul>{definitions}</ul>"
    markdown = intro + "\n\n" + table_md(header, rows_md) + "\n\n" + "\n".join(f"- **{n}**: {e.get('definition', '')}" for n, e in table.items())
    if left_out:
        note = f"Trained controls not run (left out by controls.trained): {', '.join(left_out)}."
        html += f'<p class="sub">{escape(note)}</p>'
        markdown += "\n\n" + note
    cascade = cascade_parts(table, ctx.assets)
    if cascade is not None:
        html += cascade[0]
        markdown += "\n\n" + cascade[1]
    return Section("explainers", "TExplain and its controls", html, markdown)


# score_explainers' reason for a trained control the config did not ask for (harness/metrics/explain.py); a
# control that was asked for and could not run keeps its row and its own reason.
LEFT_OUT = "left out by the config's controls.trained"

# The cascading randomization controls are named by how many top blocks they randomize
# (explainers/cascading_randomization.py: NAME_PREFIX); the report stands below the explainers and reads names only.
CASCADE_PREFIX = "random_top_blocks_"
CASCADE_METRICS = (
    ("explain.object_in_top_k_rate", "object in top-k"),
    ("explain.background_in_top_k_rate", "background in top-k"),
    ("explain.object_doc_freq_mean", "object doc-freq mean"),
    ("explain.background_doc_freq_mean", "background doc-freq mean"),
)
CASCADE_DEFINITION = (
    "Cascading randomization (Adebayo et al., \"Sanity Checks for Saliency Maps\", NeurIPS 2018): the classifier's top blocks, "
    "and everything after them, re-initialised to seeded random weights, and a translator trained on its features with the run's "
    "recipe; an explanation that reads what the classifier learned should name the object and background less as more of the "
    "network is randomized from the top down. Shown, not a control the verdicts need (its lower blocks are still trained)."
)


def _cascade_rows(table: dict) -> list[tuple[str, float | None, dict]]:
    """(label, blocks randomized or None for all, entry) of TExplain, each cascade level that ran (fewest blocks
    first) and random_classifier (every weight) when it ran."""
    levels = []
    for name, entry in table.items():
        suffix = name.removeprefix(CASCADE_PREFIX)
        if name.startswith(CASCADE_PREFIX) and suffix.isdigit() and entry.get("metrics"):
            levels.append((int(suffix), name, entry))
    rows = []
    if (table.get("texplain") or {}).get("metrics"):
        rows.append(("texplain (0: the trained classifier)", 0, table["texplain"]))
    rows += [(f"{name} (top {count})", count, entry) for count, name, entry in sorted(levels)]
    if (table.get("random_classifier") or {}).get("metrics"):
        rows.append(("random_classifier (all, the stem too)", None, table["random_classifier"]))
    return rows


def cascade_parts(table: dict, assets: Path) -> tuple[str, str] | None:
    """The "Cascading randomization" subsection of the explainers section: the main per-image metrics (95%
    interval over images) with 0, each level's and all blocks randomized, and a chart of the top-k rates by
    blocks randomized; None when no cascade level ran."""
    if not any(name.startswith(CASCADE_PREFIX) and (entry or {}).get("metrics") for name, entry in table.items()):
        return None
    rows = _cascade_rows(table)
    header = ["explainer (top blocks randomized)", *(label for _, label in CASCADE_METRICS)]
    cells = []
    for label, _, entry in rows:
        values, intervals = entry.get("metrics") or {}, entry.get("intervals") or {}
        cells.append([label, *(fmt_interval(values[m], intervals.get(m)) if m in values else "n/a" for m, _ in CASCADE_METRICS)])
    series = []
    for metric, label in CASCADE_METRICS[:2]:
        # random_classifier has no block count here (the run does not record how many the classifier has): table only.
        points = [(float(count), float(entry["metrics"][metric])) for _, count, entry in rows if count is not None and metric in entry["metrics"]]
        if points:
            series.append(Series(label, points))
    svg = line_chart(series, "top blocks randomized (0: the trained classifier)", "share of images")
    atomic_write_text(assets / "cascading_randomization.svg", svg + "\n")
    numeric = set(range(1, len(header)))
    html = ('<h3 id="cascading-randomization">Cascading randomization</h3>'
            f'<p class="sub">{escape(CASCADE_DEFINITION)}</p>'
            + table_html(header, [[escape(c) for c in row] for row in cells], numeric=numeric, css="compact")
            + f'<div class="chart">{svg}</div>')
    markdown = (f"### Cascading randomization\n\n{CASCADE_DEFINITION}\n\n" + table_md(header, cells)
                + f"\n\n![top-k rates by top blocks randomized]({ASSETS}/cascading_randomization.svg)")
    return html, markdown


def training_section(ctx: _Context) -> Section:
    history = ctx.run.metrics_json.get("training") or []
    if not history:
        return Section("training", "Training curve", '<p class="empty">No training history in metrics.json.</p>', "_No training history._")
    series = []
    for key, label in (("train_loss", "train loss"), ("val_loss", "validation loss")):
        points = [(float(h["epoch"]), float(h[key])) for h in history if isinstance(h.get(key), (int, float)) and "epoch" in h]
        if points:
            series.append(Series(label, points))
    svg = line_chart(series, "epoch", "caption cross-entropy")
    atomic_write_text(ctx.assets / "training_curve.svg", svg + "\n")
    columns = [k for k in ("epoch", "train_loss", "val_loss", "seconds", "captions_per_second") if any(k in h for h in history)]
    # Seconds and throughput to one decimal; losses to three.
    rows = [[f"{h[k]:.1f}" if k in ("seconds", "captions_per_second") and isinstance(h.get(k), (int, float)) else fmt_value(h.get(k)) for k in columns] for h in history]
    intro = "Translator training: caption cross-entropy through the frozen language model, by epoch."
    html = f'<p class="sub">{escape(intro)}</p><div class="chart">{svg}</div>' + table_html(columns, [[escape(c) for c in row] for row in rows], numeric=set(range(len(columns))), css="compact")
    markdown = f"{intro}\n\n![training curve]({ASSETS}/training_curve.svg)\n\n" + table_md(columns, rows)
    return Section("training", "Training curve", html, markdown)


def timings_section(ctx: _Context) -> Section:
    seconds = ctx.run.metrics_json.get("stage_seconds") or {}
    status = {name: entry.get("status", "") for name, entry in ctx.run.stages.items()}
    total = ctx.run.metrics_json.get("total_seconds")
    if not seconds:
        return Section("timings", "Stage timings", '<p class="empty">No stage_seconds in metrics.json.</p>', "_No stage timings._")
    longest = max(seconds.values()) or 1.0
    summed = sum(seconds.values()) or 1.0
    rows_html, rows_md = [], []
    for name, value in seconds.items():
        width = max(0.5, 100.0 * value / longest)  # bars relative to the longest stage
        share = f"{100.0 * value / summed:.0f}%"
        rows_html.append([f"<code>{escape(name)}</code>", f"{value:.1f}", share, f'<div class="bar" style="width:{width:.1f}%"></div>', escape(status.get(name, ""))])
        rows_md.append([f"`{name}`", f"{value:.1f}", share, status.get(name, "")])
    header, header_md = ["stage", "seconds", "share", ""], ["stage", "seconds", "share"]
    note = f"Total wall time {total:.0f} s." if isinstance(total, (int, float)) else ""
    if status:
        header.append("status")
        header_md.append("status")
        note += " Status from stages.json: 'ran', or 'reused' when finished earlier under the same key."
    else:
        rows_html = [row[:-1] for row in rows_html]
        rows_md = [row[:-1] for row in rows_md]
    html = table_html(header, rows_html, numeric={1, 2}, css="compact", cell_css={3: "barcell"}) + (f'<p class="sub">{escape(note)}</p>' if note else "")
    markdown = table_md(header_md, rows_md) + (f"\n\n{note}" if note else "")
    return Section("timings", "Stage timings", html, markdown)


def _precision_facts(record: dict) -> list[tuple[str, str]]:
    """One line per stage: the resolved precision and why (texplain/precision.py), and the CPU probe."""
    facts = [(f"precision: {stage}", f"{choice.get('resolved')} (asked {choice.get('requested')}: {choice.get('reason')})")
             for stage, choice in (record.get("stages") or {}).items()]
    probe = record.get("cpu_probe")
    if probe:
        facts.append(("CPU bf16 probe", f"bf16 {probe.get('bf16_gflops')} GFLOP/s, fp32 {probe.get('fp32_gflops')} GFLOP/s "
                                        f"({probe.get('bf16_speedup')}x); native: {probe.get('native')}"))
    return facts


def _resources_fact(resources: dict | None) -> str | None:
    """Peak memory and seconds per training step (harness/pipeline/resources.py), for runs that recorded them."""
    if not resources:
        return None
    from harness.pipeline.resources import describe

    return describe(resources)


def provenance_section(ctx: _Context) -> Section:
    m = ctx.run.metrics_json
    prov = m.get("provenance") or {}
    models = m.get("models") or {}
    facts = [
        ("run directory", str(ctx.run.path)),
        ("texplain-harness version", prov.get("harness_version")),
        ("result format", m.get("format") or "texplain-metrics/1 (written before formats were versioned)"),
        ("seed", m.get("seed")),
        ("config hash", m.get("config_hash")),
        ("git commit", prov.get("git_commit")),
        ("date", prov.get("date")),
        ("device", f"{prov.get('device', '-')} ({prov.get('device_name', '-')})"),
        ("python", prov.get("python")),
        ("platform", prov.get("platform")),
        ("torch threads", prov.get("torch_threads")),
        ("CPU flags (bf16-related)", ", ".join(prov["cpu_flags"]) if prov.get("cpu_flags") is not None else None),
        *_precision_facts(m.get("precision") or {}),
        ("classifier", models.get("classifier")),
        ("decoder", models.get("decoder")),
        ("weights", models.get("note") if models.get("random_weights") else None),
        ("data", m.get("data")),
        ("world directory", m.get("world_dir")),
        ("feature cache", m.get("feature_cache")),
        ("resources", _resources_fact(m.get("resources"))),
    ]
    facts = [(k, v) for k, v in facts if v is not None]
    libraries = sorted((prov.get("libraries") or {}).items())
    html = table_html(None, [[escape(k), escape(fmt_value(v))] for k, v in facts], css="kv")
    if libraries:
        html += "<h3>Library versions</h3>" + table_html(["library", "version"], [[escape(k), escape(str(v))] for k, v in libraries], css="compact")
    config_text = json.dumps(ctx.run.config, indent=2, sort_keys=True)
    html += f"<details><summary>resolved config (config.json)</summary><pre>{escape(config_text)}</pre></details>"
    markdown = table_md(["what", "value"], [[k, fmt_value(v)] for k, v in facts])
    if libraries:
        markdown += "\n\n" + table_md(["library", "version"], [[k, v] for k, v in libraries])
    markdown += f"\n\n<details><summary>resolved config (config.json)</summary>\n\n```json\n{config_text}\n```\n\n</details>"
    return Section("provenance", "Provenance", html, markdown)


# ---------------------------------------------------------------- assembly


def _copy_asset(source: Path | None, destination: Path, notes: list[str]) -> Path | None:
    if source is None or not source.is_file():
        notes.append(f"image {source} not found (the world cache may have been cleared); report.md shows no picture for it")
        return None
    destination.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, destination)
    return destination


def _title(run: FinishedRun) -> str:
    name = run.config.get("name") or run.path.name
    return f"TExplain run {name}" + (f" ({run.metrics_json['config_hash']})" if run.metrics_json.get("config_hash") else "")


def render_html(run: FinishedRun, sections: list[Section], stand_in: str | None, notes: list[str]) -> str:
    date = (run.metrics_json.get("provenance") or {}).get("date", "")
    nav = "".join(f'<a href="#{s.id}">{escape(s.title)}</a>' for s in sections)
    banner = ""
    if stand_in:
        banner = f'<div class="banner" id="stand-in"><strong>Stand-ins: these numbers are not the paper\'s setting.</strong>{escape(stand_in)}</div>'
    body = []
    for s in sections:
        mark = stand_in_badge(stand_in) if s.stand_in and s.id != "suites" else ""
        body.append(f'<section id="{s.id}"><h2>{escape(s.title)} {mark}</h2>{s.html}</section>')
    notes_html = "".join(f"<li>{escape(n)}</li>" for n in notes)
    footer = f'<section id="report-notes"><h2>Report notes</h2><ul>{notes_html}</ul></section>' if notes else ""
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(_title(run))}</title><style>{CSS}</style></head><body><main>"
        f'<h1>{escape(_title(run))}</h1><p class="sub">{escape(str(run.path))}{" · " + escape(date) if date else ""} · rebuild with <code>texplain report {escape(str(run.path))}</code></p>'
        f"<nav>{nav}</nav>{banner}{''.join(body)}{footer}</main></body></html>\n"
    )


def render_markdown(run: FinishedRun, sections: list[Section], stand_in: str | None, notes: list[str]) -> str:
    parts = [f"# {_title(run)}", "", f"Run directory `{run.path}`; rebuild with `texplain report {run.path}`.", ""]
    if stand_in:
        parts += [f"> **STAND-INS — these numbers are not the paper's setting:** {stand_in}", ""]
    parts += ["Contents: " + " · ".join(f"[{s.title}](#{s.id})" for s in sections), ""]
    for s in sections:
        mark = " `[stand-in / synthetic]`" if s.stand_in and stand_in and s.id != "suites" else ""
        parts += [f'<a id="{s.id}"></a>', "", f"## {s.title}{mark}", "", s.markdown.rstrip(), ""]
    if notes:
        parts += ["## Report notes", ""] + [f"- {n}" for n in notes] + [""]
    return "\n".join(parts)


def write_report(run_dir: Path, examples: int = DEFAULT_EXAMPLES) -> ReportPaths:
    """(Re)build report.html and report.md in `run_dir` from the files there; returns their paths."""
    run = read_run(Path(run_dir))
    assets = run.path / ASSETS
    # Rebuilt from scratch each time, so assets of images no longer shown do not linger.
    if assets.exists():
        shutil.rmtree(assets)
    assets.mkdir(parents=True)
    ctx = _Context(run, run.stand_in(), assets, examples)
    if run.legacy_records:
        ctx.notes.append("records.jsonl predates per_image_metrics; per-image values shown are recomputed from object_in_top_k, background_in_top_k and word_stats")
    if run.renamed:
        ctx.notes.append(renamed_note(run.renamed, "this run"))
    empty_note = empty_clouds_note(run.empty_clouds)
    if empty_note:
        ctx.notes.append(empty_note)
    sections = [
        verdicts_section(ctx),  # first: what the run concludes, before the numbers it rests on
        summary_section(ctx),
        class_clouds_section(ctx),
        examples_section(ctx),
        explainers_section(ctx),
        suites_section(ctx),
        *extension_sections(ctx),
        training_section(ctx),
        timings_section(ctx),
        provenance_section(ctx),
    ]
    html_path, md_path = run.path / "report.html", run.path / "report.md"
    atomic_write_text(html_path, render_html(run, sections, ctx.stand_in, ctx.notes))
    atomic_write_text(md_path, render_markdown(run, sections, ctx.stand_in, ctx.notes))
    return ReportPaths(html_path, md_path, assets)
