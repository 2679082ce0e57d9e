"""Model randomization control (Adebayo et al., "Sanity Checks for Saliency Maps", NeurIPS 2018): the
classifier's architecture with seeded random weights in place of its trained ones, features re-extracted
for every image of the run, and a translator trained on them with the run's recipe and budget. What its
explanations still name is what random convolutions keep of an image (colour, texture), not what the
classifier learned: a metric that claims to read learned features must beat it."""

from __future__ import annotations

from contracts.explainers import EXPLAINERS, ExplainerInputs, ExplainerUnavailable
from contracts.run_context import CaptionedFeatures
from explainers.trained_control import TrainedControl
from texplain.classifier import FrozenClassifier
from texplain.errors import TExplainError
from texplain.feature_cache import FeatureCache


@EXPLAINERS.add
class RandomClassifier(TrainedControl):
    name = "random_classifier"
    definition = "a translator trained like the run's on the features of the classifier's architecture with seeded random weights (the trained weights re-initialised)"
    reads_image = True
    reads_classifier = False  # its architecture only

    def feature_source(self, inputs: ExplainerInputs) -> CaptionedFeatures:
        context, training = inputs.context, inputs.training
        models = context.config.models
        try:
            classifier = FrozenClassifier.from_spec(models.classifier, context.device, random_weights=True, preprocessing=models.preprocessing or None)
        except TExplainError as error:
            raise ExplainerUnavailable(f"the classifier {models.classifier} cannot be built with random weights: {error}") from error
        cache = FeatureCache(context.cache_root / "features", classifier)
        features = cache.extract(list(training.image_paths), progress=context.progress)
        return CaptionedFeatures(features.tokens, training.source.captions, classifier.identity(), training.source.data)
