"""Faithfulness suites (Only-BG, generative latents, Waterbirds mitigation), one module or sub-package each.

Importing this package imports every module in it, and each registers its suite in ``SUITES``
(contracts/suite.py holds the contract). A new suite is therefore one new file, or one new sub-package,
here: no list of suites is kept anywhere else. The harness imports this package by name at start-up
(contracts/plugins.py), never by an import statement.
"""

from __future__ import annotations

import sys

from contracts.plugins import import_submodules
from contracts.suite import SUITES, Suite, enabled_suites  # noqa: F401  (the names a suite author needs)


def discover() -> list[str]:
    """Import every suite module of this package; returns their names."""
    return import_submodules(sys.modules[__name__])


discover()
