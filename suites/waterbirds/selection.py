"""Which training images TExplain flags (TExplain Section 4.4: "we consider samples whose first dominant
word is not 'bird' as problematic samples": 29% of the training data in the text, 26% masked in Table 2).

An image's dominant word is its most frequent content word (texplain/words.py: stop words removed,
lemmatized; frequency = share of its sampled sentences containing the word). The image is selected when
that word is none of its class's words (compared lemmatized, so "birds" counts as "bird"); its
offending word is then the one to localize and mask. Ties are decided conservatively: when a class word
shares the top frequency the image is not selected (its explanation is not dominated by something else).
An image whose sentences hold no content word is not selected either: there is nothing to localize.
"""

from __future__ import annotations

from texplain.words import WordStats, lemma


def dominant_words(stats: WordStats) -> list[str]:
    """The words sharing the highest document frequency, alphabetically; [] without content words."""
    ranked = stats.top_k(len(stats.doc_counts))
    if not ranked or ranked[0][1] <= 0:
        return []
    return [word for word, score in ranked if score == ranked[0][1]]


def offending_word(stats: WordStats, class_words: tuple[str, ...] | list[str]) -> str | None:
    """The dominant word when it is not a class word (the image is selected), else None."""
    top = dominant_words(stats)
    folded = {lemma(w.lower()) for w in class_words} | {w.lower() for w in class_words}
    if not top or any(word in folded for word in top):
        return None
    return top[0]


def select(stats: dict[str, WordStats], classes: dict[str, str], class_words: dict[str, tuple[str, ...]]) -> dict[str, str | None]:
    """Image id -> offending word (selected) or None (kept), for images with word stats and a class."""
    return {image_id: offending_word(stats[image_id], class_words[classes[image_id]]) for image_id in stats}
