"""Tests of the paper-style word cloud (texplain/wordcloud_render.py)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from texplain.wordcloud_render import CLASS_WORD_COLOR, OTHER_WORD_COLOR, render_wordcloud, word_color

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
def test_empty_frequencies_is_an_error(tmp_path, frequencies):
    with pytest.raises(ValueError, match="no words"):
        render_wordcloud(frequencies, ["boat"], tmp_path / "cloud.png")


def test_negative_frequency_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="boat"):
        render_wordcloud({"boat": -1.0}, ["boat"], tmp_path / "cloud.png")
