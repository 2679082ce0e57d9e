"""Planting a class-background correlation with exact counts.

Waterbirds plants its shortcut by construction: 95 % of the training waterbirds are on water and
95 % of the landbirds on land (group counts 3498 / 184 / 56 / 1057). The worlds do the same: of the n
images of a class, exactly round(p * n) get the class's preferred background and the rest are spread
as evenly as possible over the other backgrounds; p = None spreads all n evenly over every background
(balanced, as in Waterbirds' val and test splits). Which image gets which background is shuffled, so
the correlation measured on the written files equals the knob up to rounding, at any size.
"""

from __future__ import annotations

import numpy as np


def spread_evenly(n: int, options: tuple[str, ...], rng: np.random.Generator) -> list[str]:
    """n values cycling through `options` from a random start: counts differ by at most one."""
    start = int(rng.integers(len(options)))
    return [options[(start + i) % len(options)] for i in range(n)]


def plant_backgrounds(
    n: int, preferred: str, backgrounds: tuple[str, ...], correlation: float | None, rng: np.random.Generator
) -> list[str]:
    """Backgrounds of the n images of one class, in a random order (see the module docstring)."""
    if correlation is None:
        chosen = spread_evenly(n, backgrounds, rng)
    else:
        on_preferred = round(correlation * n)
        others = tuple(b for b in backgrounds if b != preferred)
        if on_preferred < n and not others:
            raise ValueError(f"correlation {correlation} < 1 needs a background other than {preferred!r}")
        chosen = [preferred] * on_preferred + spread_evenly(n - on_preferred, others or (preferred,), rng)
    order = rng.permutation(n)
    return [chosen[i] for i in order]
