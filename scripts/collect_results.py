"""Collect the committed results into one generated page, docs/results.md, so that no figure is typed by hand.

    .venv/bin/python scripts/collect_results.py [--results results] [--out docs/results.md]

Reads, under the results folder:

- ``<run>/metrics.json`` and ``<run>/stages.json`` of every committed run directory (results/quickstart/,
  results/quickstart-avx2/, ...): the machine, the precision each stage ran in, seconds per stage, and the
  explanation quality (object / background in the top-k words, with their 95% intervals over images). A run
  directory may also sit one level deeper, in a folder that groups runs and is no run itself
  (results/verdicts/<name>/metrics.json);
- the ``"verdicts"`` of those runs' metrics.json (contracts/verdicts.py), where present: one table per run with
  each metric's verdict, TExplain's value and each control's value with the paired difference and its interval;
  runs from before verdicts (no such key) get none;
- ``benchmarks/<kind>-<YYYYMMDD-HHMMSS>[-tag].json``: one table per kind of benchmark, newest first, with the
  CPU it ran on, the headline figure and the baseline it is measured against.

It writes markdown and prints where. The page is a pure function of the JSON files (no clock, no machine,
rows in a fixed order), so running it twice gives the same bytes and a diff of docs/results.md shows what
changed in the results. After DomainBed's ``collect_results``: results are files; tables are generated
from them. Standard library only, so it runs in seconds in any Python 3.11.

A benchmark file of a kind this script does not know still gets a row (its date and file) in a table of its
own, so a new benchmark is visible before anyone writes its renderer here.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
NOT_RECORDED = "not recorded"
# Stage columns in the order a run executes them; suite stages ("suite:<name>") go between words and report.
STAGE_ORDER = ("data", "features", "translator", "explain", "words")
BENCHMARK_NAME = re.compile(r"^(?P<kind>.+?)-(?P<stamp>\d{8}-\d{6})(?:-(?P<tag>.+))?\.json$")


# --- small formatting helpers: every number goes through one of these, so the page is stable ---------------


def fmt(value: Any, digits: int = 2) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _float(value: Any) -> float | None:
    """JSON writes 225.0 as 225: read counts that are means as floats, so a column has one number format."""
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else value


def fmt_ratio(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}x"


def fmt_share(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.0f}%"


def fmt_interval(value: float | None, interval: dict | None) -> str:
    """'0.859 [0.766, 0.938]'; a value without an interval (none recorded) stands alone."""
    if value is None:
        return "—"
    if not interval or interval.get("low") is None or interval.get("high") is None:
        return f"{value:.3f}"
    return f"{value:.3f} [{interval['low']:.3f}, {interval['high']:.3f}]"


def fmt_seconds(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    whole = int(round(seconds))
    return f"{whole} ({whole // 60}:{whole % 60:02d})"


def fmt_cpu(model: str | None, flags: list[str] | None) -> str:
    if not model:
        return NOT_RECORDED
    return f"{model} ({', '.join(flags)})" if flags else model


def fmt_stamp(stamp: str) -> str:
    """'20261206-155428' -> '2026-12-06 15:54'."""
    return f"{stamp[0:4]}-{stamp[4:6]}-{stamp[6:8]} {stamp[9:11]}:{stamp[11:13]}"


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    cells = [[cell.replace("|", "\\|") for cell in row] for row in rows]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in cells]
    return lines


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise SystemExit(f"error: {path}: cannot read it as JSON ({error}); fix or remove the file") from error


# --- default runs ---------------------------------------------------------------------------------------


@dataclass
class Run:
    name: str  # the folder under results/, "group/name" for one a level deeper
    source: str  # its path as printed on the page
    metrics: dict
    stages: dict  # stages.json, or {} when the folder has none

    @property
    def provenance(self) -> dict:
        return self.metrics.get("provenance", {})

    @property
    def date(self) -> str:
        return str(self.provenance.get("date", ""))

    def stage_seconds(self) -> dict[str, tuple[float, str]]:
        """stage -> (seconds, status); stages.json where present, else metrics.json's stage_seconds."""
        if self.stages:
            return {name: (entry.get("seconds"), entry.get("status", "")) for name, entry in self.stages.items()}
        return {name: (seconds, "") for name, seconds in self.metrics.get("stage_seconds", {}).items()}

    def precision(self) -> str:
        stages = self.metrics.get("precision", {}).get("stages", {})
        resolved = {name: entry.get("resolved") for name, entry in sorted(stages.items()) if isinstance(entry, dict)}
        if not resolved:
            return NOT_RECORDED
        if len(set(resolved.values())) == 1:
            return next(iter(resolved.values()))
        return ", ".join(f"{name} {value}" for name, value in resolved.items())

    def cpu(self) -> str:
        probe = self.metrics.get("precision", {}).get("cpu_probe") or {}
        model = self.provenance.get("cpu_model") or probe.get("cpu_model")
        flags = self.provenance.get("cpu_flags") or probe.get("flags")
        return fmt_cpu(model, flags)


