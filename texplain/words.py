"""Word statistics of sampled sentences: the "most frequent words" of an explanation.

TExplain (Taghanaki, Khani et al.) explains an image by the words that occur most often in the
sentences the language model samples for it, and a class by the same statistic over the sentences
of all its images (DESIGN.md section 1). This file turns sentences into content words (lowercase,
stop words removed, plurals and inflections folded with lemminflect) and counts them two ways:
term counts (all occurrences) and document counts (number of sentences that contain the word).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from lemminflect import getAllLemmas
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

# The fragments that splitting on apostrophes leaves of negated contractions ("don't" -> "don", "t").
# They are no content words, and "t"/"s"/"m"/"d" are already dropped as shorter than two letters.
# "won" (from "won't") is included: generated captions almost never mean the past of "win".
_CONTRACTION_FRAGMENTS = frozenset(
    {
        "aren", "couldn", "didn", "doesn", "don", "hadn", "hasn", "haven", "isn", "ll", "mustn",
        "needn", "re", "shouldn", "ve", "wasn", "weren", "won", "wouldn",
    }
)

STOP_WORDS: frozenset[str] = frozenset(ENGLISH_STOP_WORDS) | _CONTRACTION_FRAGMENTS

_TOKEN = re.compile(r"[a-z]+")
_MIN_WORD_LENGTH = 2
_LEMMA_PREFERENCE = ("NOUN", "VERB", "ADJ")
_SCORES = ("doc_freq", "term_freq")


@lru_cache(maxsize=65536)
def lemma(word: str) -> str:
    """The dictionary form of `word`: its noun lemma if it has one, else verb, else adjective, else itself."""
    lemmas = getAllLemmas(word)
    for upos in _LEMMA_PREFERENCE:
        candidates = lemmas.get(upos)
        if candidates:
            # Several lemmas happen for irregular plurals ("leaves" -> leave, leaf; "glasses" ->
            # glass, glasses); folding strips endings, so the shortest is the folded one. Ties go
            # alphabetically so the choice does not depend on the dictionary's order.
            return min(candidates, key=lambda c: (len(c), c))
    return word


def content_words(sentence: str) -> list[str]:
    """The content words of `sentence`, in order, lemmatized; repeats are kept."""
    words = []
    for token in _TOKEN.findall(sentence.lower()):
        if len(token) < _MIN_WORD_LENGTH or token in STOP_WORDS:
            continue
        folded = lemma(token)
        # Lemmatizing can land on a stop word ("having" -> "have"); those are dropped too.
        if len(folded) < _MIN_WORD_LENGTH or folded in STOP_WORDS:
            continue
        words.append(folded)
    return words


@dataclass
class WordStats:
    """Word counts over a set of sentences (one image's samples, or all of a class's)."""

    term_counts: dict[str, int] = field(default_factory=dict)  # total occurrences
    doc_counts: dict[str, int] = field(default_factory=dict)  # sentences containing the word
    num_sentences: int = 0

    def doc_freq(self, word: str) -> float:
        """Share of sentences that contain `word` (0.0 when there are no sentences)."""
        if self.num_sentences == 0:
            return 0.0
        return self.doc_counts.get(word, 0) / self.num_sentences

    def term_freq(self, word: str) -> float:
        """Share of all content-word occurrences that are `word` (0.0 when there are none)."""
        total = sum(self.term_counts.values())
        if total == 0:
            return 0.0
        return self.term_counts.get(word, 0) / total

    def top_k(self, k: int, by: str = "doc_freq", min_doc_freq: float = 0.0) -> list[tuple[str, float]]:
        """The `k` highest-scoring words with their scores, score descending, ties by word ascending.

        by: "doc_freq" (share of sentences containing the word) or "term_freq" (share of all
        content-word occurrences). Words with doc_freq below `min_doc_freq` are left out.
        """
        if by not in _SCORES:
            raise ValueError(f"unknown score by={by!r}; choose one of {list(_SCORES)}")
        if k < 0:
            raise ValueError(f"k must be >= 0, got {k}")
        total = sum(self.term_counts.values())
        scored = []
        for word in self.doc_counts:
            if self.doc_freq(word) < min_doc_freq:
                continue
            if by == "doc_freq":
                score = self.doc_freq(word)
            else:
                score = self.term_counts[word] / total
            scored.append((word, score))
        scored.sort(key=lambda item: (-item[1], item[0]))
        return scored[:k]

    def to_json(self) -> dict[str, Any]:
        return {
            "term_counts": dict(sorted(self.term_counts.items())),
            "doc_counts": dict(sorted(self.doc_counts.items())),
            "num_sentences": self.num_sentences,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> WordStats:
        missing = [key for key in ("term_counts", "doc_counts", "num_sentences") if key not in d]
        if missing:
            raise ValueError(f"word stats record is missing keys {missing}")
        stats = cls(
            term_counts={str(w): int(c) for w, c in d["term_counts"].items()},
            doc_counts={str(w): int(c) for w, c in d["doc_counts"].items()},
            num_sentences=int(d["num_sentences"]),
        )
        if set(stats.term_counts) != set(stats.doc_counts):
            raise ValueError("word stats record is inconsistent: term_counts and doc_counts have different words")
        return stats


def word_stats(sentences: Iterable[str]) -> WordStats:
    """Count the content words of `sentences`."""
    term_counts: Counter[str] = Counter()
    doc_counts: Counter[str] = Counter()
    num_sentences = 0
    for sentence in sentences:
        if not isinstance(sentence, str):
            raise TypeError(f"word_stats expects sentences as str, got {type(sentence).__name__}: {sentence!r}")
        words = content_words(sentence)
        term_counts.update(words)
        doc_counts.update(set(words))
        num_sentences += 1
    return WordStats(dict(term_counts), dict(doc_counts), num_sentences)


def merge_stats(stats: Iterable[WordStats]) -> WordStats:
    """Pool several WordStats (e.g. all images of a class): counts and sentences add up."""
    term_counts: Counter[str] = Counter()
    doc_counts: Counter[str] = Counter()
    num_sentences = 0
    for s in stats:
        term_counts.update(s.term_counts)
        doc_counts.update(s.doc_counts)
        num_sentences += s.num_sentences
    return WordStats(dict(term_counts), dict(doc_counts), num_sentences)
