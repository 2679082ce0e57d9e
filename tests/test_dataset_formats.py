"""The dataset-format registry (contracts/dataset_formats.py): every format registered by its reader
module, recognised by `data check`, and a new format picked up without editing anything else."""

from __future__ import annotations

import pytest

from contracts.dataset_formats import DATASET_FORMATS, DatasetFormat
from harness.cli.main import main
from harness.config import data_sources, load_config
from harness.datasets.check import check_dataset, detect_formats, format_names


def test_the_formats_of_the_readers_are_registered():
    assert set(format_names()) == {"waterbirds", "backgrounds_challenge", "coco_captions", "captions_jsonl", "image_folder"}
    assert data_sources() == ["synthetic", "coco", "captions_jsonl"]


def test_a_new_format_is_found_by_data_check_and_by_the_run_config(tmp_path, capsys):
    (tmp_path / "MARKER.txt").write_text("x")

    def summary(root):
        return [("marker_format", lambda: "1 marker")]

    fmt = DatasetFormat(name="marker_format", description="a folder with MARKER.txt", looks_like=lambda root: (root / "MARKER.txt").is_file(),
                        check_readers=summary, priority=5, claims_folder=True, source="marker",
                        captioned=lambda root, split: None)
    with DATASET_FORMATS.registered(fmt.name, fmt):
        assert detect_formats(tmp_path) == ["marker_format"]
        assert check_dataset(tmp_path).summaries == ("marker_format: 1 marker",)
        assert main(["data", "check", str(tmp_path)]) == 0
        assert "marker_format: 1 marker" in capsys.readouterr().out
        assert "marker" in data_sources()
        load_config("quickstart", ["data.source=marker", f"data.root={tmp_path}"])
    assert "marker_format" not in format_names()


def test_an_unknown_source_gets_did_you_mean():
    with pytest.raises(Exception, match="Did you mean 'coco'"):
        load_config("quickstart", ["data.source=cocoo", "data.root=/tmp"])
