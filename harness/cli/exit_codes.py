"""Exit codes of every ``texplain`` command, and what the command line does when something goes wrong.

A user's CI branches on the exit code, so each code means one thing for every command:

    0    success
    1    the outcome the command exists to report: ``compare`` crossed a --fail-if threshold,
         ``data check`` found problems in the dataset
    2    bad input or usage: a TExplainError (missing or malformed file, bad config, unknown name) or an
         argparse usage error; the message names the file and the fix
    3    an internal error (a bug, or an environment failure the harness did not foresee): a short
         paragraph on stderr, the full traceback written to a file it names
    130  interrupted (Ctrl-C); finished stages are kept, so rerunning the same command resumes
    141  the reader of stdout went away while the command was still working (``texplain ... | head``
         with more output than the pipe holds): the shell's code for a process ended by SIGPIPE (128 + 13).
         When the pipe is found closed only after the command finished (its last output still buffered,
         the usual case for short output), the command's own code is kept: 0, or 1 for an outcome.

Python itself exits 1 on an uncaught exception, which a CI would read as "threshold crossed"; hence
`internal_error`, which turns any exception that is not a TExplainError into code 3 and keeps the
traceback (too long for a terminal, needed for a bug report) in ``$TEXPLAIN_CACHE/crashes/`` when
TEXPLAIN_CACHE is set, else in ``<tempdir>/texplain-crashes/``, named by time and process id (several
processes of one data-parallel run each write their own).

A crash file is attached to bug reports and a stderr message ends up in CI logs, so neither may hold a
secret: `redact` removes the values of ``--token``, the value of ``$LABEL_STUDIO_API_KEY``, and anything
shaped like a token (JWTs, long hex or base64 keys, Authorization headers, ``api_key=...``) from the
command line and from the traceback text (exception messages and reprs of arguments can carry them).
"""

from __future__ import annotations

import logging
import os
import re
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
BROKEN_PIPE = 141

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
  141  stdout was closed (e.g. `| head`) while the command was still working; when it
       is closed only after the command finished, the command's own code is kept
