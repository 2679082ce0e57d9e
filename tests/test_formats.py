"""Versioned, self-describing results (contracts/formats.py): metrics.json,
every records.jsonl line and compare's JSON say their format; readers accept the current and the
previous one (no "format" = the previous) and refuse a newer one, saying to upgrade; provenance holds
the harness version, also where the git commit is unknown."""

from __future__ import annotations

import importlib.util
import json
import shutil

import pytest
from fake_runs import make_run

from contracts.formats import METRICS_FORMAT, RECORDS_FORMAT, format_version
from contracts.suite import Suite
from harness.cli.main import main
from harness.reporting.run_reader import read_run
from texplain.errors import InputFileError

N = 6


class _CountingSuite(Suite):
    """A suite of the contract with no models: one record per image with a per-image flag."""

    name = "counting"
    definitions = {"hit": "share of images that hit", "recall_over_classes": "share of classes that hit, over classes"}
    higher_is_better = {"hit": True, "recall_over_classes": True}

    def run(self, context, work_dir):
        for i in range(N):
            yield {"image_id": f"img_{i}", "per_image_metrics": {"hit": float(i % 3 != 0)}}

    def aggregate(self, records):
        hits = [r["per_image_metrics"]["hit"] for r in records]
        return {"hit": sum(hits) / len(hits), "recall_over_classes": 0.5, "num_images": len(records)}


def test_a_suite_writes_format_and_intervals(tmp_path):
    summary = _CountingSuite(config=None).execute(None, tmp_path)
    written = json.loads((tmp_path / "metrics.json").read_text())
    assert written == summary and written["format"] == METRICS_FORMAT == "texplain-metrics/2"
    assert set(written["intervals"]) == {"hit"}  # recall over classes and the count: no per-image values
    assert written["intervals"]["hit"]["n"] == N and written["intervals"]["hit"]["method"] == "BCa"
    lines = [json.loads(line) for line in (tmp_path / "records.jsonl").read_text().splitlines()]
    assert len(lines) == N and all(line["format"] == RECORDS_FORMAT == "texplain-records/2" for line in lines)


def test_the_run_writes_format_in_every_record(tmp_path):
    import torch

    from harness.config import RunConfig
    from harness.pipeline.training_data import CaptionedImage
    from harness.pipeline.words_step import score_explanations

    images = [CaptionedImage("img_0", tmp_path / "img_0.png", ("a caption",), {"object": "boat", "background": "water"}),
              CaptionedImage("img_1", tmp_path / "img_1.png", ("a caption",), None)]
    records, _, _ = score_explanations(images, tmp_path, {"img_0": ["a boat"], "img_1": ["a car"]}, ["a", "b"], torch.zeros(2, 2), RunConfig())
    assert [r["format"] for r in records] == [RECORDS_FORMAT, RECORDS_FORMAT]


def test_current_and_previous_formats_are_read(tmp_path):
    current = read_run(make_run(tmp_path, "current", N, suites={"only_bg": {"per_image": {"kept": [1.0, 0.0] * 3}}}))
    assert current.format_version == 2 and current.renamed == []
    assert set(current.intervals) == {"explain.object_in_top_k_rate", "explain.background_in_top_k_rate", "explain.object_doc_freq_mean", "explain.background_doc_freq_mean"}
    assert set(current.suites["only_bg"].intervals) == {"kept"}
    previous = read_run(make_run(tmp_path, "previous", N, suites={"only_bg": {"per_image": {"kept": [1.0, 0.0] * 3}}}, old_format=True))
    assert previous.format_version == 1 and previous.intervals == {} and previous.suites["only_bg"].intervals == {}
    assert set(previous.metrics) == set(current.metrics)  # the old names read as the new ones


def _rewrite(path, edit):
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))


@pytest.mark.parametrize(
    "where, edit, message",
    [
        ("metrics.json", lambda run: _rewrite(run / "metrics.json", lambda d: d.update(format="texplain-metrics/3")),
         "metrics.json has format 'texplain-metrics/3', newer than the formats this harness reads (texplain-metrics/1, texplain-metrics/2"),
        ("records.jsonl", lambda run: (run / "records.jsonl").write_text(
            "".join(json.dumps({**json.loads(line), "format": "texplain-records/7"}) + "\n" for line in (run / "records.jsonl").read_text().splitlines())),
         "records.jsonl: line 1 has format 'texplain-records/7', newer than"),
        ("suite", lambda run: _rewrite(run / "suites" / "only_bg" / "metrics.json", lambda d: d.update(format="texplain-metrics/3")),
         "suites/only_bg/metrics.json has format 'texplain-metrics/3', newer than"),
        ("kind", lambda run: _rewrite(run / "metrics.json", lambda d: d.update(format="texplain-compare/2")),
         "metrics.json has format 'texplain-compare/2', expected texplain-metrics/<version>"),
    ],
    ids=["metrics", "records", "suite-metrics", "wrong-kind"],
)
def test_a_newer_or_foreign_format_is_refused_with_a_clear_message(tmp_path, capsys, where, edit, message):
    run = make_run(tmp_path, "run", N, suites={"only_bg": {"per_image": {"kept": [1.0, 0.0] * 3}}})
    edit(run)
    with pytest.raises(InputFileError, match="upgrade texplain-harness" if where != "kind" else "not a file this harness writes"):
        read_run(run)
    assert main(["report", str(run)]) == 2  # bad input, not a crash
    assert message in capsys.readouterr().err


def test_format_version_reads_no_field_as_version_1():
    assert format_version(None, "texplain-metrics", "x") == 1
    assert format_version("texplain-metrics/2", "texplain-metrics", "x") == 2
    with pytest.raises(InputFileError, match="x has format 'texplain-metrics/two'"):
        format_version("texplain-metrics/two", "texplain-metrics", "x")


def test_provenance_holds_the_harness_version(tmp_path):
    import importlib.metadata

    import torch

    from harness.pipeline.provenance import git_commit, harness_version, provenance

    assert harness_version() == importlib.metadata.version("texplain-harness")
    record = provenance(torch.device("cpu"))
    assert record["harness_version"] == harness_version() and record["git_commit"] == git_commit()


def test_outside_a_checkout_the_commit_is_unknown_and_the_version_still_known(tmp_path):
    # As installed from a wheel into a virtual environment that lies inside some other clone (.venv/ in
    # a repository): the module is in that repository's folder but not tracked by it, so its commit is
    # not the harness's.
    import subprocess

    import harness.pipeline.provenance as original

    clone = tmp_path / "someone_elses_clone"
    clone.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=clone, check=True)
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "--allow-empty", "-m", "init"], cwd=clone, check=True)
    copy = clone / ".venv" / "lib" / "site-packages" / "harness" / "pipeline" / "provenance.py"
    copy.parent.mkdir(parents=True)
    shutil.copy(original.__file__, copy)
    spec = importlib.util.spec_from_file_location("provenance_in_a_wheel", copy)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.git_commit() == "unknown"
    assert module.harness_version() == original.harness_version() != "unknown"
    assert original.git_commit() not in ("unknown", "")  # the checkout's own copy knows its commit
