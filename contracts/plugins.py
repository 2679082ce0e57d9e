"""Where plug-ins live and how the harness finds them: once, at start-up, by importing their packages.

A plug-in package imports every module in it (each registers what it defines in a registry of this
floor: a dataset format in DATASET_FORMATS, an explainer in EXPLAINERS, a suite in SUITES, a post-run
step or report section in contracts/run_extensions.py), so a new
plug-in is one new file in one of these packages and no list elsewhere names it. The packages are
imported by name, not by an import statement: the floor and the harness stand below the plug-ins, which
import them, and never import a plug-in module themselves.
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType

PLUGIN_PACKAGES = ("harness.datasets", "explainers", "suites", "human_eval")


def load_plugins() -> None:
    """Import every plug-in package (importing one twice is a no-op, so this is cheap to call again)."""
    for package in PLUGIN_PACKAGES:
        importlib.import_module(package)


def import_submodules(package: ModuleType) -> list[str]:
    """Import every module of `package` (each registers its plug-in when imported) and return their names.

    Modules whose names start with '_' are private helpers and are skipped; importing a module twice is a
    no-op, so calling this again only picks up modules added since."""
    found = []
    for module in pkgutil.iter_modules(package.__path__):
        if module.name.startswith("_"):
            continue
        importlib.import_module(f"{package.__name__}.{module.name}")
        found.append(module.name)
    return found
