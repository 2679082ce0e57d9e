"""Caption control: the word statistics of each image's true captions, where the data knows them (a world's
scene captions, COCO's). Faithful to the image and blind to the classifier: a metric it scores as well
as TExplain tests the image's content, not what the classifier learned."""

from __future__ import annotations

from contracts.explainers import EXPLAINERS, ExplainerInputs, WordExplainer
from texplain.words import WordStats, word_stats


@EXPLAINERS.add
class TruthCaptions(WordExplainer):
    name = "truth_captions"
    definition = "word statistics of each image's true captions (faithful to the image, blind to the classifier)"
    reads_image = True
    reads_classifier = False

    def explain(self, inputs: ExplainerInputs) -> dict[str, WordStats] | None:
        if not all(inputs.captions.get(image_id) for image_id in inputs.image_ids):
            return None
        return {image_id: word_stats(inputs.captions[image_id], inputs.word_filter) for image_id in inputs.image_ids}
