"""The export of the two rating studies (human_eval/export.py), offline: configs and tasks against
Label Studio's formats (the SDK's LabelInterface), stable task ids, "none of these", attention checks,
image modes, and the errors a user meets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from label_studio_sdk.label_interface import LabelInterface

from human_eval.export import export_studies, project_title, read_export
from human_eval.label_configs import NONE_OF_THESE, SPECS, STUDY_A_CONFIG, STUDY_B_CONFIG, validate_config
from human_eval.settings import ImageSettings, RatingSettings, StudySettings
from tests.fake_runs import CLASSES, make_run
from texplain.errors import InputFileError, TExplainError


def settings(**study) -> RatingSettings:
    return RatingSettings(study=StudySettings(sources=("main",), **study))


@pytest.fixture()
def run(tmp_path: Path) -> Path:
    return make_run(tmp_path / "runs", num_images=12)


def test_configs_validate_with_the_sdk_and_tasks_fit_them(run):
    exported = export_studies(run, settings(per_class=3, attention_checks=4))
    for study, spec in SPECS.items():
        interface = LabelInterface((exported.folder / f"study_{study}.config.xml").read_text())
        interface.validate()
        tasks = json.loads((exported.folder / f"study_{study}.tasks.json").read_text())
        assert tasks and all(interface.validate_task({"data": t["data"]}) for t in tasks)
    # The configs are Label Studio's: study (a) a required multi-select with dynamic choices, (b) required Yes/No.
    a = LabelInterface(STUDY_A_CONFIG).get_control("words")
    assert a.attr["choice"] == "multiple" and a.attr["value"] == "$words" and a.attr["required"] == "true"
    b = LabelInterface(STUDY_B_CONFIG).get_control("related")
    assert b.attr["required"] == "true" and sorted(b.labels) == ["No", "Yes"]


def test_a_broken_config_is_refused_with_its_name():
    with pytest.raises(TExplainError, match="my config is not a valid Label Studio labeling config"):
        validate_config("<View><Choices name='x' toName='missing'><Choice value='a'/></Choices></View>", "my config")


def test_tasks_carry_stable_ids_that_join_back_to_the_run(run):
    first = export_studies(run, settings(per_class=4, attention_checks=2))
    records = {json.loads(line)["image_id"]: json.loads(line) for line in (run / "records.jsonl").read_text().splitlines()}
    for study in ("a", "b"):
        ids = [t["data"]["task_id"] for t in first.tasks[study]]
        assert len(ids) == len(set(ids)) and all(i.startswith(f"{study}-") for i in ids)
        for task in first.tasks[study]:
            data = task["data"]
            assert data["run"] == run.name and data["study"] == study and data["source"] == "main"
            record = records[data["image_id"]]
            assert data["prediction"] == record["classifier_top1"]["name"]
            if not data["attention_check"]:
                own = [w for w, _ in record["top_words"][:10]]
                assert (data["word_list"] == own) if study == "a" else (data["top_word"] == own[0])
    # The same run exported again (another seed: another order) gives the same ids.
    again = export_studies(run, settings(per_class=4, attention_checks=2, seed=5))
    for study in ("a", "b"):
        plain = lambda e: {t["data"]["task_id"] for t in e.tasks[study] if not t["data"]["attention_check"]}
        assert plain(first) == plain(again)
        assert [t["data"]["task_id"] for t in first.tasks[study]] != [t["data"]["task_id"] for t in again.tasks[study]]
    assert read_export(run).tasks == again.tasks


def test_study_a_offers_ten_words_and_an_explicit_none_of_these(run):
    exported = export_studies(run, settings(per_class=2, attention_checks=0))
    for task in exported.tasks["a"]:
        choices = [c["value"] for c in task["data"]["words"]]
        assert choices[-1] == NONE_OF_THESE and choices[:-1] == task["data"]["word_list"] and len(choices) == 11


def test_attention_checks_have_known_answers_and_no_words_of_the_image(run):
    exported = export_studies(run, settings(per_class=4, attention_checks=4))
    a_checks = [t["data"] for t in exported.tasks["a"] if t["data"]["attention_check"]]
    b_checks = [t["data"] for t in exported.tasks["b"] if t["data"]["attention_check"]]
    assert len(a_checks) == 4 and len(b_checks) == 4
    records = {json.loads(line)["image_id"]: json.loads(line) for line in (run / "records.jsonl").read_text().splitlines()}
    for data in a_checks:
        own = {w for w, _ in records[data["image_id"]]["top_words"][:10]}
        assert data["expected"] == NONE_OF_THESE and not own & set(data["word_list"]) and data["word_list"]
    assert sorted(d["expected"] for d in b_checks) == ["No", "No", "Yes", "Yes"]
    for data in b_checks:
        assert (data["top_word"] == data["prediction"]) == (data["expected"] == "Yes")
    assert exported.manifest["projects"]["a"]["attention_checks"] == 4


def test_selection_per_class_random_and_classes(run):
    per_class = export_studies(run, settings(per_class=2, attention_checks=0))
    classes = [t["data"]["true_class"] for t in per_class.tasks["a"]]
    assert sorted(classes) == sorted(list(CLASSES) * 2)
    chosen = export_studies(run, settings(per_class=3, attention_checks=0, classes=("bird",)))
    assert {t["data"]["true_class"] for t in chosen.tasks["a"]} == {"bird"} and len(chosen.tasks["a"]) == 3
    random_pick = export_studies(run, settings(per_class=1, selection="random", attention_checks=0))
    assert len(random_pick.tasks["a"]) == 3
    with pytest.raises(TExplainError, match="none of the classes"):
        export_studies(run, settings(classes=("zebra",)))


def test_stratified_takes_wrong_predictions_when_no_right_one_exists(run):
    # The fake run's classifier always says "cock": every prediction is wrong, so the wrong stratum fills the class.
    exported = export_studies(run, settings(per_class=2, selection="stratified", attention_checks=0))
    assert len(exported.tasks["a"]) == 6 and not any(t["data"]["correct"] for t in exported.tasks["a"])


def test_local_files_mode_copies_images_under_the_document_root(run):
    exported = export_studies(run, settings(per_class=1, attention_checks=0))
    root = Path(exported.manifest["document_root"])
    assert root == run.parent.resolve()
    for task in exported.tasks["a"]:
        url = task["data"]["image"]
        assert url.startswith("/data/local-files/?d=")
        assert (root / url.split("?d=", 1)[1]).is_file()
        assert (exported.folder / task["data"]["image_file"]).is_file()


def test_base64_mode_inlines_the_image(run):
    exported = export_studies(run, RatingSettings(study=StudySettings(sources=("main",), per_class=1), images=ImageSettings(mode="base64")))
    assert all(t["data"]["image"].startswith("data:image/png;base64,") for t in exported.tasks["a"])
    assert exported.manifest["document_root"] is None


def test_a_document_root_outside_the_run_is_refused(run, tmp_path):
    other = tmp_path / "elsewhere"
    other.mkdir()
    with pytest.raises(TExplainError, match="does not contain the run directory"):
        export_studies(run, RatingSettings(study=StudySettings(sources=("main",)), images=ImageSettings(document_root=str(other))))


def test_bad_settings_and_missing_export_are_clear_errors(run, tmp_path):
    with pytest.raises(TExplainError, match="selection"):
        StudySettings(selection="everything")
    with pytest.raises(TExplainError, match="images mode"):
        ImageSettings(mode="upload-by-carrier-pigeon")
    with pytest.raises(InputFileError, match="texplain ratings export"):
        read_export(run)


def test_project_titles_fit_label_studio():
    assert project_title("a", "quickstart-0123456789ab") == "TExplain (a) quickstart-0123456789ab"
    long = project_title("b", "x" * 120)
    assert len(long) == 50 and long != project_title("b", "x" * 121)


def test_default_run_step_exports_both_studies_and_never_fails_the_run(run, tmp_path):
    from human_eval.export import export_for_run

    assert export_for_run(run) is not None and (run / "ratings" / "manifest.json").is_file()
    empty = make_run(tmp_path / "runs2", num_images=3)
    (empty / "records.jsonl").write_text("")
    assert export_for_run(empty) is None  # a warning, not a failed run
