"""Analysis of pulled ratings (human_eval/analysis.py) on simulated raters whose statistics are computed by
hand (tests/human_eval_raters.py), the attention-check filter, the report section before and after a
pull, the `texplain ratings` commands on a manual export file, and the errors a user meets."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from harness.cli.main import main
from human_eval.analysis import analyse
from human_eval.annotations import ExportFormatError, parse_export
from human_eval.export import export_studies
from human_eval.server import ServerError, _checked, connect, read_export_files
from human_eval.settings import AnalysisSettings, RatingSettings, StudySettings
from tests.fake_runs import free_port, make_run, refusing_label_studio
from tests.human_eval_raters import CARELESS, CAREFUL, OFF_BY_ONE, expected_statistics, simulated_export
from texplain.errors import TExplainError

RATERS = {"ann@example.com": CAREFUL, "bob@example.com": OFF_BY_ONE, "eve@example.com": CARELESS}
# simulated_export gives the raters user ids 1, 2, 3 in the order of their emails; raters are named by id.
ANN, BOB, EVE = "user 1", "user 2", "user 3"


@pytest.fixture()
def exported(tmp_path: Path):
    run = make_run(tmp_path / "runs", num_images=12)
    return export_studies(run, RatingSettings(study=StudySettings(sources=("main",), per_class=4, attention_checks=4)))


def pulled(exported, skip_every: int = 0) -> dict:
    return {s: simulated_export(exported.tasks[s], s, RATERS, skip_every) for s in ("a", "b")}


def test_statistics_match_the_hand_computed_values(exported):
    results = analyse(exported, pulled(exported), AnalysisSettings(bootstrap_resamples=200, count_level="ordinal"))
    want = expected_statistics(exported.tasks, [CAREFUL, OFF_BY_ONE])
    assert results["raters_dropped"] == [EVE]
    assert results["per_rater"][EVE]["check_accuracy"] == 0.0 and results["per_rater"][EVE]["email"] == "eve@example.com"
    assert results["per_rater"][ANN]["check_accuracy"] == 1.0
    a, b = results["study_a"], results["study_b"]
    assert a["ratings"] == want["a_ratings"] == 24 and a["items"] == 12
    assert {int(k): v for k, v in a["count_distribution"].items() if v} == dict(want["a_distribution"])
    assert a["mean_count"] == pytest.approx(want["a_mean_count"])
    assert a["agreement"]["count_alpha_interval"]["value"] == pytest.approx(want["a_alpha_interval"])
    assert a["agreement"]["count_alpha_ordinal"]["level"] == "ordinal"
    assert a["agreement"]["per_word_alpha_nominal"]["value"] == pytest.approx(want["a_per_word_alpha"])
    assert a["agreement"]["per_word_fleiss_kappa"]["value"] == pytest.approx(want["a_per_word_kappa"])
    assert b["share_yes"] == pytest.approx(want["b_share_yes"]) == pytest.approx(20 / 24)
    assert b["agreement"]["alpha_nominal"]["value"] == pytest.approx(want["b_alpha"])
    assert b["agreement"]["fleiss_kappa"]["value"] == pytest.approx(want["b_kappa"])
    for result in (a["agreement"]["count_alpha_interval"], b["agreement"]["alpha_nominal"]):
        assert result["low"] <= result["value"] <= result["high"]
    assert all(c["lost_count"] == 0 for c in results["completeness"].values())


def test_keeping_every_rater_changes_the_counts(exported):
    results = analyse(exported, pulled(exported), AnalysisSettings(min_check_accuracy=0.0, bootstrap_resamples=50))
    assert results["raters_dropped"] == [] and results["study_a"]["ratings"] == 36


def test_unrated_tasks_are_counted_not_lost(exported):
    results = analyse(exported, pulled(exported, skip_every=3), AnalysisSettings(bootstrap_resamples=50))
    want = expected_statistics(exported.tasks, [CAREFUL, OFF_BY_ONE], skip_every=3)
    a = results["study_a"]
    assert a["items_rated"] == want["a_items_rated"] == 8 and a["items"] == 12
    assert a["ratings_per_item"] == {0: 4, 2: 8}
    assert results["study_b"]["share_yes"] == pytest.approx(want["b_share_yes"])
    assert results["completeness"]["a"]["lost_count"] == 0


def test_lost_tasks_are_reported(exported):
    data = pulled(exported)
    data["b"] = data["b"][:-3]
    results = analyse(exported, data, AnalysisSettings(bootstrap_resamples=20))
    assert results["completeness"]["b"]["lost_count"] == 3 and results["completeness"]["a"]["lost_count"] == 0


def test_contradictory_and_cancelled_annotations_are_set_aside(exported):
    data = pulled(exported)
    first = next(t for t in data["a"] if not t["data"]["attention_check"])
    first["annotations"][0]["result"][0]["value"]["choices"] = [first["data"]["word_list"][0], "none of these"]
    first["annotations"][1]["was_cancelled"] = True
    parsed = parse_export("a", data["a"], "test")
    assert parsed.contradictory == 1 and parsed.cancelled == 1


def test_all_identical_ratings_give_undefined_alpha_not_a_crash(exported):
    data = {s: simulated_export(exported.tasks[s], s, {"ann@example.com": CAREFUL, "amy@example.com": CAREFUL}) for s in ("a", "b")}
    for task in data["b"]:
        for annotation in task["annotations"]:
            if not task["data"]["attention_check"]:
                annotation["result"][0]["value"]["choices"] = ["Yes"]
    results = analyse(exported, data, AnalysisSettings(bootstrap_resamples=20))
    alpha = results["study_b"]["agreement"]["alpha_nominal"]
    assert alpha["value"] is None and "every rating is the same" in alpha["reason"]
    assert results["study_a"]["agreement"]["count_alpha_ordinal"]["value"] == pytest.approx(1.0)


@pytest.mark.parametrize("breakage, message", [
    (lambda t: t["data"].pop("task_id"), "has no data.task_id"),
    (lambda t: t.pop("annotations"), "no 'annotations' field"),
    (lambda t: t["annotations"][0].pop("completed_by"), "no completed_by"),
    (lambda t: t["annotations"][0].pop("result"), "no 'result' list"),
    (lambda t: t["data"].update(study="b"), "belongs to the other study"),
    (lambda t: t["data"].pop("word_list"), "data.word_list is missing"),
])
def test_exports_with_missing_fields_are_named(exported, breakage, message):
    data = pulled(exported)["a"]
    breakage(data[0])
    with pytest.raises(ExportFormatError, match=message):
        parse_export("a", data, "export.json")


def test_manual_export_files_are_checked(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(TExplainError, match="is not JSON"):
        read_export_files([bad])
    bad.write_text(json.dumps([{"data": {"x": 1}, "annotations": []}]))
    with pytest.raises(TExplainError, match="no data.study"):
        read_export_files([bad])
    with pytest.raises(TExplainError, match="is missing"):
        read_export_files([tmp_path / "nothing.json"])


def test_commands_export_then_pull_from_file_and_the_report(tmp_path, capsys):
    run = make_run(tmp_path / "runs", num_images=12)
    assert main(["ratings", "export", str(run), "--sources", "main", "--per-class", "4", "--attention-checks", "4"]) == 0
    from human_eval.report_section import ratings_parts

    report = ratings_parts(run)[1]
    assert "Ratings are not collected yet" in report
    assert f"texplain ratings push {run} --url URL --token TOKEN" in report and f"texplain ratings pull {run} --url URL --token TOKEN" in report
    from human_eval.export import read_export

    exported = read_export(run)
    files = []
    for study in ("a", "b"):
        files.append(tmp_path / f"export_{study}.json")
        files[-1].write_text(json.dumps(simulated_export(exported.tasks[study], study, RATERS)))
    assert main(["ratings", "pull", str(run), "--file", str(files[0]), "--file", str(files[1]), "--bootstrap", "100"]) == 0
    out = capsys.readouterr().out
    assert "dropped user 3 (eve@example.com)" in out
    results = json.loads((run / "ratings" / "results.json").read_text())
    for figure in results["figures"]:
        assert (run / figure).stat().st_size > 1000
    html, report = ratings_parts(run)
    assert "Ratings are not collected yet" not in report
    assert "(b) share of yes (all ratings) | 0.833" in report
    assert "count_alpha_ordinal" in report and "figure3_left_counts" in report
    assert "data:image/png;base64," in html  # the plots are embedded in report.html
    # pull rebuilt the run's report with the section in it.
    assert "<section id=\"ratings\">" in (run / "report.html").read_text() and "figure3_right_yes" in (run / "report.md").read_text()


def test_an_unreachable_server_is_said(tmp_path, capsys):
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(ServerError, match=f"cannot reach the Label Studio server at {url}.*is it running"):
        connect(url, "some-token", timeout=5)
    run = make_run(tmp_path / "runs", num_images=6)
    assert main(["ratings", "export", str(run), "--sources", "main"]) == 0
    assert main(["ratings", "pull", str(run), "--url", url, "--token", "x"]) == 2
    assert "cannot reach the Label Studio server" in capsys.readouterr().err


def test_a_refused_token_is_said():
    with refusing_label_studio() as url:
        with pytest.raises(ServerError, match=r"refused the token.*401: Invalid token.*--token"):
            connect(url, "wrong-token", timeout=5)


def test_a_project_with_another_labeling_config_is_refused(exported):
    project = SimpleNamespace(id=7, title=exported.title("a"), label_config="<View><Text name='t' value='$text'/></View>")
    with pytest.raises(ServerError, match="project 7 .* has a labeling config that differs from study \\(a\\)'s"):
        _checked(project, "a", "http://server", exported)
    same = SimpleNamespace(id=8, title=exported.title("a"), label_config=exported.configs["a"].replace("\n", "\n   "))
    assert _checked(same, "a", "http://server", exported) is same
