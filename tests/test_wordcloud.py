"""Tests of the paper-style word cloud (texplain/wordcloud_render.py)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from texplain.wordcloud_render import (
    CLASS_WORD_COLOR,
    OTHER_WORD_COLOR,
    drawable_words,
    empty_cloud_reason,
    is_placeholder,
    render_wordcloud,
    word_color,
)
from texplain.words import word_stats

FREQUENCIES = {"boat": 10.0, "water": 6.0, "sail": 3.0, "sky": 2.0, "wave": 1.0}


def _pixels(path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB")).astype(int)  # (H, W, 3)


def _red(p: np.ndarray) -> np.ndarray:
    return (p[..., 0] > 180) & (p[..., 1] < 80) & (p[..., 2] < 80)


def _gray(p: np.ndarray) -> np.ndarray:
    # Gray text (128, 128, 128), with some room for antialiasing against white.
    return (np.abs(p[..., 0] - p[..., 1]) < 8) & (np.abs(p[..., 1] - p[..., 2]) < 8) & (p[..., 0] < 170)


def test_word_color_golden():
    assert CLASS_WORD_COLOR == "rgb(220, 20, 20)"
    assert OTHER_WORD_COLOR == "rgb(128, 128, 128)"
    assert word_color("boat", ["boat"]) == CLASS_WORD_COLOR
    assert word_color("Boat", ["boat"]) == CLASS_WORD_COLOR
    assert word_color("boat", ["Boat", "ship"]) == CLASS_WORD_COLOR
    assert word_color("water", ["boat"]) == OTHER_WORD_COLOR
    assert word_color("boat", []) == OTHER_WORD_COLOR


def test_cloud_with_class_word_is_red_and_gray(tmp_path):
    path = render_wordcloud(FREQUENCIES, ["boat"], tmp_path / "sub" / "cloud.png", width=300, height=200)
    assert path == tmp_path / "sub" / "cloud.png" and path.is_file()
    p = _pixels(path)
    assert p.shape == (200, 300, 3)
    assert _red(p).sum() > 1000  # the biggest word is red
    assert _gray(p).sum() > 1000
    white = (p > 245).all(axis=-1).mean()
    assert white > 0.4  # white background


def test_cloud_without_class_word_has_no_red(tmp_path):
    path = render_wordcloud(FREQUENCIES, ["car"], tmp_path / "cloud.png", width=300, height=200)
    p = _pixels(path)
    assert _red(p).sum() == 0
    assert _gray(p).sum() > 1000


def test_cloud_is_deterministic(tmp_path):
    a = render_wordcloud(FREQUENCIES, ["boat"], tmp_path / "a.png", width=300, height=200, seed=1)
    b = render_wordcloud(FREQUENCIES, ["boat"], tmp_path / "b.png", width=300, height=200, seed=1)
    assert np.array_equal(_pixels(a), _pixels(b))


@pytest.mark.parametrize("frequencies", [{}, {"boat": 0.0}])
def test_empty_frequencies_give_a_placeholder_of_the_same_size(tmp_path, frequencies):
    # No content word is a result to show, not a crash of the run.
    assert drawable_words(frequencies) == {}
    path = render_wordcloud(frequencies, ["boat"], tmp_path / "sub" / "cloud.png", width=300, height=200, empty_text="no content words in the 30 sampled sentences")
    assert path == tmp_path / "sub" / "cloud.png"
    with Image.open(path) as image:
        assert image.format == "PNG" and image.size == (300, 200)
    p = _pixels(path)
    text = (p < 245).any(axis=-1)
    assert 100 < text.sum() < 0.2 * text.size  # a line of text on white
    assert _red(p).sum() == 0 and _gray(p).sum() == 0  # light gray, unlike a cloud's gray words
    assert (p[text] >= 150).all()
    assert is_placeholder(path) == "no content words in the 30 sampled sentences"
    assert is_placeholder(render_wordcloud(FREQUENCIES, ["boat"], tmp_path / "full.png", width=300, height=200)) is None


def test_placeholder_text_fits_a_small_cloud(tmp_path):
    long = "no word occurs in at least 50% of the 1000 sampled sentences (explain.min_doc_freq)"
    path = render_wordcloud({}, [], tmp_path / "small.png", width=120, height=80, empty_text=long)
    p = _pixels(path)
    assert p.shape == (80, 120, 3)
    text_columns = np.flatnonzero((p < 245).any(axis=-1).any(axis=0))
    assert text_columns.size and text_columns[0] > 0 and text_columns[-1] < 119  # not cut off at the sides


def test_empty_cloud_reasons():
    assert empty_cloud_reason(word_stats(["the cat sat"])) is None
    assert empty_cloud_reason(word_stats(["it is the", "a b"])) == "no content words in the 2 sampled sentences"
    assert empty_cloud_reason(word_stats([])) == "no sentences were sampled"
    stats = word_stats(["a cat", "a dog", "a cow", "a hen"])
    assert empty_cloud_reason(stats, min_doc_freq=0.5) == "no word occurs in at least 50% of the 4 sampled sentences (explain.min_doc_freq)"


@pytest.mark.parametrize("value", [-1.0, float("nan"), float("inf")])
def test_negative_or_non_finite_frequency_is_an_error(tmp_path, value):
    with pytest.raises(ValueError, match="boat"):
        render_wordcloud({"boat": value, "water": 1.0}, ["boat"], tmp_path / "cloud.png")
    assert not (tmp_path / "cloud.png").exists()
