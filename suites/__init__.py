"""Faithfulness suites (Only-BG, generative latents, Waterbirds mitigation), one module each (DESIGN.md section 1).

Importing this package imports every module in it (``discover``), and each registers its suite in
``SUITES`` (suites/base.py holds the contract). A new suite is therefore one new file, or one new
sub-package, here: no list of suites is kept anywhere else.
"""

from __future__ import annotations

import importlib
import pkgutil

from suites.base import SUITES, Suite


def discover() -> list[str]:
    """Import every module of this package (each registers its suite when imported) and return their names.

    Modules whose names start with '_' are skipped (private helpers), and so is base (the contract).
    Importing a module twice is a no-op, so calling this again only picks up modules added since.
    """
    found = []
    for module in pkgutil.iter_modules(__path__):
        if module.name.startswith("_") or module.name == "base":
            continue
        importlib.import_module(f"{__name__}.{module.name}")
        found.append(module.name)
    return found


discover()


def enabled_suites(config) -> list[Suite]:
    """Instances of the suites a run config enables, in registry order."""
    chosen = []
    for name in SUITES.names():
        suite_config = getattr(config.suites, name, None)
        if suite_config is not None and suite_config.enabled:
            chosen.append(SUITES.get(name)(suite_config))
    return chosen
