"""Word clouds of explanations, drawn as in the TExplain paper's figures.

The paper shows each explanation as a word cloud in which a word's size is its frequency among the
sampled sentences, the class word is red and every other word gray (docs/design.md#what-texplain-is). This file
draws such a cloud with the `wordcloud` package from precomputed frequencies (texplain/words.py).

An explanation can hold no content word at all (every sampled sentence was stop words or too short),
or none that passes explain.min_doc_freq. That is a result to show, not a crash of the run: the cloud
is then a placeholder PNG of the same size with light gray text saying why (`empty_cloud_reason`),
and the PNG carries that reason in a text chunk (key EMPTY_CLOUD_KEY) for anything reading it back.

``wordcloud_image`` draws the same cloud in memory (a PIL image, for notebooks: texplain/explainer.py);
``render_wordcloud`` writes it as a PNG file. An in-memory placeholder carries its reason in
``image.info[EMPTY_CLOUD_KEY]``.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont
from PIL.PngImagePlugin import PngInfo
from wordcloud import WordCloud
from wordcloud.wordcloud import FONT_PATH

from texplain.words import WordStats

CLASS_WORD_COLOR = "rgb(220, 20, 20)"
OTHER_WORD_COLOR = "rgb(128, 128, 128)"
PLACEHOLDER_COLOR = (170, 170, 170)  # light gray: clearly not a word of the cloud
EMPTY_CLOUD_KEY = "texplain-empty-cloud"
# Beside a run's clouds: {cloud path: {"reason", "num_sentences", "images"}} of the placeholders (harness/pipeline/words_step.py).
EMPTY_CLOUDS_FILE = "empty_clouds.json"


def word_color(word: str, class_words: Collection[str]) -> str:
    """Red for a class word (compared lowercased), gray for any other word."""
    if word.lower() in {c.lower() for c in class_words}:
        return CLASS_WORD_COLOR
    return OTHER_WORD_COLOR


def drawable_words(frequencies: Mapping[str, float]) -> dict[str, float]:
    """The words a cloud draws: those with a positive frequency. A negative or non-finite frequency is
    an error (a bug upstream), not something to draw around. Empty means the cloud is a placeholder."""
    for word, value in frequencies.items():
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"word frequencies must be finite and >= 0, got {word!r}: {value}")
    # A zero-frequency word has no size to draw; it is left out rather than drawn at some minimum.
    return {word: float(value) for word, value in frequencies.items() if value > 0}


def empty_cloud_reason(stats: WordStats, min_doc_freq: float = 0.0) -> str | None:
    """Why the cloud of `stats` (top words with doc_freq >= min_doc_freq) has nothing to draw, or None."""
    n = stats.num_sentences
    sentences = f"the {n} sampled sentence{'s' if n != 1 else ''}"
    if n == 0:
        return "no sentences were sampled"
    if not stats.doc_counts:
        return f"no content words in {sentences}"
    if not stats.top_k(1, min_doc_freq=min_doc_freq):
        return f"no word occurs in at least {min_doc_freq:.0%} of {sentences} (explain.min_doc_freq)"
    return None


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    try:
        return ImageFont.truetype(FONT_PATH, size)  # the font wordcloud draws with
    except OSError:
        return ImageFont.load_default()


def _wrap(draw: ImageDraw.ImageDraw, text: str, font, max_width: float) -> list[str]:
    lines: list[str] = []
    for word in text.split():
        candidate = f"{lines[-1]} {word}" if lines else word
        if lines and draw.textlength(candidate, font=font) <= max_width:
            lines[-1] = candidate
        else:
            lines.append(word)
    return lines or [""]


def placeholder_image(text: str, width: int = 600, height: int = 400) -> Image.Image:
    """A white image of the cloud's size with `text` centred in light gray; the reason in its info."""
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    # Wrap into lines of at most 90% of the width, shrinking the font until they also fit the height
    # (long reasons, small clouds); at the smallest size a single over-long word may still overflow.
    size = max(8, height // 14)
    while True:
        font = _font(size)
        lines = _wrap(draw, text, font, 0.9 * width)
        spacing = size // 3
        fits = len(lines) * (size + spacing) <= 0.9 * height and all(draw.textlength(line, font=font) <= 0.9 * width for line in lines)
        if fits or size <= 8:
            break
        size -= 1
    draw.multiline_text((width / 2, height / 2), "\n".join(lines), fill=PLACEHOLDER_COLOR, font=font, anchor="mm", align="center", spacing=spacing)
    image.info[EMPTY_CLOUD_KEY] = text
    return image


def render_placeholder(path: Path, text: str, width: int = 600, height: int = 400) -> Path:
    """A white PNG of the cloud's size with `text` centred in light gray, the reason in a PNG text chunk."""
    image = placeholder_image(text, width, height)
    info = PngInfo()
    info.add_text(EMPTY_CLOUD_KEY, text)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, format="PNG", pnginfo=info)
    return path


def is_placeholder(path: Path) -> str | None:
    """The reason written into a placeholder cloud by `render_placeholder`, or None for a drawn cloud."""
    with Image.open(path) as image:
        return image.info.get(EMPTY_CLOUD_KEY)


def wordcloud_image(
    frequencies: Mapping[str, float],
    class_words: Collection[str],
    width: int = 600,
    height: int = 400,
    max_words: int = 50,
    seed: int = 0,
    empty_text: str | None = None,
) -> Image.Image:
    """The cloud of `frequencies` (word -> frequency) as a PIL image: class words red, the rest gray.

    With no positive frequency it is a placeholder saying `empty_text` (default "no content words to draw")."""
    positive = drawable_words(frequencies)
    if not positive:
        return placeholder_image(empty_text or "no content words to draw", width, height)
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
    return cloud.to_image()


def render_wordcloud(
    frequencies: Mapping[str, float],
    class_words: Collection[str],
    path: Path,
    width: int = 600,
    height: int = 400,
    max_words: int = 50,
    seed: int = 0,
    empty_text: str | None = None,
) -> Path:
    """Draw the cloud of `frequencies` (word -> frequency) into the PNG `path` and return the path.

    With no positive frequency the PNG is a placeholder saying `empty_text` (default "no content words
    to draw"); callers that must report it test `drawable_words(frequencies)` themselves.
    """
    if not drawable_words(frequencies):
        return render_placeholder(path, empty_text or "no content words to draw", width, height)
    image = wordcloud_image(frequencies, class_words, width, height, max_words, seed)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, optimize=True)  # as WordCloud.to_file writes it
    return path
