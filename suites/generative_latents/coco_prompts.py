"""Prompts of the real path: COCO captions of each category (TExplain Section 4.3 generates images from COCO
captions of 26 categories). COCO's caption files carry no categories, so a category is a word, and its
prompts are the captions (in annotation order, each image once) that contain the word as a whole word (or its plural in -s or -es),
case folded, read through harness/datasets/coco_captions.py.
"""

from __future__ import annotations

import re
from pathlib import Path

from harness.datasets.coco_captions import read_coco_captions
from texplain.errors import TExplainError


def category_prompts(root: Path, split: str, categories: tuple[str, ...], per_category: int) -> dict[str, list[str]]:
    """category -> its first `per_category` captions containing the category word."""
    records = read_coco_captions(Path(root), split)
    prompts: dict[str, list[str]] = {}
    for category in categories:
        pattern = re.compile(rf"\b{re.escape(category.lower())}(s|es)?\b")
        chosen, seen = [], set()
        for image, caption in records:
            if image not in seen and pattern.search(caption.lower()):
                seen.add(image)
                chosen.append(caption)
                if len(chosen) == per_category:
                    break
        if not chosen:
            raise TExplainError(f"no caption of {root}/annotations/captions_{split}.json contains the category word {category!r}; fix suites.generative_latents.categories")
        prompts[category] = chosen
    return prompts