def run_folders(results: Path) -> list[Path]:
    """Every run directory (a folder with a metrics.json): results/<run>/, and results/<group>/<run>/ where
    <group> is no run itself (a run's own subfolders, such as its suites/, are part of that run). Each folder
    once, also when a link makes two paths lead to it; benchmarks/ is no run."""
    found: dict[Path, Path] = {}
    for metrics_path in sorted(results.glob("*/metrics.json")) + sorted(results.glob("*/*/metrics.json")):
        folder = metrics_path.parent
        parts = folder.relative_to(results).parts
        if parts[0] == "benchmarks":
            continue
        if len(parts) == 2 and (results / parts[0] / "metrics.json").exists():
            continue
        found.setdefault(folder.resolve(), folder)
    return sorted(found.values())


def find_runs(results: Path) -> list[Run]:
    runs = []
    for folder in run_folders(results):
        name = folder.relative_to(results).as_posix()
        stages_path = folder / "stages.json"
        runs.append(Run(
            name=name,
            source=f"{results.name}/{name}/",
            metrics=read_json(folder / "metrics.json"),
            stages=read_json(stages_path) if stages_path.exists() else {},
        ))
    # Newest first; the folder name breaks ties so the order never depends on the file system.
    return sorted(runs, key=lambda run: (run.date, run.name), reverse=True)


def stage_columns(runs: list[Run]) -> list[str]:
    seen = {name for run in runs for name in run.stage_seconds()}
    ordered = [name for name in STAGE_ORDER if name in seen]
    ordered += sorted(name for name in seen if name.startswith("suite:"))
    ordered += sorted(name for name in seen if name not in ordered and name != "report")
    if "report" in seen:
        ordered.append("report")
    return ordered


def stage_cell(run: Run, stage: str) -> str:
    seconds, status = run.stage_seconds().get(stage, (None, ""))
    if seconds is None:
        return "—"
    text = f"{seconds:.1f}" if seconds < 10 else f"{seconds:.0f}"  # the report takes a fraction of a second
    return text + (" (reused)" if status == "reused" else "")


