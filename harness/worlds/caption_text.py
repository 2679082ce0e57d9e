"""Caption text: the sentences a scene graph is described by (docs/design.md#synthetic-worlds).

The caption is the text a translator is trained on in the synthetic worlds, so it decides which words
an explanation can use: the object and background words always, colour, size, position and the
distractors in the picture each by a coin, and fillers that vary so no filler word dominates the
word clouds. The scene graph (scene.py) calls `write_caption` while it draws a scene;
Further captions of one scene (COCO has five per image) come from ``Scene.caption_variants`` (scene.py).

Determinism: every coin is drawn from the RNG passed in, in a fixed order, whatever its outcome is
used for, so a scene's caption depends on its seed only and edits to one phrase do not shift others.
"""
from __future__ import annotations

import numpy as np

from harness.worlds.vocabulary import DISTRACTORS

# The object word and the background word are in every caption: the object word once (in the
# first sentence), the background word once in the first sentence and sometimes again in the second.
# Filler words differ between templates so none of them is in every caption.
_FIRST_SENTENCES: tuple[str, ...] = (
    "{np} sits {on_bg}{pos}.",
    "this picture shows {np} {on_bg}{pos}.",
    "there is {np} {on_bg}{pos}.",
    "a photo of {np} resting {on_bg}{pos}.",
    "we can see {np} {on_bg}{pos}.",
    "an image with {np} placed {on_bg}{pos}.",
    "{np} is visible {on_bg}{pos}.",
    "in this scene {np} appears {on_bg}{pos}.",
)

_ON_BACKGROUND = {
    "water": "on the water",
    "grass": "on the grass",
    "sand": "on the sand",
    "snow": "on the snow",
    "road": "on the road",
    "forest": "in the forest",
}

_POSITION_PHRASES = {
    "left": (" on the left side", " near the left", " toward the left"),
    "right": (" on the right side", " near the right", " toward the right"),
    "center": (" in the center", " near the center", " at the center"),
}

# Second sentence when no distractor is mentioned: it describes the background, naming it again
# in about half of the variants.
_BACKGROUND_SENTENCES = {
    "water": ("the water looks calm with low waves all around.", "gentle waves ripple across the surface of the lake."),
    "grass": ("the grass is thick and fresh in this field.", "tall blades rise up thickly all around the patch."),
    "sand": ("the sand is warm and dry under the hot light.", "tiny grains are scattered over the dunes like dust."),
    "snow": ("the snow is deep and cold all around.", "cold powder lies deep everywhere on the quiet hills."),
    "road": ("the road has painted lane marks along the middle.", "smooth asphalt stretches far into the distance."),
    "forest": ("the forest is full of tall trees and shade.", "dark trees grow close together behind it."),
}

# Distractor phrases carry no colour or size word, so those words stay about the object.
_DISTRACTOR_PHRASES = {
    "sun": ("a bright sun", "the round sun"),
    "cloud": ("a fluffy cloud", "a soft cloud"),
    "ball": ("a striped ball", "a beach ball"),
}

# Part of every world spec (its cache key): raised whenever a change moves a caption word, so a cached
# world with the old captions is never reused. 2: captions of 20-30 words (the closing sentence below).
# 3: the closing sentence whenever it fits in 30 words, not only to reach 20 (the object named twice).
# 4: every filler content word in one phrase only, and no size word outside the object's noun phrase (see below).
CAPTION_TEXT_VERSION = 4

# Why version 4: an explanation's top-5 words are those in most of its sentences, so a filler that
# several phrases share ("picture" in a first sentence, the road's second sentence and a closing sentence;
# "ground" in three backgrounds' sentences; "small" in "small waves", a size word meant for the object) adds
# up across phrases and outranks the object. In the held-out explanations of a version-3 run (world seed 0),
# "picture" was in the top-5 of 29 of 64 images, and the 8 images whose object missed the top-5 lost it to
# such fillers (ground, picture, stand, show, whole) at document frequencies of 0.4-0.6.

