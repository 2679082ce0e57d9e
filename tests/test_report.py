"""`texplain report`: report.html and report.md contain every section, label stand-ins visibly, need
nothing outside themselves, and render in headless Chromium to a non-blank page (tests/fake_runs.py
writes the run directories; no models)."""

from __future__ import annotations

import json
import re
from html import escape

import pytest
from fake_runs import METRICS, make_run

from harness.cli.main import main
from harness.reporting.report import write_report
from harness.reporting.screenshot import find_chromium, screenshot, summarize_pixels

SECTIONS = ("summary", "class-clouds", "examples", "suites", "training", "timings", "provenance")
SUITE = {
    "only_bg": {
        "per_image": {"kept_label": [1.0, 0.0] * 5},
        "metrics": {"kept_label": 0.5, "bg_gap": 0.07},
        "paper": {"bg_gap": 7.3, "note": "the paper reports no keep rate"},
        "stand_in": "synthetic Background-Challenge world; classifier trained locally",
    }
}


@pytest.fixture
def run_dir(tmp_path):
    return make_run(tmp_path, "quick", 10, suites=SUITE)


def test_report_has_every_section_and_labels_stand_ins(run_dir):
    paths = write_report(run_dir)
    html, md = paths.html.read_text(), paths.markdown.read_text()
    for section in SECTIONS:
        assert f'<section id="{section}">' in html
        assert f'<a id="{section}"></a>' in md
    # Stand-ins: the banner with the sentence, badges on the affected sections, the suite's own label.
    assert 'id="stand-in"' in html and "synthetic world" in html and "stands in for the paper" in html
    assert html.count("stand-in / synthetic") >= 4
    assert "synthetic Background-Challenge world" in html and "STAND-IN" in md
    # Suite metrics beside the paper's figure.
    assert "7.3" in html and "no figure in the paper" in html and "the paper reports no keep rate" in html
    # Examples: classifier prediction, truth, cloud; training curve; timings; provenance.
    assert "cock (index 7)" in html and "a red bird on the water." in html
    assert "<svg" in html and "validation loss" in html
    assert "translator" in html and "abc123" in html
    for metric in METRICS:
        assert metric in html and metric in md


def test_html_is_self_contained_and_markdown_links_exist(run_dir):
    paths = write_report(run_dir)
    html = paths.html.read_text()
    sources = re.findall(r'<img src="([^"]+)"', html)
    assert len(sources) >= 3 + 3 + 3 + 1  # class clouds, example images and clouds, suite figure
    assert all(s.startswith("data:image/png;base64,") for s in sources)
    assert "<link" not in html and "<script" not in html and "url(" not in html
    assert not re.search(r'(src|href)="https?:', html)
    md = paths.markdown.read_text()
    for target in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md):
        assert (run_dir / target).is_file(), target
    assert (paths.assets / "training_curve.svg").is_file()


def test_real_run_without_stand_ins_has_no_banner(tmp_path):
    run = make_run(tmp_path, "paper", 4)
    metrics = json.loads((run / "metrics.json").read_text())
    metrics["stand_in"] = None  # a run that states it used the real models and data
    (run / "metrics.json").write_text(json.dumps(metrics))
    html = write_report(run).html.read_text()
    assert 'id="stand-in"' not in html and "stand-in / synthetic" not in html


