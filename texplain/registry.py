"""A small registry: decorator registration, an explicit dict, an error on duplicates and
"did you mean" on unknown names (docs/design.md#registries-and-plug-in-contracts, after lm-evaluation-harness).

Used for translators, decoders, classifier sources, and later suites and metrics.
"""

from __future__ import annotations

import difflib
from contextlib import contextmanager
from typing import Callable, Generic, Iterator, TypeVar

from texplain.errors import UnknownNameError

T = TypeVar("T")


def did_you_mean(name: str, options: list[str]) -> str:
    """' Did you mean 'x'?' for the closest option, or '' when none is close."""
    close = difflib.get_close_matches(name, options, n=1, cutoff=0.5)
    return f" Did you mean '{close[0]}'?" if close else ""


class Registry(Generic[T]):
    """Maps names to objects (classes or factories) of one kind."""

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        def decorator(obj: T) -> T:
            if name in self._entries:
                raise ValueError(f"{self.kind} '{name}' is registered twice ({self._entries[name]!r} and {obj!r})")
            self._entries[name] = obj
            return obj

        return decorator

    def get(self, name: str) -> T:
        if name not in self._entries:
            known = sorted(self._entries)
            raise UnknownNameError(
                f"unknown {self.kind} '{name}'.{did_you_mean(name, known)} Known: {', '.join(known)}"
            )
        return self._entries[name]

    def unregister(self, name: str) -> T:
        """Remove an entry and return it. For tests that register a part only for their own duration:
        a registry is global, so an entry left behind would show up in every later test."""
        self.get(name)  # an unknown name gets the same "did you mean" error as a lookup
        return self._entries.pop(name)

    @contextmanager
    def registered(self, name: str, obj: T) -> Iterator[T]:
        """``with REGISTRY.registered(name, obj):`` registers obj for the block only."""
        self.register(name)(obj)
        try:
            yield obj
        finally:
            self.unregister(name)

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())