def runs_section(runs: list[Run]) -> list[str]:
    lines = ["## Default runs", ""]
    if not runs:
        return lines + ["No run directory with a metrics.json under the results folder.", ""]
    lines += [
        "Committed run directories, newest first. Precision is what `precision: auto` resolved to for training and",
        "sampling on that CPU (`texplain/precision.py`); seconds per stage come from the run's `stages.json` (\"reused\":",
        "the stage was found finished in the cache); total is `total_seconds` of metrics.json, the run's wall time up",
        "to metrics.json.",
        "",
    ]
    columns = stage_columns(runs)
    header = ["run", "date", "commit", "CPU", "precision"] + [name.removeprefix("suite:") for name in columns] + ["total s (m:ss)", "peak RSS"]
    rows = []
    for run in runs:
        resources = run.metrics.get("resources") or {}
        rss = resources.get("peak_rss_mb")  # harness/pipeline/resources.py; runs before it recorded none
        rows.append(
            [f"`{run.source}`", run.date[:10] or NOT_RECORDED, str(run.provenance.get("git_commit", ""))[:7] or NOT_RECORDED, run.cpu(), run.precision()]
            + [stage_cell(run, stage) for stage in columns]
            + [fmt_seconds(run.metrics.get("total_seconds")), f"{rss / 1024:.1f} GiB" if isinstance(rss, (int, float)) else NOT_RECORDED]
        )
    lines += table(header, rows) + [""]

    lines += [
        "Explanation quality of the same runs: the share of held-out images whose true object (background) word is",
        "among the top-k words of their explanation, with the 95% BCa interval over images; the image-blind baseline",
        "scores one word list (the k most frequent words over all explanations) for every image.",
        "",
    ]
    header = ["run", "seed", "images", "k", "sentences / image", "object in top-k [95% CI]", "background in top-k [95% CI]",
              "image-blind object / background", "val. loss, last epoch"]
    rows = []
    for run in runs:
        metrics, intervals = run.metrics.get("metrics", {}), run.metrics.get("intervals", {})
        training = run.metrics.get("training") or []
        val_loss = training[-1].get("val_loss") if training and isinstance(training[-1], dict) else None
        blind = f"{fmt(metrics.get('explain.chance_object_in_top_k_rate'), 3)} / {fmt(metrics.get('explain.chance_background_in_top_k_rate'), 3)}"
        smoke = " (smoke run)" if run.metrics.get("smoke_run") else ""
        rows.append([
            f"`{run.source}`{smoke}",
            fmt(run.metrics.get("seed")),
            fmt(metrics.get("explain.num_images")),
            fmt(metrics.get("explain.top_k")),
            fmt(metrics.get("explain.sentences_per_image")),
            fmt_interval(metrics.get("explain.object_in_top_k_rate"), intervals.get("explain.object_in_top_k_rate")),
            fmt_interval(metrics.get("explain.background_in_top_k_rate"), intervals.get("explain.background_in_top_k_rate")),
            blind,
            fmt(val_loss),
        ])
    return lines + table(header, rows) + [""]


# --- verdicts -------------------------------------------------------------------------------------------


