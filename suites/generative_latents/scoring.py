"""How the suite meets explanations with captions (TExplain Section 4.3, Table 1), the same on both paths:

- per image: the sentences TExplain sampled for the image's latent (hypotheses) against that image's
  captions (references), through harness/metrics/captions' scored set keyed by image;
- per category: the sentences and captions of all the category's images pooled into one key;
- the whole set: the scored set's corpus value (METEOR 1.5 and BLEU-4 from all segments' statistics).

Each is done for every reference kind: ``captioner`` (BLIP's captions of the generated images, or the
stand-in captioner's) and ``truth`` (the prompt that generated the image, or the world's true captions).
The values are written onto the records, so the suite's aggregate is a pure function of them.
"""

from __future__ import annotations

from harness.metrics.captions import CaptionMetricsConfig, MeteorJar, score_captions


def score_all(explanations: dict[str, list[str]], references: dict[str, dict[str, list[str]]], categories: dict[str, str],
              config: CaptionMetricsConfig) -> dict[str, dict]:
    """{"per_image": {ref: {metric: {image: v}}}, "per_category": {ref: {metric: {category: v}}},
    "corpus": {ref: {metric: v}}} for every reference kind in `references` ({ref: {image: captions}})."""
    jar = MeteorJar(config.meteor_timeout_s) if "meteor_jar" in config.metrics else None
    result: dict[str, dict] = {"per_image": {}, "per_category": {}, "corpus": {}}
    try:
        for ref, captions in references.items():
            scored = score_captions(explanations, {i: captions[i] for i in explanations}, config, meteor=jar)
            result["per_image"][ref] = scored.per_key
            result["corpus"][ref] = scored.corpus
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
