"""How the suite meets explanations with captions (TExplain Section 4.3, Table 1), the same on both paths:

- per image: the sentences TExplain sampled for the image's latent (hypotheses) against that image's
  captions (references), through harness/metrics/captions' scored set keyed by image;
- per category: the sentences and captions of all the category's images pooled into one key;
- the whole set: the scored set's corpus value (METEOR 1.5 and BLEU-4 from all segments' statistics).

Each is done for every reference kind: ``captioner`` (BLIP's captions of the generated images, or the
stand-in captioner's) and ``truth`` (the prompt that generated the image, or the world's true captions).
The values are written onto the records, so the suite's aggregate is a pure function of them.

The ``mismatched_captions`` control scores the same sentences per image against the captions of *another* image
(``mismatched_partners``: a fixed derangement, another category's image wherever the categories allow).
Captions written from one template share much of their text whatever the scene shows, so a score only says
the explanation is about *this* image when it beats the same explanation scored against another image's
captions; the suite's verdicts (suite.py) decide that.
"""

from __future__ import annotations

import numpy as np

from harness.metrics.captions import CaptionMetricsConfig, MeteorJar, score_captions


def mismatched_partners(ids: list[str], categories: dict[str, str], seed: int) -> dict[str, str]:
    """image -> the image whose captions its explanation is scored against in the mismatched-captions control: a
    derangement (no image is its own partner, and every image's captions are used once), seeded, with a
    partner of another category wherever no category holds more than half of the images. Empty for one image.

    The images are shuffled (seeded), grouped by category (categories in order of first appearance, so the
    grouping does not depend on the shuffle), and each is paired with the image `shift` places further on,
    cyclically, with `shift` the size of the largest category: that skips past the image's own category, and
    wraps back into it only when that category holds more than half of the images."""
    if len(ids) < 2:
        return {}
    order = [ids[i] for i in np.random.default_rng(seed).permutation(len(ids))]
    rank = {c: r for r, c in enumerate(dict.fromkeys(categories[i] for i in ids))}
    order.sort(key=lambda i: rank[categories[i]])  # stable: the shuffle stays within each category
    sizes = {c: sum(categories[i] == c for i in ids) for c in rank}
    shift = max(sizes.values())
    if shift == len(ids):  # one category: any other image of it
        shift = 1
    return {image: order[(k + shift) % len(order)] for k, image in enumerate(order)}


def score_all(explanations: dict[str, list[str]], references: dict[str, dict[str, list[str]]], categories: dict[str, str],
              config: CaptionMetricsConfig, partners: dict[str, str] | None = None) -> dict[str, dict]:
    """{"per_image": {ref: {metric: {image: v}}}, "per_category": {ref: {metric: {category: v}}},
    "corpus": {ref: {metric: v}}, "mismatched_captions": {ref: {metric: {image: v}}}} for every reference kind in
    `references` ({ref: {image: captions}}). "mismatched_captions" scores each image's sentences against the captions of
    its partner (``mismatched_partners``), the same way; it is empty without partners."""
    jar = MeteorJar(config.meteor_timeout_s) if "meteor_jar" in config.metrics else None
    result: dict[str, dict] = {"per_image": {}, "per_category": {}, "corpus": {}, "mismatched_captions": {}}
    try:
        for ref, captions in references.items():
            scored = score_captions(explanations, {i: captions[i] for i in explanations}, config, meteor=jar)
            result["per_image"][ref] = scored.per_key
            result["corpus"][ref] = scored.corpus
            if partners:
                result["mismatched_captions"][ref] = score_captions(explanations, {i: captions[partners[i]] for i in explanations}, config, meteor=jar).per_key
            pooled_h: dict[str, list[str]] = {}
            pooled_r: dict[str, list[str]] = {}
            for image, sentences in explanations.items():
                pooled_h.setdefault(categories[image], []).extend(sentences)
                pooled_r.setdefault(categories[image], []).extend(captions[image])
            result["per_category"][ref] = score_captions(pooled_h, pooled_r, config, meteor=jar).per_key
    finally:
        if jar is not None:
            jar.close()
    return result
