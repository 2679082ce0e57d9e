"""Golden values for word counting (texplain/words.py)."""

from __future__ import annotations

import json

import pytest

from texplain.words import STOP_WORDS, WordStats, content_words, lemma, merge_stats, word_stats

SENTENCES = [
    "The two boats were floating on the water.",
    "A red boat sails on the water near two boats.",
    "Birds fly over the sand.",
    "It is what it is.",  # only stop words: counts as a sentence, adds no words
]


def test_stop_words():
    assert {"the", "a", "on", "were", "two", "is"} <= STOP_WORDS
    assert {"don", "isn", "ve", "ll"} <= STOP_WORDS  # apostrophe fragments
    assert not {"boat", "water", "red", "bird"} & STOP_WORDS


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
    assert content_words("The two boats were floating on the water.") == ["boat", "float", "water"]
    assert content_words("A dog's leaves don't fly; they're on GRASS!") == ["dog", "leaf", "fly", "grass"]
    assert content_words("Boats, boats and more boats.") == ["boat", "boat", "boat"]
    assert content_words("It is what it is.") == []
    assert content_words("") == []
    assert content_words("a b c x") == []  # shorter than two letters


def test_word_stats_golden():
    stats = word_stats(SENTENCES)
    assert stats.num_sentences == 4
    assert stats.term_counts == {
        "boat": 3, "float": 1, "water": 2, "red": 1, "sail": 1, "near": 1, "bird": 1, "fly": 1, "sand": 1,
    }
    assert stats.doc_counts == {
        "boat": 2, "float": 1, "water": 2, "red": 1, "sail": 1, "near": 1, "bird": 1, "fly": 1, "sand": 1,
    }
    assert stats.doc_freq("boat") == 0.5
    assert stats.doc_freq("sand") == 0.25
    assert stats.doc_freq("unicorn") == 0.0
    assert word_stats([]).doc_freq("boat") == 0.0


def test_top_k_order_and_ties():
    stats = word_stats(SENTENCES)
    # boat and water tie on doc_freq 0.5: alphabetical; then the 0.25 words alphabetically.
    assert stats.top_k(4) == [("boat", 0.5), ("water", 0.5), ("bird", 0.25), ("float", 0.25)]
    # term_freq: boat 3/12, water 2/12, then the ones alphabetically.
    assert stats.top_k(3, by="term_freq") == [("boat", 3 / 12), ("water", 2 / 12), ("bird", 1 / 12)]
    assert stats.top_k(10, min_doc_freq=0.3) == [("boat", 0.5), ("water", 0.5)]
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
