"""Golden values for word counting (texplain/words.py): function words only, numbers configurable, the lexicon filter."""

from __future__ import annotations

import json

import pytest

from texplain.words import FUNCTION_WORDS, NUMBER_WORDS, STOP_WORDS, WordFilter, WordStats, content_words, lemma, merge_stats, split_words, word_stats

SENTENCES = [
    "The two boats were floating on the water.",
    "A red boat sails on the water near two boats.",
    "Birds fly over the sand.",
    "It is what it is.",  # only stop words: counts as a sentence, adds no words
]


def test_stop_words_are_function_words_only():
    assert STOP_WORDS == FUNCTION_WORDS
    assert {"the", "a", "on", "were", "is", "near", "of", "and", "could", "they"} <= FUNCTION_WORDS
    assert {"don", "isn", "ve", "ll"} <= FUNCTION_WORDS  # apostrophe fragments
    assert not {"boat", "water", "red", "bird"} & FUNCTION_WORDS
    # Content words that scikit-learn's ENGLISH_STOP_WORDS drops, which an explanation needs.
    needed = {"fire", "bill", "top", "bottom", "side", "front", "back", "empty", "full", "thick", "thin", "system"}
    assert not needed & FUNCTION_WORDS
    assert not NUMBER_WORDS & FUNCTION_WORDS


@pytest.mark.parametrize(
    ("sentence", "expected"),
    [
        ("a fire hydrant on the side of the street with four birds in front", ["fire", "hydrant", "side", "street", "four", "bird", "front"]),
        ("the duck has an orange bill", ["duck", "orange", "bill"]),
        ("a box on top of the shelf and one at the bottom", ["box", "top", "shelf", "one", "bottom"]),
        ("the back of an empty glass is full of thin and thick lines", ["back", "empty", "glass", "full", "thin", "thick", "line"]),
        ("a solar system with two suns", ["solar", "system", "two", "sun"]),
    ],
)
def test_content_words_keep_what_an_explanation_needs(sentence, expected):
    assert content_words(sentence) == expected


def test_numbers_are_configurable():
    sentence = "a fire hydrant on the side of the street with four birds in front"
    assert content_words(sentence, WordFilter(keep_numbers=False)) == ["fire", "hydrant", "side", "street", "bird", "front"]
    assert content_words("twenty three ducks and one hundred geese", WordFilter(keep_numbers=False)) == ["duck", "goose"]


def test_lexicon_drops_fragments_and_records_them():
    words, dropped = split_words("the sky.ortunately ing fl a bird ref.jpg bo")
    assert words == ["sky", "bird", "ref"]  # "ref" is a word of the lexicon (a referee)
    assert dropped == ["ortunately", "ing", "fl", "jpg", "bo"]
    stats = word_stats(["the sky.ortunately", "a bird.ortunately ing"])
    assert stats.doc_counts == {"sky": 1, "bird": 1} and stats.dropped == {"ortunately": 2, "ing": 1}
    assert WordStats.from_json(json.loads(json.dumps(stats.to_json()))) == stats
    # Without the lexicon every letter token that is no function word counts; extra words pass the lexicon.
    assert content_words("sky.ortunately", WordFilter(lexicon="none")) == ["sky", "ortunately"]
    assert content_words("a waterbird on water", WordFilter(extra_words=frozenset({"Waterbird"}))) == ["waterbird", "water"]
    assert content_words("a waterbird on water") == ["water"]
    with pytest.raises(ValueError, match="unknown lexicon"):
        WordFilter(lexicon="wamerican")
    described = WordFilter().describe()
    assert described["lexicon"] == "lemminflect" and described["lexicon_version"] and described["keep_numbers"] is True


def test_every_world_word_is_counted():
    from harness.worlds.vocabulary import BACKGROUNDS, COLORS, DISTRACTORS, OBJECT_CLASSES, POSITIONS, SIZES

    for word in OBJECT_CLASSES + BACKGROUNDS + COLORS + SIZES + POSITIONS + DISTRACTORS:
        assert content_words(word) == [word]


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("boats", "boat"),
        ("birds", "bird"),
        ("leaves", "leaf"),  # irregular plural; the shortest noun lemma wins over "leave"
        ("glasses", "glass"),
        ("floating", "float"),  # no noun lemma: the verb lemma
        ("swimming", "swimming"),  # has a noun lemma, which is preferred
        ("bigger", "big"),  # adjective only
        ("water", "water"),
        ("xyzzy", "xyzzy"),  # unknown: the word itself
    ],
)
def test_lemma(word, expected):
    assert lemma(word) == expected


def test_content_words_golden():
    assert content_words("The two boats were floating on the water.") == ["two", "boat", "float", "water"]
    assert content_words("A dog's leaves don't fly; they're on GRASS!") == ["dog", "leaf", "fly", "grass"]
    assert content_words("Boats, boats and more boats.") == ["boat", "boat", "boat"]
    assert content_words("It is what it is.") == []
    assert content_words("") == []
    assert content_words("a b c x") == []  # shorter than two letters


def test_word_stats_golden():
    stats = word_stats(SENTENCES)
    assert stats.num_sentences == 4
    assert stats.term_counts == {
        "two": 2, "boat": 3, "float": 1, "water": 2, "red": 1, "sail": 1, "bird": 1, "fly": 1, "sand": 1,
    }
    assert stats.doc_counts == {
        "two": 2, "boat": 2, "float": 1, "water": 2, "red": 1, "sail": 1, "bird": 1, "fly": 1, "sand": 1,
    }
    assert stats.doc_freq("boat") == 0.5
    assert stats.doc_freq("sand") == 0.25
    assert stats.doc_freq("unicorn") == 0.0
    assert word_stats([]).doc_freq("boat") == 0.0


def test_top_k_order_and_ties():
    stats = word_stats(SENTENCES)
    # boat, two and water tie on doc_freq 0.5: alphabetical; then the 0.25 words alphabetically.
    assert stats.top_k(4) == [("boat", 0.5), ("two", 0.5), ("water", 0.5), ("bird", 0.25)]
    # term_freq: boat 3/13, two and water 2/13, then the ones alphabetically.
    assert stats.top_k(3, by="term_freq") == [("boat", 3 / 13), ("two", 2 / 13), ("water", 2 / 13)]
    assert stats.top_k(10, min_doc_freq=0.3) == [("boat", 0.5), ("two", 0.5), ("water", 0.5)]
    assert len(stats.top_k(100)) == 9
    assert stats.top_k(0) == []
    assert word_stats([]).top_k(5) == []


def test_top_k_unknown_score_lists_options():
    with pytest.raises(ValueError, match="doc_freq.*term_freq"):
        word_stats(SENTENCES).top_k(3, by="tfidf")


def test_merge_stats_sums():
    a = word_stats(SENTENCES[:2])
    b = word_stats(SENTENCES[2:])
    merged = merge_stats([a, b])
    assert merged == word_stats(SENTENCES)
    twice = merge_stats([a, a])
    assert twice.num_sentences == 4
    assert twice.term_counts["boat"] == 6 and twice.doc_counts["boat"] == 4
    assert twice.doc_freq("boat") == a.doc_freq("boat")
    assert merge_stats([]) == WordStats({}, {}, 0)


def test_json_round_trip():
    stats = word_stats(SENTENCES)
    assert WordStats.from_json(json.loads(json.dumps(stats.to_json()))) == stats
    with pytest.raises(ValueError, match="missing keys"):
        WordStats.from_json({"term_counts": {}})


def test_word_stats_rejects_non_strings():
    with pytest.raises(TypeError, match="str"):
        word_stats(["a boat", 3])  # type: ignore[list-item]
