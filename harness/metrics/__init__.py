"""Metrics and their uncertainty.

- ``registry.py``: every metric with its definition and direction (``METRICS``; suites register theirs);
- ``explain.py``: the main run's explain.* metrics, with their per-image functions;
- ``intervals.py``: 95% bootstrap intervals over images of a run's metrics (BCa, scipy);
- ``bootstrap.py``: the paired bootstrap of ``texplain compare``'s deltas;
- ``formats.py``: the format versions of metrics.json, records.jsonl and compare's JSON.
"""

from harness.metrics import explain as _explain  # noqa: F401  (registers the explain.* metrics)
