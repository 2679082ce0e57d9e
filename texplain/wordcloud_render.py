"""Word clouds of explanations, drawn as in the TExplain paper's figures.

The paper shows each explanation as a word cloud in which a word's size is its frequency among the
sampled sentences, the class word is red and every other word gray (DESIGN.md section 1). This file
draws such a cloud with the `wordcloud` package from precomputed frequencies (texplain/words.py).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from pathlib import Path

from wordcloud import WordCloud

CLASS_WORD_COLOR = "rgb(220, 20, 20)"
OTHER_WORD_COLOR = "rgb(128, 128, 128)"


def word_color(word: str, class_words: Collection[str]) -> str:
    """Red for a class word (compared lowercased), gray for any other word."""
    if word.lower() in {c.lower() for c in class_words}:
        return CLASS_WORD_COLOR
    return OTHER_WORD_COLOR


def render_wordcloud(
    frequencies: Mapping[str, float],
    class_words: Collection[str],
    path: Path,
    width: int = 600,
    height: int = 400,
    max_words: int = 50,
    seed: int = 0,
) -> Path:
    """Draw the cloud of `frequencies` (word -> frequency) into the PNG `path` and return the path."""
    for word, value in frequencies.items():
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"word frequencies must be finite and >= 0, got {word!r}: {value}")
    # A zero-frequency word has no size to draw; it is left out rather than drawn at some minimum.
    positive = {word: float(value) for word, value in frequencies.items() if value > 0}
    if not positive:
        raise ValueError(
            "no words to draw: the frequencies are empty or all zero "
            "(e.g. every sampled sentence consisted only of stop words)"
        )
    lowered = {c.lower() for c in class_words}

    def color_func(word: str, *args: object, **kwargs: object) -> str:
        return word_color(word, lowered)

    cloud = WordCloud(
        width=width,
        height=height,
        max_words=max_words,
        background_color="white",
        random_state=seed,
        prefer_horizontal=1.0,
    )
    cloud.generate_from_frequencies(positive)
    cloud.recolor(color_func=color_func, random_state=seed)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    cloud.to_file(str(path))
    return path
