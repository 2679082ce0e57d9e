"""Read a finished run directory back (the layout written by harness/pipeline/run.py; docs/design.md#run-directories).

``texplain report`` and ``texplain compare`` both start from a run directory on disk, possibly one made
by an older version of the harness, so everything they read goes through here: every missing or
malformed file is a TExplainError that names the file and says how to fix it, and the differences
between formats are handled in one place:

- the format version (contracts/formats.py): metrics.json and every records.jsonl line say
  theirs; none means version 1. Versions 1 and 2 are read; a newer one is refused, saying to upgrade;
- metric names of version 1 (``explain.object_top5_rate``, ...) are read under the names of version 2
  (``RENAMED_METRICS``), and the run says which it renamed (``FinishedRun.renamed``), so that an old run
  compares with a new one;
- the oldest records have no ``per_image_metrics``: they are recomputed from the fields they have.

What is read::

    config.json       resolved config (optional for the report; used for explain.min_doc_freq)
    metrics.json      format, metrics, intervals, definitions, higher_is_better, training, stage_seconds, provenance, ...
    records.jsonl     one line per explained image (format, image_id, truth, classifier_top1, top_words,
                      word_stats, per_image_metrics)
    stages.json       optional: which stages ran or were reused
    suites/<name>/metrics.json and suites/<name>/records.jsonl, discovered by listing suites/*/metrics.json
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from contracts.formats import METRICS_KIND, RECORDS_KIND, format_version
from texplain.errors import InputFileError

# The paper's models (docs/design.md#offline-models-and-stand-ins). A run whose models differ is computed with stand-ins, and
# the report says so; a run may also state it itself under "stand_in" in metrics.json.
PAPER_CLASSIFIER_PREFIX = "timm:vit_base_patch16_384"
PAPER_DECODER_MARK = "blip"

# Format 1 named the top-k rates after k = 5, whatever explain.top_k was; format 2 names them after
# what they compute. Old runs are read under the new names so that they compare with new ones.
RENAMED_METRICS = {
    "explain.object_top5_rate": "explain.object_in_top_k_rate",
    "explain.background_top5_rate": "explain.background_in_top_k_rate",
    "explain.chance_object_top5_rate": "explain.chance_object_in_top_k_rate",
    "explain.chance_background_top5_rate": "explain.chance_background_in_top_k_rate",
}


def renamed_note(renamed: list[str], label: str) -> str:
    """The note compare and the report print for a run read under the new metric names."""
    pairs = ", ".join(f"{old} -> {RENAMED_METRICS[old]}" for old in renamed)
    return f"{label} names metrics as before the rename of format 2; read as: {pairs}"


def _rename_keys(table: Any, renamed: set[str]) -> Any:
    """`table` with its old metric names replaced by the new ones (collected into `renamed`)."""
    if not isinstance(table, dict):
        return table
    out = {}
    for name, value in table.items():
        if name in RENAMED_METRICS:
            renamed.add(name)
            name = RENAMED_METRICS[name]
        out[name] = value
    return out


def read_json(path: Path, what: str) -> Any:
    path = Path(path)
    if not path.is_file():
        raise InputFileError(f"{path} is missing ({what})")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise InputFileError(f"{path} is not valid JSON ({error}); rerun the stage that writes it") from error


def read_jsonl(path: Path, what: str) -> list[dict]:
    path = Path(path)
    if not path.is_file():
        raise InputFileError(f"{path} is missing ({what})")
    rows = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            raise InputFileError(f"{path}: line {number} is not JSON ({error}); rerun the stage that writes it") from error
        if not isinstance(row, dict):
            raise InputFileError(f"{path}: line {number} is not a JSON object")
        rows.append(row)
    return rows


def legacy_per_image_metrics(record: dict) -> dict[str, float] | None:
    """Per-image metrics of a record written before ``per_image_metrics`` existed, recomputed from the
    fields those records do have (the same definitions as harness/pipeline/words_step.py's score_explanations)."""
    if "object_in_top_k" not in record or "background_in_top_k" not in record:
        return None
    values = {
        "explain.object_in_top_k_rate": float(bool(record["object_in_top_k"])),
        "explain.background_in_top_k_rate": float(bool(record["background_in_top_k"])),
    }
    stats, truth = record.get("word_stats"), record.get("truth") or {}
    if stats and stats.get("num_sentences"):
        doc_counts, n = stats.get("doc_counts", {}), stats["num_sentences"]
        if "object" in truth:
            values["explain.object_doc_freq_mean"] = doc_counts.get(truth["object"], 0) / n
        if "background" in truth:
            values["explain.background_doc_freq_mean"] = doc_counts.get(truth["background"], 0) / n
    return values


@dataclass
class SuiteResult:
    """One suite's folder: suites/<name>/metrics.json and records.jsonl."""

    name: str
    path: Path
    summary: dict  # the suite's metrics.json
    records: list[dict]

    @property
    def metrics(self) -> dict[str, Any]:
        return self.summary.get("metrics", {})

    @property
    def intervals(self) -> dict[str, dict]:
        """metric -> its 95% interval (contracts/intervals.py); {} for runs of format 1."""
        return self.summary.get("intervals") or {}

    @property
    def higher_is_better(self) -> dict[str, bool]:
        return self.summary.get("higher_is_better", {})

    @property
    def definitions(self) -> dict[str, str]:
        return self.summary.get("definitions", {})

    @property
    def paper(self) -> dict[str, Any]:
        return self.summary.get("paper") or {}

    @property
    def stand_in(self) -> str | None:
        return self.summary.get("stand_in")

    @property
    def figures(self) -> list[str]:
        return list(self.summary.get("figures") or [])


@dataclass
class FinishedRun:
    """A run directory read back from disk."""

    path: Path
    metrics_json: dict
    config: dict
    records: list[dict]
    suites: dict[str, SuiteResult] = field(default_factory=dict)
    stages: dict[str, dict] = field(default_factory=dict)
    # True when per_image_metrics were recomputed from an older record format.
    legacy_records: bool = False
    # Old metric names (RENAMED_METRICS) found in the run's files and read under the new names.
    renamed: list[str] = field(default_factory=list)

    @property
    def format_version(self) -> int:
        return format_version(self.metrics_json.get("format"), METRICS_KIND, str(self.path / "metrics.json"))

    @property
    def metrics(self) -> dict[str, Any]:
        return self.metrics_json.get("metrics", {})

    @property
    def intervals(self) -> dict[str, dict]:
        """metric -> its 95% interval: {"low", "high", "level", "method", "resamples", "n", "seed"};
        absent for a metric without per-image values, and {} for runs of format 1."""
        return self.metrics_json.get("intervals") or {}

    @property
    def higher_is_better(self) -> dict[str, bool]:
        return self.metrics_json.get("higher_is_better", {})

    @property
    def definitions(self) -> dict[str, str]:
        return self.metrics_json.get("definitions", {})

    @property
    def done(self) -> bool:
        return (self.path / "done").exists()

    @property
    def empty_clouds(self) -> dict[str, dict]:
        """Word clouds drawn as placeholders because they had no word to draw: cloud path (as in
        metrics.json["wordclouds"]) -> {"reason", "num_sentences", "images"}; {} for older runs."""
        from texplain.wordcloud_render import EMPTY_CLOUDS_FILE

        path = self.path / "wordclouds" / EMPTY_CLOUDS_FILE
        if not path.exists():
            return {}
        data = read_json(path, "the word clouds that had no word to draw")
        if not isinstance(data, dict) or not all(isinstance(v, dict) and "reason" in v for v in data.values()):
            raise InputFileError(f"{path}: expected {{\"wordclouds/<name>.png\": {{\"reason\": ...}}}}; rerun `texplain run` to rewrite it")
        return data

    @property
    def world_dir(self) -> Path | None:
        world = self.metrics_json.get("world_dir")
        return Path(world) if world else None

    @property
    def min_doc_freq(self) -> float:
        return float((self.config.get("explain") or {}).get("min_doc_freq", 0.0))

    def image_path(self, record: dict) -> Path | None:
        """Where the explained image lies (in the world directory, outside the run directory)."""
        if self.world_dir is None:
            return None
        relative = record.get("image") or f"images/{record['image_id']}.png"
        return self.world_dir / relative

    def stand_in(self) -> str | None:
        """A sentence saying what in the main run is not the real thing, or None when nothing is."""
        if "stand_in" in self.metrics_json:
            return self.metrics_json["stand_in"]
        parts = []
        data = str(self.metrics_json.get("data", ""))
        if "synthetic" in data.lower():
            parts.append(f"data: {data}")
        models = self.metrics_json.get("models") or {}
        if models.get("random_weights"):
            parts.append(f"models with {models.get('note') or 'random weights: the words mean nothing'}")
        classifier, decoder = str(models.get("classifier", "")), str(models.get("decoder", ""))
        if classifier and not classifier.startswith(PAPER_CLASSIFIER_PREFIX):
            parts.append(f"classifier {classifier} stands in for the paper's ViT-B/16 at 384 px")
        if decoder and PAPER_DECODER_MARK not in decoder.lower():
            parts.append(f"language model {decoder} stands in for the paper's BLIP/BERT text decoder")
        return "; ".join(parts) or None


def _check_records_format(records: list[dict], path: Path) -> None:
    """Every line's format is one this harness reads (a line without "format" is version 1)."""
    for number, record in enumerate(records, start=1):
        format_version(record.get("format"), RECORDS_KIND, f"{path}: line {number}")


def _check_image_ids(records: list[dict], path: Path) -> None:
    seen: set[str] = set()
    for number, record in enumerate(records, start=1):
        image_id = record.get("image_id")
        if image_id is None:
            raise InputFileError(f"{path}: line {number} has no image_id; every record names the image it describes")
        if image_id in seen:
            raise InputFileError(f"{path}: image_id {image_id!r} appears twice; records must be one line per image")
        seen.add(image_id)


# Fields of a record that readers index into, with the JSON types they must have (None is allowed:
# a field may be absent or null, e.g. truth on real data).
_RECORD_FIELDS: dict[str, tuple[type, ...]] = {
    "per_image_metrics": (dict,),
    "truth": (dict,),
    "classifier_top1": (dict,),
    "word_stats": (dict,),
    "top_words": (list,),
}
_JSON_TYPE = {dict: "a JSON object", list: "a JSON array"}


def _is_metric_value(value: Any) -> bool:
    # A number (bool counts: a 0/1 flag) or null / NaN for "no value for this image", which compare skips.
    return value is None or isinstance(value, (bool, int, float))


def _check_record_fields(records: list[dict], path: Path, fields: tuple[str, ...] = tuple(_RECORD_FIELDS)) -> None:
    """Malformed fields are bad input naming the file, line and image, not a crash deep in compare or report."""
    fix = (
        "records.jsonl is written by `texplain run`: rerun it (or delete the words or suite stage folder under "
        "<out>/.stages/ so it is rewritten), or correct the line by hand"
    )
    for number, record in enumerate(records, start=1):
        where = f"{path}: line {number} (image {record.get('image_id')!r})"
        for name in fields:
            value = record.get(name)
            expected = _RECORD_FIELDS[name]
            if value is not None and not isinstance(value, expected):
                raise InputFileError(f"{where}: '{name}' is {type(value).__name__} {value!r:.60}, expected {_JSON_TYPE[expected[0]]}; {fix}")
        for metric, value in (record.get("per_image_metrics") or {}).items():
            if not _is_metric_value(value):
                raise InputFileError(
                    f"{where}: per_image_metrics['{metric}'] is {type(value).__name__} {value!r:.60}, expected a number "
                    f"(or null when the image has no value); {fix}"
                )


def read_suites(run_path: Path) -> dict[str, SuiteResult]:
    """Every suite that finished in the run: a folder suites/<name>/ holding metrics.json."""
    suites = {}
    for metrics_path in sorted(Path(run_path).glob("suites/*/metrics.json")):
        folder = metrics_path.parent
        summary = read_json(metrics_path, f"suite {folder.name}'s metrics")
        if not isinstance(summary, dict):
            raise InputFileError(f"{metrics_path} is not a JSON object; it was not written by `texplain run`")
        format_version(summary.get("format"), METRICS_KIND, str(metrics_path))
        records_path = folder / "records.jsonl"
        records = read_jsonl(records_path, f"suite {folder.name}'s per-image records") if records_path.exists() else []
        _check_records_format(records, records_path)
        _check_image_ids(records, records_path)
        # Suite records hold their own fields (predictions, kept, ...); compare reads per_image_metrics and truth.
        _check_record_fields(records, records_path, ("per_image_metrics", "truth"))
        name = summary.get("suite", folder.name)
        suites[name] = SuiteResult(name, folder, summary, records)
    return suites


def read_run(path: Path) -> FinishedRun:
    """Read the run directory `path`; a TExplainError names what is missing and how to get it."""
    path = Path(path)
    if not path.is_dir():
        raise InputFileError(f"{path} is not a directory; pass a run directory such as runs/quickstart-<hash>")
    metrics_path = path / "metrics.json"
    if not metrics_path.is_file():
        raise InputFileError(
            f"{metrics_path} is missing: {path} is not a finished run directory "
            "(metrics.json is written at the end of `texplain run`; rerun it to finish the run)"
        )
    metrics_json = read_json(metrics_path, "run metrics")
    if not isinstance(metrics_json, dict) or "metrics" not in metrics_json:
        raise InputFileError(f"{metrics_path} has no 'metrics' key; it was not written by `texplain run`")
    format_version(metrics_json.get("format"), METRICS_KIND, str(metrics_path))
    renamed: set[str] = set()
    for key in ("metrics", "intervals", "definitions", "higher_is_better"):
        if key in metrics_json:
            metrics_json[key] = _rename_keys(metrics_json[key], renamed)
    config = read_json(path / "config.json", "resolved config") if (path / "config.json").exists() else {}
    records_path = path / "records.jsonl"
    records = read_jsonl(records_path, "one record per explained image, written by the words stage of `texplain run`")
    _check_records_format(records, records_path)
    _check_image_ids(records, records_path)
    _check_record_fields(records, records_path)  # before renaming: messages name what the file holds
    legacy = False
    for record in records:
        if "per_image_metrics" not in record:
            recomputed = legacy_per_image_metrics(record)
            if recomputed is not None:
                record["per_image_metrics"] = recomputed
                legacy = True
        elif record["per_image_metrics"]:
            record["per_image_metrics"] = _rename_keys(record["per_image_metrics"], renamed)
    stages_path = path / "stages.json"
    stages = read_json(stages_path, "stage log") if stages_path.exists() else {}
    return FinishedRun(path, metrics_json, config, records, read_suites(path), stages, legacy, sorted(renamed))

