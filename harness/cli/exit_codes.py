"""Exit codes of every ``texplain`` command, and what the command line does when something goes wrong.

A user's CI branches on the exit code, so each code means one thing for every command (issue 11):

    0    success
    1    the outcome the command exists to report: ``compare`` crossed a --fail-if threshold,
         ``data check`` found problems in the dataset
    2    bad input or usage: a TExplainError (missing or malformed file, bad config, unknown name) or an
         argparse usage error; the message names the file and the fix
    3    an internal error (a bug, or an environment failure the harness did not foresee): a short
         paragraph on stderr, the full traceback written to a file it names
    130  interrupted (Ctrl-C); finished stages are kept, so rerunning the same command resumes

Python itself exits 1 on an uncaught exception, which a CI would read as "threshold crossed"; hence
`internal_error`, which turns any exception that is not a TExplainError into code 3 and keeps the
traceback (too long for a terminal, needed for a bug report) in ``$TEXPLAIN_CACHE/crashes/`` when
TEXPLAIN_CACHE is set, else in ``<tempdir>/texplain-crashes/``, named by time and process id (several
processes of one data-parallel run each write their own).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
import traceback
from pathlib import Path

OK = 0
OUTCOME = 1
BAD_INPUT = 2
INTERNAL_ERROR = 3
INTERRUPTED = 130

# Shown by `texplain --help` (argparse.RawDescriptionHelpFormatter keeps the layout).
EPILOG = """\
exit codes (every command):
  0    success
  1    the outcome the command reports: compare crossed a --fail-if threshold;
       data check found problems
  2    bad input or usage (missing or malformed file, bad config or option);
       the message names the file and the fix
  3    internal error: a short message on stderr, the full traceback in a file it names
  130  interrupted; rerun the same command to resume (finished stages are kept)
"""


def crash_dir() -> Path:
    """Where tracebacks go: $TEXPLAIN_CACHE/crashes when TEXPLAIN_CACHE is set, else <tempdir>/texplain-crashes."""
    cache = os.environ.get("TEXPLAIN_CACHE")
    return Path(cache) / "crashes" if cache else Path(tempfile.gettempdir()) / "texplain-crashes"


def write_traceback(error: BaseException, argv: list[str] | None = None) -> Path | None:
    """Write the full traceback of `error` (and the command line) to a new file; None when no folder
    is writable (the caller then prints the traceback itself)."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    name = f"texplain-crash-{stamp}-{os.getpid()}.txt"
    command = " ".join(["texplain", *(argv if argv is not None else sys.argv[1:])])
    text = f"command: {command}\ndate: {time.strftime('%Y-%m-%dT%H:%M:%S%z')}\n\n" + "".join(traceback.format_exception(error))
    # The cache may be read-only or on a full disk; the temp folder is the fallback.
    for folder in dict.fromkeys([crash_dir(), Path(tempfile.gettempdir()) / "texplain-crashes"]):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / name
            path.write_text(text)
            return path
        except OSError:
            continue
    return None


def internal_error(error: BaseException, argv: list[str] | None = None) -> int:
    """Report an unforeseen exception in one paragraph on stderr and return INTERNAL_ERROR (3)."""
    path = write_traceback(error, argv)
    message = str(error).strip().splitlines()[0] if str(error).strip() else "(no message)"
    where = f"The full traceback is in {path}." if path else "The traceback could not be written to a file; it follows."
    print(
        f"internal error: {type(error).__name__}: {message}\n"
        f"This is a bug in texplain or an environment failure it did not foresee, not a problem with your input. "
        f"{where} Please attach it when reporting the problem. Exit code {INTERNAL_ERROR}.",
        file=sys.stderr,
    )
    if path is None:
        traceback.print_exception(error, file=sys.stderr)
    return INTERNAL_ERROR


def interrupted() -> int:
    """Ctrl-C: one line, and INTERRUPTED (130, the shell's code for SIGINT)."""
    print("interrupted: finished stages and checkpoints are kept; rerun the same command to resume where it stopped", file=sys.stderr)
    return INTERRUPTED
