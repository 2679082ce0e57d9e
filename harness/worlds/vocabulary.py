"""The closed vocabulary of the synthetic worlds: object classes, backgrounds, colours, sizes, positions, distractors.

Every world (harness/worlds/*_world.py) draws its scenes from these words, the caption writer
(caption_text.py) has phrases for each of them and the renderer (rendering.py) a painter or shape,
so a spec that names any other word is an error, not a skip. They live apart from the scene graph
because all three of those modules read them and none of them should import the others for it.

Every word below is a single lowercase word that is its own lemma, so the word counts of
texplain/words.py find it unchanged in captions and in generated sentences. The order of each tuple
is part of every world's identity: scenes draw indices into them.
"""

from __future__ import annotations

OBJECT_CLASSES: tuple[str, ...] = ("boat", "car", "bird", "house", "fish", "flower")
BACKGROUNDS: tuple[str, ...] = ("water", "grass", "sand", "snow", "road", "forest")
COLORS: tuple[str, ...] = ("red", "blue", "yellow", "purple", "orange", "black", "pink", "brown")
SIZES: tuple[str, ...] = ("small", "large")
POSITIONS: tuple[str, ...] = ("left", "center", "right")
DISTRACTORS: tuple[str, ...] = ("sun", "cloud", "ball")
