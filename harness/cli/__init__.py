"""The ``texplain`` command line: ``main.py`` builds the parser and maps outcomes to exit codes
(``exit_codes.py``); each further module adds its sub-commands (``explain.py``, ``report.py``: report and
compare, ``data.py``: worlds and data check)."""

from harness.cli.main import build_parser, main

__all__ = ["build_parser", "main"]
