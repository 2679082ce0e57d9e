"""Word statistics of sampled sentences: the "most frequent words" of an explanation.

TExplain (Taghanaki, Khani et al.) explains an image by the words that occur most often in the
sentences the language model samples for it, and a class by the same statistic over the sentences
of all its images (docs/design.md#what-texplain-is). This file turns sentences into content words and counts them
two ways: term counts (all occurrences) and document counts (number of sentences that contain the word).

A content word is a token of letters that
- is not a function word (``FUNCTION_WORDS``: articles, pronouns, prepositions, conjunctions,
  auxiliaries and modals, and a few grammatical adverbs; our own list, below). It is deliberately
  not scikit-learn's ENGLISH_STOP_WORDS, which also drops words an explanation needs: fire, bill,
  top, bottom, side, front, back, empty, full, thick, thin, system and the numbers;
- is a word of English: in the lexicon of lemminflect (the lemmatizer we fold inflections with), or
  in the caller's extra words (class names the lexicon lacks, e.g. "waterbird"). What the LM writes on
  images unlike its training world includes sub-word fragments and file debris ("ing", "fl", "jpg"):
  those are not counted, but kept in ``WordStats.dropped`` so a record shows what was left out;
- is a number word ("four") unless ``WordFilter.keep_numbers`` is off.
Plurals and inflections are folded to the lemma with lemminflect ("birds" -> "bird").
"""

from __future__ import annotations

import importlib.metadata
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from lemminflect import getAllLemmas

# Function words only: they carry grammar, not content, so no explanation is about them.
_ARTICLES_DETERMINERS = (
    "a an the this that these those each every either neither some any no none all both such what which whose "
    "whatever whichever another other others own same more most less least much many few fewer several"
)
_PRONOUNS = (
    "i me my mine myself you your yours yourself yourselves he him his himself she her hers herself it its itself "
    "we us our ours ourselves they them their theirs themselves who whom whoever someone somebody something "
    "anyone anybody anything everyone everybody everything nobody nothing"
)
_PREPOSITIONS = (
    "about above across after against along amid among amongst around as at before behind below beneath beside "
    "besides between beyond by despite down during except for from in inside into like near of off on onto out "
    "outside over past per since through throughout till to toward towards under underneath until unto up upon "
    "via with within without"
)
_CONJUNCTIONS = "and but or nor so yet if then else than because although though while whereas whether unless once whenever wherever"
_AUXILIARIES_MODALS = (
    "am is are was were be been being have has had having do does did doing can could may might must shall should "
    "will would ought"
)
_GRAMMATICAL_ADVERBS = "not very too also just only even still here there where when why how now thus hence however therefore ever never etc"
# The fragments that splitting on apostrophes leaves of contractions ("don't" -> "don", "t"; "we've" -> "ve").
# "won" (from "won't") is included: generated captions almost never mean the past of "win".
_CONTRACTION_FRAGMENTS = "aren couldn didn doesn don hadn hasn haven isn ll mustn needn re shouldn ve wasn weren won wouldn"

FUNCTION_WORDS: frozenset[str] = frozenset(
    " ".join((_ARTICLES_DETERMINERS, _PRONOUNS, _PREPOSITIONS, _CONJUNCTIONS, _AUXILIARIES_MODALS, _GRAMMATICAL_ADVERBS, _CONTRACTION_FRAGMENTS)).split()
)
# Kept as content by default ("four birds" says how many); WordFilter(keep_numbers=False) drops them.
NUMBER_WORDS: frozenset[str] = frozenset(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen "
    "eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety hundred thousand million billion".split()
)
# Kept for callers that ask for "the stop words": the function words.
STOP_WORDS = FUNCTION_WORDS

_TOKEN = re.compile(r"[a-z]+")
_MIN_WORD_LENGTH = 2
_LEMMA_PREFERENCE = ("NOUN", "VERB", "ADJ")
_SCORES = ("doc_freq", "term_freq")
LEXICONS = ("lemminflect", "none")


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


@lru_cache(maxsize=65536)
def in_lexicon(word: str) -> bool:
    """Whether lemminflect's dictionary knows `word` (any part of speech, any inflection)."""
    return bool(getAllLemmas(word))


