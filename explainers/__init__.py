"""Explainers: TExplain and the controls it must beat, one module each (contracts/explainers.py holds the
contract). Importing this package imports every module in it, and each registers its explainer in
``EXPLAINERS``; a new control is one new file here.
"""

from __future__ import annotations

import sys

from contracts.explainers import EXPLAINERS, ExplainerInputs, WordExplainer  # noqa: F401  (the names an author needs)
from contracts.plugins import import_submodules

import_submodules(sys.modules[__name__])
