"""Faithfulness suites (Only-BG, generative latents, Waterbirds mitigation), one module each (DESIGN.md section 1).

Importing this package registers every suite in ``SUITES`` (suites/base.py holds the contract).
"""

from __future__ import annotations

from suites import only_bg  # noqa: F401  (registers the suite)
from suites.base import SUITES, Suite


def enabled_suites(config) -> list[Suite]:
    """Instances of the suites a run config enables, in registry order."""
    chosen = []
    for name in SUITES.names():
        suite_config = getattr(config.suites, name, None)
        if suite_config is not None and suite_config.enabled:
            chosen.append(SUITES.get(name)(suite_config))
    return chosen