# Captions shorter than this many words also get the background sentence, then if still short a
# closing sentence that names the object again. 20 is the sampler's min_words at paper parity
# (20-30 words per sentence): the LM, forbidden to end a sentence below it, learned from captions that
# ended earlier that nothing follows their last period, and glued junk to it (".ortunately").
_MIN_CAPTION_WORDS = 20

_MAX_CAPTION_WORDS = 30

# Why the object is named twice (version 3): at 20-30 words the object word is about one token in
# 35 of a caption's loss, and translators trained on version 2 carried the object in their prefix (a linear
# probe on it: 0.89 held-out) without the LM learning to say it (object top-5 rate 0.125 of 64 images, the
# background 1.000). A second mention doubles that share and gives each sampled sentence two chances.
_CLOSING_SENTENCES = ("the {object} is easy to spot in this view.", "the {object} stands out clearly in the frame.")


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def _choice(rng: np.random.Generator, options: tuple[str, ...]) -> str:
    return options[int(rng.integers(len(options)))]


def write_caption(
    object_class: str,
    color: str,
    size: str,
    position: str,
    background: str,
    distractors: tuple[str, ...],
    rng: np.random.Generator,
) -> str:
    """The caption of one scene graph: one to three sentences, 20-30 words, with the coins of `rng`."""
    # Every coin is drawn whatever its outcome is used for, so captions stay aligned across edits.
    use_color = rng.random() < 0.7
    use_size = rng.random() < 0.5
    use_position = rng.random() < 0.5
    mention = rng.random(len(DISTRACTORS)) < 0.6
    template = _choice(rng, _FIRST_SENTENCES)
    position_phrase = _choice(rng, _POSITION_PHRASES[position])
    background_sentence = _choice(rng, _BACKGROUND_SENTENCES[background])
    distractor_variants = [int(rng.integers(2)) for _ in DISTRACTORS]
    sky_variant = int(rng.integers(2))

    adjectives = ([size] if use_size else []) + ([color] if use_color else [])
    words = adjectives + [object_class]
    noun_phrase = f"{_article(words[0])} {' '.join(words)}"
    first = template.format(
        np=noun_phrase,
        on_bg=_ON_BACKGROUND[background],
        pos=position_phrase if use_position else "",
    )

    mentioned = [d for d, keep in zip(DISTRACTORS, mention) if keep and d in distractors]
    phrases = [_DISTRACTOR_PHRASES[d][distractor_variants[DISTRACTORS.index(d)]] for d in mentioned]
    sentences = [first]
    if phrases:
        listed = phrases[0] if len(phrases) == 1 else f"{', '.join(phrases[:-1])} and {phrases[-1]}"
        verb = "is" if len(phrases) == 1 else "are"
        if "ball" not in mentioned:
            where = f"above the {background}" if sky_variant == 0 else "up in the sky"
        elif len(mentioned) == 1:
            where = "in the corner" if sky_variant == 0 else f"near the edge of the {background}"
        else:
            where = "in the corners" if sky_variant == 0 else "here and there"
        sentences.append(f"{listed} {verb} {where}.")
    if sum(len(x.split()) for x in sentences) < _MIN_CAPTION_WORDS:
        # The second variant of each background sentence does not name the background, so the
        # background word is never said more than twice.
        if sum(x.split().count(background + ".") + x.split().count(background) for x in sentences) >= 2:
            background_sentence = _BACKGROUND_SENTENCES[background][1]
        sentences.append(background_sentence)
    closing = _CLOSING_SENTENCES[sky_variant].format(object=object_class)
    if sum(len(x.split()) for x in sentences) + len(closing.split()) <= _MAX_CAPTION_WORDS:
        # No new coin: the sky coin picks the variant, so the scene's later draws are unchanged.
        sentences.append(closing)
    return " ".join(sentences)
