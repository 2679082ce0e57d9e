"""Data randomization control (Adebayo et al., "Sanity Checks for Saliency Maps", NeurIPS 2018): a translator
trained with the run's recipe and budget on the run's features with the captions shuffled across the
training and validation images, so that no caption belongs to its image. What it still names is what the
language model and the caption prior say about any image: an explanation metric that claims to read the
features must beat it."""

from __future__ import annotations

from contracts.explainers import EXPLAINERS, ExplainerInputs, ExplainerUnavailable
from contracts.run_context import CaptionedFeatures
from explainers.permuted import derangement
from explainers.trained_control import TrainedControl


@EXPLAINERS.add
class ShuffledCaptions(TrainedControl):
    name = "shuffled_captions"
    definition = "a translator trained like the run's on the same features with the captions shuffled across training images (a derangement from the run's seed)"
    reads_image = True
    reads_classifier = True

    def feature_source(self, inputs: ExplainerInputs) -> CaptionedFeatures:
        training = inputs.training
        source = training.source
        items = list(training.train_items) + list(training.val_items)
        if len(items) < 2:
            raise ExplainerUnavailable("shuffling captions needs at least two training and validation images")
        order = derangement(len(items), inputs.seed)
        captions = list(source.captions)
        for position, item in enumerate(items):
            captions[item] = source.captions[items[order[position]]]
        return CaptionedFeatures(
            source.tokens, captions, {**source.source, "control": self.name}, {**source.data, "captions_shuffled": {"seed": inputs.seed}},
        )