"""

REDACTED = "[REDACTED]"
# Options whose value is a secret. argparse also accepts an unambiguous prefix (--tok X), so any
# prefix of these down to three characters counts.
SECRET_OPTIONS = ("--token",)
SECRET_ENVIRONMENT = ("LABEL_STUDIO_API_KEY",)
# A value this short is no real token, and replacing it everywhere would mangle the text ("x" in every
# word); it is still removed where it stands on the command line.
MIN_LITERAL = 6

_EDGE = r"A-Za-z0-9+/_\-"
# Shapes of tokens removed from every text the CLI writes (messages, logs, tracebacks).
_TOKEN_PATTERNS = [
    # A JWT (Label Studio's personal access tokens are JWT refresh tokens): base64url of '{"', then two
    # more base64url parts after dots (the signature may be empty for an unsigned token).
    re.compile(r"eyJ[A-Za-z0-9_\-]{4,}\.[A-Za-z0-9_\-]{4,}\.[A-Za-z0-9_\-]*"),
    # Authorization headers, as httpx and the SDK print them in reprs.
    re.compile(r"(?i)(authorization['\"]?\s*[:=]\s*['\"]?(?:bearer|token|basic)\s+)[^\s'\",}]+"),
    # Keyword arguments and dict entries that hold a secret: api_key='...', "token": "...", password=...
    # (`token=` or `"token": ` only, so that prose such as "Token: refused" is kept).
    re.compile(r"(?i)\b((?:api_key|api_token|access_token|refresh_token|token|access|refresh|password|secret)(?:\s*=\s*|['\"]\s*:\s*)['\"]?)"
               r"(?!\[REDACTED\])[^\s'\",)}\]]{4,}"),
]
# Shapes of keys removed from traceback text only (crash files and the internal-error paragraph): in an
# ordinary message or log line a long hex string is far more often a commit or a digest than a key.
_KEY_PATTERNS = [
    # A long hex key (Label Studio's legacy tokens are 40 hex digits), with at least one digit and one letter.
    re.compile(rf"(?<![{_EDGE}])(?=[0-9a-fA-F]*[0-9])(?=[0-9a-fA-F]*[a-fA-F])[0-9a-fA-F]{{32,}}(?![{_EDGE}])"),
    # A long base64 or base64url key: upper case, lower case and digits mixed. '/' is left out of the
    # alphabet here so that file paths in a traceback are kept.
    re.compile(rf"(?<![{_EDGE}])(?=[A-Za-z0-9+_\-]*[0-9])(?=[A-Za-z0-9+_\-]*[a-z])(?=[A-Za-z0-9+_\-]*[A-Z])[A-Za-z0-9+_\-]{{32,}}=*(?![{_EDGE}])"),
]


def _secret_option(argument: str) -> bool:
    return len(argument) >= 3 and any(option.startswith(argument) for option in SECRET_OPTIONS)


def redact_argv(argv: list[str]) -> tuple[list[str], list[str]]:
    """(argv with the values of secret options replaced, the secret values found)."""
    out, secrets = [], []
    hide_next = False
    for argument in argv:
        if hide_next:
            out.append(REDACTED)
            secrets.append(argument)
            hide_next = False
            continue
        name, equals, value = argument.partition("=")
        if equals and name.startswith("--") and _secret_option(name):
            out.append(f"{name}={REDACTED}")
            secrets.append(value)
        else:
            out.append(argument)
            hide_next = argument.startswith("--") and _secret_option(argument)
    return out, secrets


def secrets_of(argv: list[str] | None = None) -> list[str]:
    """The secret values to remove from any text: those of the command line and of the environment."""
    found = redact_argv(list(argv if argv is not None else sys.argv[1:]))[1]
    found += [os.environ[name] for name in SECRET_ENVIRONMENT if os.environ.get(name)]
    return sorted({s for s in found if s}, key=len, reverse=True)  # longest first: one secret may contain another


def redact(text: str, argv: list[str] | None = None, keys: bool = True) -> str:
    """`text` without the secrets of `argv` and the environment, nor anything shaped like a token;
    keys=True (traceback text) also removes long hex and base64 strings."""
    for secret in secrets_of(argv):
        if len(secret) >= MIN_LITERAL:
            text = text.replace(secret, REDACTED)
    for pattern in _TOKEN_PATTERNS + (_KEY_PATTERNS if keys else []):
        text = pattern.sub(lambda m: (m.group(1) if m.re.groups else "") + REDACTED, text)
    return text


class RedactingFilter(logging.Filter):
    """Removes secrets from the log records a handler writes (message and any traceback in it)."""

    def __init__(self, argv: list[str] | None = None):
        super().__init__()
        self.argv = argv

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: logging reports it itself, unchanged
            return True
        clean = redact(message, self.argv, keys=False)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info), self.argv)
        elif record.exc_text:
            record.exc_text = redact(record.exc_text, self.argv)
        return True


def redact_logs(argv: list[str] | None = None) -> None:
    """Put a RedactingFilter on every handler of the root logger (where every logger's records end up)."""
    for handler in logging.getLogger().handlers:
        present = [f for f in handler.filters if isinstance(f, RedactingFilter)]
        if present:
            present[0].argv = argv
        else:
            handler.addFilter(RedactingFilter(argv))


def command_line(argv: list[str] | None = None) -> str:
    """'texplain <arguments>' as typed, with the values of secret options removed."""
    arguments = redact_argv(list(argv if argv is not None else sys.argv[1:]))[0]
    return redact(" ".join(["texplain", *arguments]), argv)


def crash_dir() -> Path:
    """Where tracebacks go: $TEXPLAIN_CACHE/crashes when TEXPLAIN_CACHE is set, else <tempdir>/texplain-crashes."""
    cache = os.environ.get("TEXPLAIN_CACHE")
    return Path(cache) / "crashes" if cache else Path(tempfile.gettempdir()) / "texplain-crashes"


def write_traceback(error: BaseException, argv: list[str] | None = None) -> Path | None:
    """Write the full traceback of `error` (and the command line), secrets removed, to a new file; None
    when no folder is writable (the caller then prints the traceback itself)."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    name = f"texplain-crash-{stamp}-{os.getpid()}.txt"
    text = (f"command: {command_line(argv)}\ndate: {time.strftime('%Y-%m-%dT%H:%M:%S%z')}\n\n"
            + redact("".join(traceback.format_exception(error)), argv))
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
        redact(f"internal error: {type(error).__name__}: {message}\n", argv)
        + f"This is a bug in texplain or an environment failure it did not foresee, not a problem with your input. "
        f"{where} Please attach it when reporting the problem. Exit code {INTERNAL_ERROR}.",
        file=sys.stderr,
    )
    if path is None:
        print(redact("".join(traceback.format_exception(error)), argv), file=sys.stderr, end="")
    return INTERNAL_ERROR


def interrupted() -> int:
    """Ctrl-C: one line, and INTERRUPTED (130, the shell's code for SIGINT)."""
    print("interrupted: finished stages and checkpoints are kept; rerun the same command to resume where it stopped", file=sys.stderr)
    return INTERRUPTED