def _number(value: Any) -> float | None:
    """A finite number as a float; None for anything else (null, NaN, a string)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _cell(text: Any) -> str:
    """Free text (a reason) on one line of a table row."""
    return " ".join(str(text).split())


def verdict_rows(run: Run) -> list[dict]:
    """The run's metrics.json "verdicts" rows (contracts/verdicts.py Verdict.to_json()), in their stored order;
    [] for a run without them (older runs: no key, or an empty dict)."""
    block = run.metrics.get("verdicts")
    rows = block.get("rows") if isinstance(block, dict) else None
    return [row for row in rows if isinstance(row, dict)] if isinstance(rows, list) else []


def fmt_signed_interval(difference: float | None, low: float | None, high: float | None) -> str:
    """'+0.500 [+0.359, +0.641]'; without an interval, the difference alone."""
    if difference is None:
        return "no difference"
    if low is None or high is None:
        return f"{difference:+.3f}, no interval"
    return f"{difference:+.3f} [{low:+.3f}, {high:+.3f}]"


def control_cell(comparison: dict) -> str:
    """'0.250 (+0.500 [+0.359, +0.641])': the control's mean, TExplain minus it and the 95% interval of that
    paired difference; a control that was not run says so, with why where recorded."""
    value = _number(comparison.get("control_value"))
    if value is None:
        why = _cell(comparison.get("reason") or "")
        return f"not run ({why})" if why and why != "not run" else "not run"
    difference = fmt_signed_interval(_number(comparison.get("difference")), _number(comparison.get("low")), _number(comparison.get("high")))
    return f"{value:.3f} ({difference})"


def units(unit: str | None) -> str:
    """The plural n is counted in (contracts/verdicts.py units; this script imports nothing of the project)."""
    unit = unit or "image"
    return unit + ("es" if unit.endswith("s") else "s")


def verdicts_table(rows: list[dict]) -> list[str]:
    # One column per control named in any row, in order of first appearance (the rules list them in one fixed
    # order); a cell stays empty where a metric's rule does not ask for that control.
    controls: list[str] = []
    for row in rows:
        for comparison in row.get("comparisons") or []:
            control = comparison.get("control") if isinstance(comparison, dict) else None
            if control is not None and str(control) not in controls:
                controls.append(str(control))
    header = ["metric", "verdict", "TExplain", "n", *(f"{control}: value (TExplain − it [95%])" for control in controls), "reason"]
    lines = []
    for row in rows:
        by_control = {str(c.get("control")): c for c in row.get("comparisons") or [] if isinstance(c, dict)}
        texplain = _number(row.get("texplain"))
        reason = _cell(row.get("reason") or "")
        to_decide = row.get("images_to_decide")
        if isinstance(to_decide, int) and not isinstance(to_decide, bool) and to_decide > 0 and "would decide" not in reason:
            reason += f" (about {to_decide} {units(row.get('unit'))} would decide)"
        lines.append([
            f"`{row.get('metric', '?')}`", f"**{row.get('verdict', '?')}**", "—" if texplain is None else f"{texplain:.3f}",
            f"{fmt(row.get('n'))} {units(row.get('unit'))}", *(control_cell(by_control[c]) if c in by_control else "" for c in controls), reason,
        ])
    return table(header, lines)


def verdicts_section(runs: list[Run]) -> list[str]:
    lines = ["## Verdicts", ""]
    with_verdicts = [(run, rows) for run in runs if (rows := verdict_rows(run))]
    if not with_verdicts:
        return lines + ["No committed run has verdicts (metrics.json \"verdicts\"); runs from before them have none.", ""]
    lines += [
        "Runs whose metrics.json holds verdicts (`contracts/verdicts.py`), newest first: each headline metric of",
        "TExplain against the controls it must beat, on the same images. A control's cell is its mean, then TExplain",
        "minus it (the mean paired difference over images) with that difference's 95% bootstrap interval. **pass**:",
        "every such interval lies above zero; **fail**: for some control the whole interval lies below the metric's",
        "min effect; **inconclusive** otherwise, with the reason.",
        "",
    ]
    for run, rows in with_verdicts:
        lines += [
            f"### `{run.source}`",
            "",
            f"{run.date[:10] or NOT_RECORDED}, commit {str(run.provenance.get('git_commit', ''))[:7] or NOT_RECORDED}; "
            f"CPU {run.cpu()}; precision {run.precision()}.",
            "",
        ]
        lines += verdicts_table(rows) + [""]
    return lines


# --- benchmarks -----------------------------------------------------------------------------------------


@dataclass
class BenchmarkFile:
    kind: str
    stamp: str  # YYYYMMDD-HHMMSS from the file name
    tag: str | None
    source: str  # its name as printed on the page
    data: dict


@dataclass
class Kind:
    """How one kind of benchmark file becomes table rows."""

    title: str
    script: str
    about: list[str]  # what the headline is and what it is measured against
    header: list[str]
    rows: Callable[[BenchmarkFile], list[list[str]]]
    files: list[BenchmarkFile] = field(default_factory=list)


def _date(file: BenchmarkFile) -> str:
    return fmt_stamp(file.stamp) + (f" ({file.tag})" if file.tag else "")


def _sampler_rows(file: BenchmarkFile) -> list[list[str]]:
    meta = file.data.get("meta", {})
    cpu = fmt_cpu(meta.get("cpu_model"), meta.get("cpu_flags"))
    rows = []
    for row in file.data.get("rows", []):
        ours, baseline = row.get("ours", {}), row.get("generate", {})
        rows.append([
            _date(file), cpu, fmt(meta.get("threads")), f"{row.get('N')} x {row.get('images')}", fmt(row.get("precision")),
            fmt(ours.get("median_sentences_per_s")), fmt(baseline.get("median_sentences_per_s")),
            f"**{fmt_ratio(row.get('ratio'))}**", fmt_share(ours.get("share_of_peak")), fmt(row.get("matmul_peak_gflops"), 0),
            fmt_ratio(row.get("ratio_limit_at_peak")), f"`{file.source}`",
        ])
    return rows


def _training_rows(file: BenchmarkFile) -> list[list[str]]:
    data = file.data
    cpu = fmt_cpu(data.get("cpu_model"), data.get("cpu_flags"))
    rows = []
    for result in data.get("results", []):
        speed = result.get("captions_per_second", {})
        limit = result.get("ratio_limit_at_peak")
        derived = ""
        if limit is None and result.get("limit_captions_per_second_at_peak") and speed.get("baseline"):
            # Older files kept the limit in captions/s only; the ratio's limit is that over the baseline's rate.
            limit, derived = result["limit_captions_per_second_at_peak"] / speed["baseline"], "*"
        rows.append([
            _date(file), cpu, fmt(data.get("threads")), fmt(data.get("batch")), fmt(result.get("precision")),
            fmt(speed.get("ours")), fmt(speed.get("baseline")), f"**{fmt_ratio(result.get('ratio'))}**",
            fmt_share((result.get("share_of_peak") or {}).get("ours")), fmt(result.get("matmul_peak_gflops"), 0),
            fmt_ratio(limit) + derived, f"`{file.source}`",
        ])
    return rows


def _features_rows(file: BenchmarkFile) -> list[list[str]]:
    data = file.data
    medians = data.get("median_images_per_s", {})
    return [[
        _date(file), NOT_RECORDED, fmt(data.get("threads")), fmt(data.get("args", {}).get("images")),
        fmt(medians.get("cache_cold")), fmt(medians.get("bare")), f"**{fmt_ratio(data.get('cold_over_bare'))}**",
        fmt(medians.get("cache_warm"), 0), f"`{file.source}`",
    ]]


def _adaptive_rule(summary: dict) -> str:
    if "stop_agreement" in summary:
        gain = summary.get("stop_gain")
        return f"agreement {summary['stop_agreement']}" + (f", gain {gain}" if gain else "")
    return NOT_RECORDED


def _adaptive_rows(file: BenchmarkFile) -> list[list[str]]:
    data = file.data
    args, config = data.get("args", {}), data.get("config", {})
    fixed_n = args.get("num_sentences") or config.get("num_sentences") or config.get("max_sentences")
    oracle = (data.get("oracle_bound") or {}).get("0.9", {}).get("saving_total")
    rows = []
    if "summary" in data:  # the first version: one rule, a confidence bound (stop_confidence)
        summary = data["summary"]
        rows.append([
            _date(file), f"confidence bound {config.get('stop_confidence', '?')}", fmt(args.get("images")), fmt(fixed_n),
            fmt(_float(summary.get("mean_sentences")), 1), f"**{fmt_ratio(summary.get('saving_total'))}**",
            fmt(summary.get("mean_top10_jaccard"), 3), "—", fmt_ratio(oracle), f"`{file.source}`",
        ])
    for summary in data.get("summaries", []):
        images = fmt(summary.get("images")) + (f" ({summary['worlds']} worlds)" if summary.get("worlds") else "")
        rows.append([
            _date(file), _adaptive_rule(summary), images, fmt(fixed_n), fmt(_float(summary.get("mean_sentences")), 1),
            f"**{fmt_ratio(summary.get('saving_total'))}**", fmt(summary.get("mean_jaccard_same_seed"), 3),
            fmt(summary.get("images_identical_top10")), fmt_ratio(oracle), f"`{file.source}`",
        ])
    return rows


def _bound_rows(file: BenchmarkFile) -> list[list[str]]:
    data = file.data
    probe = (data.get("precision") or {}).get("cpu_probe") or {}
    metrics, intervals = data.get("metrics", {}), data.get("intervals", {})
    val_loss = data.get("val_loss") or []
    inputs = {"scene-oracle": "scene mean (the scene's training mean token)", "image-mean-oracle": "image mean (the image's own mean token)"}
    return [[
        _date(file), fmt_cpu(probe.get("cpu_model"), probe.get("flags")), inputs.get(file.kind, fmt(data.get("input"))),
        f"**{fmt_interval(metrics.get('explain.object_in_top_k_rate'), intervals.get('explain.object_in_top_k_rate'))}**",
        fmt_interval(metrics.get("explain.background_in_top_k_rate"), intervals.get("explain.background_in_top_k_rate")),
        fmt(val_loss[-1] if val_loss else None), fmt(len(val_loss) or None), fmt(data.get("git")), f"`{file.source}`",
    ]]


def known_kinds() -> dict[str, Kind]:
    """File-name kind -> its table. Both oracle kinds come from one script and share one table."""
    sampler = Kind(
        "Sampler against transformers' `generate`", "benchmarks/bench_sampler.py",
        ["Headline: sentences per second of our sampler over transformers' `generate` (baseline): the same model",
         "(packaged SmolLM2-135M), soft prefix, top-p and tokens per sentence, medians of the repeats. \"% of peak\": our achieved GFLOP/s over the matmul peak measured in the",
         "same run; \"limit of the ratio\": ours with every matmul at that peak and nothing else costing time, against",
         "the baseline as measured (recorded by newer versions of the script only)."],
        ["date", "CPU", "threads", "N x images", "precision", "ours (sentences/s)", "baseline: `generate` (sentences/s)",
         "ratio", "ours at % of peak", "matmul peak (GFLOP/s)", "limit of the ratio", "file"],
        _sampler_rows,
    )
    training = Kind(
        "Translator training step against transformers' forward with `labels`", "benchmarks/bench_training.py",
        ["Headline: captions per second of our training step (`texplain/decoders/llama_caption_loss.py`) over",
         "transformers' forward with `inputs_embeds` and `labels` (right-padded) and its backward (baseline), same",
         "translator, frozen LM, captions and batches. \"limit of the ratio\": ours doing only",
         "the needed work at the run's matmul peak, against the baseline as measured (* derived here from the",
         "file's limit in captions/s over the baseline's rate, for files that predate the field)."],
        ["date", "CPU", "threads", "batch", "precision", "ours (captions/s)", "baseline (captions/s)", "ratio",
         "ours at % of peak", "matmul peak (GFLOP/s)", "limit of the ratio", "file"],
        _training_rows,
    )
    features = Kind(
        "Feature extraction through the cache", "benchmarks/bench_features.py",
        ["Headline: images per second of extraction through the feature cache on a cold cache over a bare timm",
         "forward of the same images (baseline); the warm column is a second pass that reads the cache."],
        ["date", "CPU", "threads", "images", "through the cache, cold (images/s)", "baseline: bare forward (images/s)",
         "ratio", "cache warm (images/s)", "file"],
        _features_rows,
    )
    adaptive = Kind(
        "Adaptive stopping against a fixed N", "benchmarks/eval_adaptive_stopping.py",
        ["Headline: how many times fewer sentences the stopping rule draws than the fixed N (baseline), and the mean",
         "Jaccard of its top-10 words with the fixed-N top-10 of the same seed. \"oracle\": the saving of a rule that",
         "knows the fixed-N result, at a mean Jaccard of 0.9 (an upper bound for any rule; newer files only)."],
        ["date", "rule", "images", "fixed N", "mean sentences", "fewer sentences", "mean top-10 Jaccard", "identical top-10",
         "oracle at 0.9", "file"],
        _adaptive_rows,
    )
    bounds = Kind(
        "Bounds of the default recipe (inputs replaced)", "benchmarks/bound_scene_oracle.py",
        ["Headline: object in top-k of a translator trained and scored with every image's tokens replaced (scene mean:",
         "an upper bound that shows what the frozen LM can say; image mean: what is left without the layout). Compare",
         "with the trained translator of the same recipe (the run named in the file), not with the default-run table,",
         "whose recipe may differ."],
        ["date", "CPU", "input", "object in top-k [95% CI]", "background in top-k [95% CI]", "val. loss, last epoch",
         "epochs", "commit", "file"],
        _bound_rows,
    )
    return {"sampler": sampler, "training": training, "features": features, "adaptive": adaptive,
            "scene-oracle": bounds, "image-mean-oracle": bounds}


def find_benchmarks(results: Path) -> tuple[list[Kind], list[BenchmarkFile]]:
    """Tables with their files (newest first), and files whose kind has no renderer here."""
    kinds = known_kinds()
    unknown: list[BenchmarkFile] = []
    folder = results / "benchmarks"
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        match = BENCHMARK_NAME.match(path.name)
        kind = match["kind"] if match else path.stem
        file = BenchmarkFile(kind, match["stamp"] if match else "00000000-000000", match["tag"] if match else None,
                             f"{results.name}/benchmarks/{path.name}", read_json(path))
        (kinds[kind].files if kind in kinds else unknown).append(file)
    tables = []
    for kind in kinds.values():
        if kind.files and kind not in tables:
            kind.files.sort(key=lambda file: (file.stamp, file.source), reverse=True)
            tables.append(kind)
    unknown.sort(key=lambda file: (file.stamp, file.source), reverse=True)
    return tables, unknown


def benchmarks_section(tables: list[Kind], unknown: list[BenchmarkFile]) -> list[str]:
    lines = ["## Benchmarks", ""]
    if not tables and not unknown:
        return lines + ["No benchmark files under the results folder.", ""]
    lines += [
        "One table per kind, newest first; each row is one measurement as its file stores it. The speed benchmarks",
        "(sampler, training, features) run ours and the baseline alternately in one process and take medians; their",
        f"ratios compare only between rows of the same CPU. \"{NOT_RECORDED}\": the file predates the script recording it.",
        "",
    ]
    for kind in tables:
        lines += [f"### {kind.title}", "", f"`{kind.script}`. " + " ".join(kind.about), ""]
        rows = [row for file in kind.files for row in kind.rows(file)]
        lines += table(kind.header, rows) + [""]
    if unknown:
        lines += ["### Other benchmark files", "",
                  "Files of a kind `scripts/collect_results.py` has no table for yet: their top-level fields.", ""]
        lines += table(["date", "kind", "fields", "file"],
                       [[_date(file), file.kind, ", ".join(sorted(file.data)) if isinstance(file.data, dict) else type(file.data).__name__,
                         f"`{file.source}`"] for file in unknown]) + [""]
    return lines


# --- the page ---------------------------------------------------------------------------------------------


def render(results: Path) -> str:
    runs = find_runs(results)
    tables, unknown = find_benchmarks(results)
    lines = [
        "# Results",
        "",
        "<!-- Generated by scripts/collect_results.py from the JSON files under results/; do not edit by hand. -->",
        "",
        "Every figure on this page is read from a committed JSON file (its path is in each row). To refresh it after",
        "adding results: `.venv/bin/python scripts/collect_results.py`. What the figures mean and how they were",
        "obtained: `docs/measurements.md`; what the code does: `docs/design.md`.",
        "",
    ]
    lines += runs_section(runs)
    lines += verdicts_section(runs)
    lines += benchmarks_section(tables, unknown)
    return "\n".join(lines).rstrip("\n") + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=ROOT / "results", help="the results folder (default: results/ of this checkout)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "results.md", help="the page to write (default: docs/results.md)")
    args = parser.parse_args(argv)
    if not args.results.is_dir():
        print(f"error: {args.results} is not a folder; pass --results with the folder holding the runs and benchmarks/", file=sys.stderr)
        return 2
    text = render(args.results)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
