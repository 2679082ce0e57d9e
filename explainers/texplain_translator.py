"""TExplain (Taghanaki, Khani et al.): the words of the sentences the frozen language model samples from the
run's trained translator of each image's classifier features."""

from __future__ import annotations

from contracts.explainers import EXPLAINERS, ExplainerInputs, WordExplainer
from texplain.words import WordStats


@EXPLAINERS.add
class TExplain(WordExplainer):
    name = "texplain"
    definition = "the run's explanations: word statistics of the sentences sampled through its trained translator from each image's classifier features"

    def explain(self, inputs: ExplainerInputs) -> dict[str, WordStats]:
        return {image_id: inputs.texplain[image_id] for image_id in inputs.image_ids}
