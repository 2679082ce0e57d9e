"""Format versions of the result files, so that a file says which layout it has and a reader knows
whether it can read it (results are self-describing: docs/design.md#run-directories).

    metrics.json (the run's and each suite's)    "format": "texplain-metrics/2"
    records.jsonl (the run's and each suite's)   "format": "texplain-records/2" in every line
    compare's JSON (texplain compare --out)      "format": "texplain-compare/2"

Version 1 is what the harness wrote before these fields existed, so a file or line without "format" is
version 1. Version 2 renamed the top-k metrics after what they compute (``explain.object_top5_rate`` ->
``explain.object_in_top_k_rate``; harness/reporting/run_reader.py maps the old names when reading) and
added "intervals" to metrics.json. Readers accept versions 1 and 2 and refuse a newer one, written by a
newer harness, with a message saying to upgrade. Raise a version whenever a reader of the previous one
would misread the new files, and teach run_reader to read the previous one.
"""

from __future__ import annotations

import importlib.metadata

from texplain.errors import InputFileError

METRICS_KIND, RECORDS_KIND, COMPARE_KIND = "texplain-metrics", "texplain-records", "texplain-compare"
CURRENT = 2
READABLE = (1, 2)
METRICS_FORMAT = f"{METRICS_KIND}/{CURRENT}"
RECORDS_FORMAT = f"{RECORDS_KIND}/{CURRENT}"
COMPARE_FORMAT = f"{COMPARE_KIND}/{CURRENT}"


def format_version(value: object, kind: str, where: str) -> int:
    """The version of a "format" field of a file of `kind` (None: version 1); an unknown or newer one
    is an InputFileError naming `where` (the file, or file and line)."""
    if value is None:
        return 1
    prefix, _, number = str(value).partition("/")
    if prefix != kind or not number.isdigit():
        raise InputFileError(f"{where} has format {value!r}, expected {kind}/<version>; it is not a file this harness writes")
    version = int(number)
    if version not in READABLE:
        newer = "newer than" if version > CURRENT else "not one of"
        raise InputFileError(
            f"{where} has format {value!r}, {newer} the formats this harness reads "
            f"({', '.join(f'{kind}/{v}' for v in READABLE)}; texplain-harness {_installed_version()}); "
            "upgrade texplain-harness (pip install -U texplain-harness, or update the checkout) to read it"
        )
    return version


def _installed_version() -> str:
    try:
        return importlib.metadata.version("texplain-harness")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"
