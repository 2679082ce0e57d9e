"""Metrics and their uncertainty: bootstrap intervals over images (``bootstrap.py``)."""
