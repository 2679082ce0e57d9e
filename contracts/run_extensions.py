"""What other packages add to a run without the pipeline or the report importing them: steps run after a
run has finished (the export of the human rating studies), and sections of the run's report (their
results). Each is registered by the package that provides it (human_eval registers both), and the
harness finds them once the plug-ins are loaded (contracts/plugins.py).

A post-run step gets the finished run directory and must not fail the run: it logs what it could not do.
A command group adds sub-commands to `texplain` (human_eval's `ratings`).
A report section gets the run directory and returns its HTML and Markdown.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from texplain.registry import Registry


@dataclass(frozen=True)
class ReportSection:
    title: str
    parts: Callable[[Path], tuple[str, str]]  # run directory -> (html, markdown)


POST_RUN_STEPS: Registry[Callable[[Path], Any]] = Registry("post-run step")
# Command groups of the `texplain` command line: a function that adds its sub-parsers (argparse's
# add_subparsers action) and sets `handler` on them, as harness/cli/main.py's own commands do.
COMMANDS: Registry[Callable[[Any], None]] = Registry("command group")
REPORT_SECTIONS: Registry[ReportSection] = Registry("report section")
