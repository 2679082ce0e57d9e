"""The paper's Figure 4 layout: per category, the word cloud of the captions of the generated images
beside the word cloud of TExplain's explanations of their latents (TExplain Section 4.3 shows kitchen,
bathroom and bus), each figure labelled with what is a stand-in and the machine it was made on.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw

from texplain.wordcloud_render import drawable_words, placeholder_image, wordcloud_image
from texplain.words import WordStats

_PANEL = (480, 320)
_BAR = 64


def _panel(stats: WordStats, class_words: set[str], seed: int, empty: str) -> Image.Image:
    frequencies = dict(stats.top_k(50))
    if not drawable_words(frequencies):
        return placeholder_image(empty, *_PANEL)
    return wordcloud_image(frequencies, class_words, _PANEL[0], _PANEL[1], 50, seed).convert("RGB")


def side_by_side(category: str, captions: WordStats, explanations: WordStats, path: Path, captions_label: str,
                 label: str, seed: int = 0) -> Path:
    """One PNG: the captions' cloud (left) and the latent explanations' cloud (right), titled, with
    `label` (stand-in notice, machine) along the bottom. The category word is drawn red in both."""
    left = _panel(captions, {category}, seed, "no content words in the captions")
    right = _panel(explanations, {category}, seed, "no content words in the explanations")
    width, height = 2 * _PANEL[0] + 10, _PANEL[1] + 2 * _BAR
    figure = Image.new("RGB", (width, height), "white")
    figure.paste(left, (0, _BAR))
    figure.paste(right, (_PANEL[0] + 10, _BAR))
    draw = ImageDraw.Draw(figure)
    draw.text((8, 8), f"{category}: {captions_label} ({captions.num_sentences} captions)", fill="black")
    draw.text((_PANEL[0] + 18, 8), f"{category}: TExplain on latents ({explanations.num_sentences} sentences)", fill="black")
    draw.text((8, _BAR + _PANEL[1] + 8), label[:150], fill="firebrick")
    if len(label) > 150:
        draw.text((8, _BAR + _PANEL[1] + 26), label[150:300], fill="firebrick")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.save(path, optimize=True)
    return path