@dataclass(frozen=True)
class WordFilter:
    """Which tokens count as words (module docstring). The default is what every run uses unless its
    config says otherwise (explain.keep_numbers, explain.lexicon, explain.extra_words)."""

    keep_numbers: bool = True
    lexicon: str = "lemminflect"  # "none": every letter token that is not a function word counts
    extra_words: frozenset[str] = frozenset()  # words to count although the lexicon lacks them (lowercase)

    def __post_init__(self) -> None:
        if self.lexicon not in LEXICONS:
            raise ValueError(f"unknown lexicon {self.lexicon!r}; choose one of {list(LEXICONS)}")
        object.__setattr__(self, "extra_words", frozenset(w.lower() for w in self.extra_words))

    def describe(self) -> dict[str, Any]:
        """The filter's source and version, for metrics.json."""
        version = importlib.metadata.version("lemminflect") if self.lexicon == "lemminflect" else None
        return {
            "function_words": f"texplain.words.FUNCTION_WORDS ({len(FUNCTION_WORDS)} words)",
            "keep_numbers": self.keep_numbers,
            "lexicon": self.lexicon,
            "lexicon_version": version,
            "extra_words": sorted(self.extra_words),
        }

    def classify(self, token: str) -> str | None:
        """The counted word for a lowercase letter token, '' for a function word or number left out,
        or None for a token that is no word of the lexicon (a fragment: counted in WordStats.dropped)."""
        return _classify(token, self)


@lru_cache(maxsize=131072)
def _classify(token: str, word_filter: WordFilter) -> str | None:
    if len(token) < _MIN_WORD_LENGTH or token in FUNCTION_WORDS:
        return ""
    if token in NUMBER_WORDS:
        return token if word_filter.keep_numbers else ""
    if token in word_filter.extra_words:
        return token
    if word_filter.lexicon == "lemminflect" and not in_lexicon(token):
        return None
    folded = lemma(token)
    # Lemmatizing can land on a function word ("having" -> "have"); those are dropped too.
    if len(folded) < _MIN_WORD_LENGTH or folded in FUNCTION_WORDS:
        return ""
    return folded


DEFAULT_FILTER = WordFilter()


def split_words(sentence: str, word_filter: WordFilter = DEFAULT_FILTER) -> tuple[list[str], list[str]]:
    """The content words of `sentence` in order (lemmatized, repeats kept) and the tokens dropped as no word."""
    words, dropped = [], []
    for token in _TOKEN.findall(sentence.lower()):
        kind = _classify(token, word_filter)
        if kind is None:
            dropped.append(token)
        elif kind:
            words.append(kind)
    return words, dropped


def content_words(sentence: str, word_filter: WordFilter = DEFAULT_FILTER) -> list[str]:
    """The content words of `sentence`, in order, lemmatized; repeats are kept."""
    return split_words(sentence, word_filter)[0]


@dataclass
class WordStats:
    """Word counts over a set of sentences (one image's samples, or all of a class's)."""

    term_counts: dict[str, int] = field(default_factory=dict)  # total occurrences
    doc_counts: dict[str, int] = field(default_factory=dict)  # sentences containing the word
    num_sentences: int = 0
    dropped: dict[str, int] = field(default_factory=dict)  # tokens that are no word of the lexicon -> occurrences

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
            "dropped": dict(sorted(self.dropped.items())),
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
            dropped={str(w): int(c) for w, c in (d.get("dropped") or {}).items()},  # absent in records before the lexicon filter
        )
        if set(stats.term_counts) != set(stats.doc_counts):
            raise ValueError("word stats record is inconsistent: term_counts and doc_counts have different words")
        return stats


def word_stats(sentences: Iterable[str], word_filter: WordFilter = DEFAULT_FILTER) -> WordStats:
    """Count the content words of `sentences` (and the tokens dropped as no word)."""
    term_counts: Counter[str] = Counter()
    doc_counts: Counter[str] = Counter()
    dropped: Counter[str] = Counter()
    num_sentences = 0
    for sentence in sentences:
        if not isinstance(sentence, str):
            raise TypeError(f"word_stats expects sentences as str, got {type(sentence).__name__}: {sentence!r}")
        words, fragments = split_words(sentence, word_filter)
        term_counts.update(words)
        doc_counts.update(set(words))
        dropped.update(fragments)
        num_sentences += 1
    return WordStats(dict(term_counts), dict(doc_counts), num_sentences, dict(dropped))


def merge_stats(stats: Iterable[WordStats]) -> WordStats:
    """Pool several WordStats (e.g. all images of a class): counts and sentences add up."""
    term_counts: Counter[str] = Counter()
    doc_counts: Counter[str] = Counter()
    dropped: Counter[str] = Counter()
    num_sentences = 0
    for s in stats:
        term_counts.update(s.term_counts)
        doc_counts.update(s.doc_counts)
        dropped.update(s.dropped)
        num_sentences += s.num_sentences
    return WordStats(dict(term_counts), dict(doc_counts), num_sentences, dict(dropped))
