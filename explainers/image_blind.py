"""Image-blind control: one word list for every image, the run's explanations of all held-out images pooled.
What a rate reaches without looking at the image (the class and caption priors the translator learned)."""

from __future__ import annotations

from contracts.explainers import EXPLAINERS, ExplainerInputs, WordExplainer
from texplain.words import WordStats, merge_stats


@EXPLAINERS.add
class ImageBlind(WordExplainer):
    name = "image_blind"
    definition = "the same word statistics for every image: the run's explanations of all held-out images pooled"
    reads_image = False
    reads_classifier = False

    def explain(self, inputs: ExplainerInputs) -> dict[str, WordStats]:
        pooled = merge_stats(inputs.texplain[image_id] for image_id in inputs.image_ids)
        return {image_id: pooled for image_id in inputs.image_ids}
