"""TExplain's selection (suites/waterbirds/selection.py): exactly the images whose dominant explanation word
is not a word of their class, on constructed word statistics."""

from __future__ import annotations

from suites.waterbirds.selection import dominant_words, offending_word, select
from texplain.words import WordStats


def stats(doc_counts: dict[str, int], sentences: int = 10) -> WordStats:
    return WordStats(term_counts=dict(doc_counts), doc_counts=dict(doc_counts), num_sentences=sentences)


CLASS_WORDS = {"waterbird": ("bird", "boat"), "landbird": ("bird", "car")}


def test_selection_picks_exactly_the_images_whose_top_word_is_not_a_class_word():
    images = {
        "a": (stats({"water": 9, "boat": 5, "blue": 2}), "waterbird"),  # background dominates: selected, word "water"
        "b": (stats({"boat": 8, "water": 7}), "waterbird"),  # its class word dominates: kept
        "c": (stats({"grass": 6, "car": 3}), "landbird"),  # selected, "grass"
        "d": (stats({"car": 5, "grass": 5}), "landbird"),  # tie with a class word: kept (conservative)
        "e": (stats({"boat": 9, "car": 2}), "landbird"),  # the *other* class's word dominates: selected, "boat"
        "f": (stats({}, sentences=3), "landbird"),  # no content word: nothing to localize, kept
        "g": (stats({"birds": 1, "bird": 7, "water": 6}), "waterbird"),  # "bird" is a class word of both
        "h": (stats({"red": 4, "small": 4, "car": 1}), "landbird"),  # tie of two non-class words: the first alphabetically
    }
    chosen = select({k: s for k, (s, _) in images.items()}, {k: c for k, (_, c) in images.items()}, CLASS_WORDS)
    assert chosen == {"a": "water", "b": None, "c": "grass", "d": None, "e": "boat", "f": None, "g": None, "h": "red"}


def test_class_words_are_compared_lemmatized():
    assert offending_word(stats({"bird": 5, "sky": 1}), ["birds"]) is None
    assert offending_word(stats({"sky": 5, "bird": 1}), ["Birds"]) == "sky"


def test_dominant_words_are_the_ties_at_the_top():
    assert dominant_words(stats({"x": 2, "y": 2, "z": 1})) == ["x", "y"]
    assert dominant_words(stats({})) == []