def test_cli_rebuilds_report_and_handles_old_records_and_missing_images(run_dir, capsys):
    # An older run: records without per_image_metrics; and the world cache cleared (images gone).
    records = [json.loads(line) for line in (run_dir / "records.jsonl").read_text().splitlines()]
    for record in records:
        del record["per_image_metrics"]
    (run_dir / "records.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    world = json.loads((run_dir / "metrics.json").read_text())["world_dir"]
    for image in (run_dir.parent / world).glob("images/*.png"):
        image.unlink()
    assert main(["report", str(run_dir)]) == 0
    html = (run_dir / "report.html").read_text()
    assert "image not found" in html and "predates per_image_metrics" in html
    assert main(["report", str(run_dir.parent / "missing")]) == 2
    assert "not a directory" in capsys.readouterr().err


@pytest.mark.skipif(find_chromium() is None, reason="no Chromium on PATH: install it with `apt-get install -y chromium` (make chromium) to check the rendered report")
def test_report_renders_in_chromium_to_a_non_blank_page(run_dir, tmp_path):
    paths = write_report(run_dir)
    png = screenshot(paths.html, tmp_path / "report.png", width=1200, height=6000)
    summary = summarize_pixels(png)
    assert not summary.blank, summary
    assert summary.height > 1500  # the whole page, not a one-line error page
    # The detector itself: an empty page is blank.
    empty = tmp_path / "empty.html"
    empty.write_text("<!DOCTYPE html><html><body></body></html>")
    assert summarize_pixels(screenshot(empty, tmp_path / "empty.png", width=800, height=600, trim=False)).blank


def test_training_chart_ticks_and_single_epoch():
    from harness.reporting.svg import Series, line_chart, nice_ticks

    assert nice_ticks(1, 5) == [1, 2, 3, 4, 5]
    assert nice_ticks(0.13, 0.92) == [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    svg = line_chart([Series("train loss", [(1.0, 5.0)]), Series("validation loss", [(1.0, 4.2)])], "epoch", "loss")
    assert svg.count("<circle") == 2 and 'cx="300.0"' in svg  # a single epoch sits mid-plot, not at the edge


def test_report_names_the_empty_clouds_of_the_words_stage(tmp_path):
    # A class whose every sampled sentence is stop words: the run draws placeholders instead of
    # crashing (harness/pipeline/words_step.py draw_clouds), and the report says which clouds are empty and why.
    import torch

    from harness.config import RunConfig
    from harness.pipeline.training_data import CaptionedImage
    from harness.pipeline.words_step import draw_clouds
    from texplain.wordcloud_render import is_placeholder
    from texplain.words import WordStats, word_stats

    run = make_run(tmp_path, "empty", 6)
    records = [json.loads(line) for line in (run / "records.jsonl").read_text().splitlines()]
    images, per_image = [], {}
    for record in records:
        if record["truth"]["object"] == "boat":
            record["word_stats"] = word_stats(["it is on the", "and then it was", "a b c"]).to_json()
            record["top_words"] = []
        images.append(CaptionedImage(record["image_id"], run.parent / "world_empty" / record["image"], (record["truth"]["caption"],), record["truth"]))
        per_image[record["image_id"]] = WordStats.from_json(record["word_stats"])
    (run / "records.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    names = ["cock"] * 10
    clouds = draw_clouds(run, images, per_image, names, torch.zeros(len(images), 10), RunConfig())
    metrics = json.loads((run / "metrics.json").read_text())
    metrics["wordclouds"] = clouds
    (run / "metrics.json").write_text(json.dumps(metrics))
    assert "wordclouds/class_boat.png" in clouds
    assert is_placeholder(run / "wordclouds" / "class_boat.png") == "no content words in the 6 sampled sentences"
    assert is_placeholder(run / "wordclouds" / "class_car.png") is None
    empty = json.loads((run / "wordclouds" / "empty_clouds.json").read_text())
    assert sorted(empty) == ["wordclouds/class_boat.png", "wordclouds/image_img_000001.png", "wordclouds/image_img_000004.png"]
    assert empty["wordclouds/class_boat.png"] == {"reason": "no content words in the 6 sampled sentences", "num_sentences": 6, "images": 2}

    paths = write_report(run)
    html, markdown = paths.html.read_text(), paths.markdown.read_text()
    for text in (html, markdown):
        assert "3 word cloud(s) had no word to draw and show a placeholder: class_boat (no content words in the 6 sampled sentences)" in text
        assert "image_img_000001 (no content words in the 3 sampled sentences)" in text
        assert "sampling.num_sentences" in text and "sampling.min_words" in text
        assert "empty cloud: no content words in the 6 sampled sentences" in text  # the class card
        assert "empty cloud: no content words in the 3 sampled sentences" in text  # the example
    assert 'id="empty-clouds"' in html and "Empty clouds (boat)" in html


def test_report_of_a_run_without_empty_clouds_says_nothing_of_them(run_dir):
    html = write_report(run_dir).html.read_text()
    assert "empty cloud" not in html.lower() and "placeholder" not in html


def test_report_shows_intervals_beside_values_and_none_where_there_is_none(tmp_path):
    from harness.reporting.report import fmt_interval
    from harness.reporting.run_reader import read_run

    run = make_run(tmp_path, "intervals", 10, suites=SUITE)
    read = read_run(run)
    paths = write_report(run)
    html, md = paths.html.read_text(), paths.markdown.read_text()
    for name in METRICS:
        interval = read.intervals[name]
        shown = fmt_interval(read.metrics[name], interval)
        assert shown.startswith(f"{read.metrics[name]:.3f} [") and f"{interval['low']:.3f}" in shown
        assert f"| `{name}` | {shown} |" in md and shown in html
    # No per-image values: the value alone, never a zero-width interval.
    assert "| `explain.num_images` | 10 |" in md and "| `explain.top_k` | 5 |" in md
    # fake_runs' metrics.json defines only the rates: the others' definitions come from the registry.
    assert "| `explain.num_images` | 10 |  |  | held-out images explained and scored (never trained on) |" in md
    kept = fmt_interval(0.5, read.suites["only_bg"].intervals["kept_label"])
    assert kept.startswith("0.500 [") and f"| `kept_label` | {kept} |" in md
    assert "| `bg_gap` | 0.070 |" in md
    assert "95% bootstrap interval over images (BCa, 999 resamples)" in md
    assert "texplain-harness version" in html and "texplain-metrics/2" in md
    assert fmt_interval(0.25, None) == "0.250" and fmt_interval(0.25, {"low": 0.1, "high": 0.4}) == "0.250 [0.100, 0.400]"


def test_report_of_an_old_run_reads_the_old_names_and_says_so(tmp_path):
    run = make_run(tmp_path, "old", 6, old_format=True)
    md = write_report(run).markdown.read_text()
    assert "`explain.object_in_top_k_rate`" in md and "`explain.object_top5_rate`" not in md.split("## Report notes")[0]
    assert "explain.object_top5_rate -> explain.object_in_top_k_rate" in md
    assert "No metric has an interval" in md and "texplain-metrics/1" in md


def test_report_shows_a_suite_table_in_the_paper_layout(tmp_path):
    """Suite.tables (contracts/suite.py): a table in the paper's layout, ours beside the paper's, in both files."""
    table = {
        "title": "Table 2 layout",
        "header": ["Method", "Worst-group", "Average"],
        "rows": [["ERM (ours)", 0.5, "0.900 +- 0.010"], ["ERM (paper)", 89.79, "96.34 +- 2.12"]],
        "note": "3 seeds",
    }
    suites = {"only_bg": {**SUITE["only_bg"], "tables": [table]}}
    paths = write_report(make_run(tmp_path, "tables", 10, suites=suites))
    html, md = paths.html.read_text(), paths.markdown.read_text()
    assert "**Table 2 layout**" in md and "| ERM (ours) | 0.500 | 0.900 +- 0.010 |" in md and "| ERM (paper) | 89.790 |" in md
    assert "<h4>Table 2 layout</h4>" in html and "ERM (paper)" in html and "_3 seeds_" in md


def test_per_class_rates_count_hits_and_the_other_class_named_instead():
    """harness/metrics/explain.py per_class_rates on hand-made records: rates, a Wilson interval, confusion."""
    from harness.metrics.explain import per_class_rates

    def record(obj, top, hit):
        return {"truth": {"object": obj, "background": "water"}, "top_words": [[w, 0.5] for w in top], "object_in_top_k": hit,
                "background_in_top_k": "water" in top[:2], "per_image_metrics": {"explain.object_doc_freq_mean": 0.5 if hit else 0.1}}

    records = [record("bird", ["water", "bird", "small"], True), record("bird", ["water", "flower", "small"], False),
               record("bird", ["flower", "water", "bird"], True), record("boat", ["boat", "water"], True),
               {"truth": None, "top_words": [["x", 1.0]]}]
    rows = {r["class"]: r for r in per_class_rates(records, top_k=2, object_words=["bird", "boat", "flower"])}
    assert set(rows) == {"bird", "boat"}  # records without truth are left out
    bird = rows["bird"]
    assert bird["images"] == 3 and bird["object_in_top_k_rate"] == pytest.approx(2 / 3)
    assert bird["most_confused_with"] == "flower" and bird["most_confused_images"] == 2  # only the top-2 words count
    low, high = bird["object_in_top_k_interval"]
    assert 0.15 < low < 0.25 and 0.9 < high < 0.95  # Wilson 95% for 2 of 3: [0.208, 0.939]
    assert bird["background_in_top_k_rate"] == 1.0 and bird["object_doc_freq_mean"] == pytest.approx(1.1 / 3)
    assert rows["boat"]["most_confused_with"] is None
    assert per_class_rates([{"truth": None}], top_k=5) == []


def test_report_has_the_per_class_table(run_dir):
    html = write_report(run_dir).html.read_text()
    assert 'id="per-class-rates"' in html and "other class word most often in top-k" in html


def _comparison(control: str, value: float | None, difference: float | None = None, low: float | None = None, high: float | None = None,
                reason: str | None = None) -> dict:
    """One entry of a verdict row's "comparisons" (contracts/verdicts.py Comparison)."""
    return {"control": control, "control_value": value, "difference": difference, "low": low, "high": high,
            "beats": None if low is None else low > 0, "as_good": None if high is None else high < 0.05, "reason": reason}


VERDICT_ROWS = [
    {"metric": "explain.object_in_top_k_rate", "verdict": "pass", "reason": "above every control it must beat, each interval's lower end above 0",
     "texplain": 0.9, "n": 40, "min_effect": 0.05, "tests": "content",
     "comparisons": [_comparison("image_blind", 0.48, 0.42, 0.31, 0.52), _comparison("permuted", 0.2, 0.7, 0.6, 0.8)],
     "ceilings": {"truth_captions": 0.95}, "images_to_decide": None},
    {"metric": "explain.background_in_top_k_rate", "verdict": "fail", "reason": "as good as TExplain to within 0.05: permuted",
     "texplain": 0.3, "n": 40, "min_effect": 0.05, "tests": "content",
     "comparisons": [_comparison("image_blind", 0.1, 0.2, 0.1, 0.3), _comparison("permuted", 0.29, 0.01, -0.02, 0.04)],
     "ceilings": {"truth_captions": None}, "images_to_decide": None},
    {"metric": "explain.object_doc_freq_mean", "verdict": "inconclusive", "reason": "not run: random_classifier (no classifier weights to randomize)",
     "texplain": 0.6, "n": 40, "min_effect": 0.05, "tests": "content",
     "comparisons": [_comparison("image_blind", 0.2, 0.4, 0.3, 0.5), _comparison("random_classifier", None, reason="no classifier weights to randomize")],
     "ceilings": {}, "images_to_decide": None},
    {"metric": "explain.background_doc_freq_mean", "verdict": "inconclusive", "reason": "the interval of the difference straddles 0 or 0.05 for image_blind",
     "texplain": 0.2, "n": 12, "min_effect": 0.05, "tests": "content",
     "comparisons": [_comparison("image_blind", 0.18, 0.02, -0.05, 0.09)], "ceilings": {}, "images_to_decide": 150},
]


def _with_verdicts(run, verdicts) -> None:
    metrics = json.loads((run / "metrics.json").read_text())
    if verdicts is None:
        metrics.pop("verdicts", None)
    else:
        metrics["verdicts"] = verdicts
    (run / "metrics.json").write_text(json.dumps(metrics))


def test_report_opens_with_the_verdict_table(run_dir):
    _with_verdicts(run_dir, {"format": 1, "rows": VERDICT_ROWS})
    paths = write_report(run_dir)
    html, md = paths.html.read_text(), paths.markdown.read_text()
    # The first section of both files, and the first entry of the contents.
    assert re.findall(r'<section id="([^"]+)">', html)[0] == "verdicts"
    assert re.findall(r'<a id="([^"]+)"></a>', md)[0] == "verdicts"
    assert "Contents: [Verdicts](#verdicts) · [Metrics](#summary)" in md
    verdicts_html = html[html.index('<section id="verdicts">'):html.index('<section id="summary">')]
    verdicts_md = md[md.index('<a id="verdicts"></a>'):md.index('<a id="summary"></a>')]
    for row in VERDICT_ROWS:
        assert row["metric"] in verdicts_html and row["metric"] in verdicts_md
        assert escape(row["reason"]) in verdicts_html and row["reason"] in verdicts_md
    for word in ("pass", "fail", "inconclusive"):
        assert f'<span class="verdict {word}">{word}</span>' in verdicts_html and f"**{word}**" in verdicts_md
        assert f".verdict.{word} {{" in html  # styled
    # Every control of any row, in order of first appearance; the difference with its interval; the ceiling.
    header = next(line for line in verdicts_md.splitlines() if line.startswith("| metric |"))
    assert header == ("| metric | TExplain | n | min effect | image_blind | permuted | random_classifier | TExplain − image_blind [95%] | "
                      "TExplain − permuted [95%] | TExplain − random_classifier [95%] | truth_captions (ceiling) | verdict | reason |")
    first = next(line for line in verdicts_md.splitlines() if line.startswith("| `explain.object_in_top_k_rate`"))
    assert first == ("| `explain.object_in_top_k_rate` | 0.900 | 40 images | 0.050 | 0.480 | 0.200 |  | +0.420 [+0.310, +0.520] | +0.700 [+0.600, +0.800] |  | "
                     "0.950 | **pass** | above every control it must beat, each interval's lower end above 0 |")
    # HTML stacks a control's mean, the difference and its interval in one cell, so the verdict stays on screen.
    assert '0.480<div class="diff">+0.420</div><div class="diff">[+0.310, +0.520]</div>' in verdicts_html and "0.950" in verdicts_html
    assert '<span class="verdict pass">pass</span><div class="def">above every control' in verdicts_html  # the reason follows the verdict
    assert "not run (no classifier weights to randomize)" in verdicts_md and 'title="no classifier weights to randomize">not run<' in verdicts_html
    assert "| 0.300 | 40 images | 0.050 | 0.100 | 0.290 |  | +0.200 [+0.100, +0.300] | +0.010 [-0.020, +0.040] |  | not run | **fail** |" in verdicts_md
    assert "about 150 images would decide" in verdicts_md  # images_to_decide, where the reason does not say it
    # The one line defining the three verdicts, under the table, in both forms.
    for text, bold in ((verdicts_html, "<b>{}</b>: "), (verdicts_md, "**{}**: ")):
        assert bold.format("pass") + "the lower end of every paired 95% interval" in text
        assert bold.format("fail") + escape("some control's whole interval lies below the stated minimum effect", quote=text is verdicts_html) in text
        assert bold.format("inconclusive") + "a quality gate is unmet, a control was not run, there are too few images, or an interval is too wide" in text
        assert text.index("TExplain − image_blind [95%]") < text.index(bold.format("pass") + "the lower end")  # under the table
    assert "1 pass, 1 fail, 2 inconclusive" in verdicts_md


@pytest.mark.parametrize("verdicts", [None, {}], ids=["no key", "empty dict"])
def test_report_of_a_run_without_verdicts_says_they_were_not_computed(run_dir, verdicts):
    _with_verdicts(run_dir, verdicts)
    paths = write_report(run_dir)
    html, md = paths.html.read_text(), paths.markdown.read_text()
    assert re.findall(r'<section id="([^"]+)">', html)[0] == "verdicts"
    for text in (html, md):
        assert "Verdicts were not computed for this run" in text
    assert '<span class="verdict' not in html
    for section in SECTIONS:  # the rest of the report is unchanged
        assert f'<section id="{section}">' in html
