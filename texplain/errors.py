"""Error types of the method package.

Every error raised on bad input says what was wrong and how to fix it (docs/design.md#house-style:
"raise a short, clear error rather than silently correcting bad input").
"""


class TExplainError(Exception):
    """Base class for errors a user can act on (bad spec, bad file, mismatched checkpoint)."""


class UnknownNameError(TExplainError, KeyError):
    """A name that is not in a registry (translator, decoder, model spec...)."""

    def __str__(self) -> str:  # KeyError would otherwise quote the whole message
        return str(self.args[0]) if self.args else ""


class CheckpointMismatchError(TExplainError):
    """A translator checkpoint used with a classifier or decoder it was not trained for."""


class ClassifierRequiredError(TExplainError):
    """A translator checkpoint whose classifier is code (never imported by loading it) used without the
    classifier passed in."""


class InputFileError(TExplainError, FileNotFoundError):
    """A missing, unreadable or malformed input file."""


class DatasetError(TExplainError, ValueError):
    """A dataset folder or file that does not match its format (harness/datasets/).

    The message names each problem's file, row and fix; ``problems`` holds them one by one.
    """

    def __init__(self, message: str, problems: list | None = None):
        super().__init__(message)
        self.problems = list(problems or [])
