"""Stage keys change when and only when what determines the outputs changes (harness/pipeline/stages.py)."""

import json

from harness.pipeline.stages import StageLog, StageStore, publish, timed_stage


def test_key_depends_on_name_version_and_inputs_only(tmp_path):
    store = StageStore(tmp_path)
    a = store.stage("explain", 1, {"translator": "abc", "sampling": {"top_p": 0.95}})
    same = StageStore(tmp_path).stage("explain", 1, {"sampling": {"top_p": 0.95}, "translator": "abc"})  # key order is irrelevant
    assert a.key == same.key and a.path == same.path
    assert store.stage("explain", 2, a.inputs).key != a.key  # a code version bump reruns the stage
    assert store.stage("words", 1, a.inputs).key != a.key
    assert store.stage("explain", 1, {"translator": "abd", "sampling": {"top_p": 0.95}}).key != a.key  # upstream changed
    assert store.stage("explain", 1, {"translator": "abc", "sampling": {"top_p": 0.9}}).key != a.key
    described = json.loads((a.path / "inputs.json").read_text())
    assert described == {"stage": "explain", "version": 1, "inputs": {"translator": "abc", "sampling": {"top_p": 0.95}}}


def test_done_marker_and_outputs_and_log(tmp_path):
    store = StageStore(tmp_path)
    stage = store.stage("words", 1, {"x": 1})
    log = StageLog()
    with timed_stage(log, stage):
        assert not stage.done
        (stage / "records.jsonl").write_text("{}\n")
        stage.mark_done({"metrics": {"m": 0.5}})
    assert log.entries["words"]["status"] == "ran" and log.entries["words"]["key"] == stage.key
    again = store.stage("words", 1, {"x": 1})
    assert again.done and again.outputs() == {"metrics": {"m": 0.5}}
    with timed_stage(log, again):
        pass
    assert log.entries["words"]["status"] == "reused"


def test_publish_copies_files_and_folders_so_edits_do_not_reach_the_store(tmp_path):
    source = tmp_path / "stage"
    (source / "clouds").mkdir(parents=True)
    (source / "clouds" / "a.png").write_bytes(b"png")
    (source / "records.jsonl").write_text("one\n")
    run = tmp_path / "run"
    publish(source / "records.jsonl", run / "records.jsonl")
    publish(source / "clouds", run / "clouds")
    publish(source / "clouds", run / "clouds")  # idempotent
    (run / "records.jsonl").write_text("edited\n")
    assert (source / "records.jsonl").read_text() == "one\n"
    assert (run / "clouds" / "a.png").read_bytes() == b"png"
