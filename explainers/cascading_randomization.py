"""Cascading model randomization (Adebayo et al., "Sanity Checks for Saliency Maps", NeurIPS 2018): the
trained classifier with its top L stages of blocks, and everything after them, re-initialised to seeded
random weights, its features re-extracted for every image of the run, and a translator trained on them with
the run's recipe and budget. One control per level; random_classifier (every weight re-initialised) is the
last step of the cascade.

The levels are shown, not beaten: an explanation that reads what the classifier learned should lose its
object and background words as more of the network is randomized from the top down, and the report plots
how far each metric falls (harness/reporting/report.py). They are not in the controls a verdict needs
(contracts/verdicts.py): the lower blocks are still trained, so a faithful explainer may rightly keep
something at the first levels.

A level is one line at the end of this file: ``CascadeLevel.register(L)``.
"""

from __future__ import annotations

from contracts.explainers import EXPLAINERS, ExplainerInputs, ExplainerUnavailable
from contracts.run_context import CaptionedFeatures
from explainers.trained_control import TrainedControl
from texplain.classifier import FrozenClassifier
from texplain.errors import TExplainError
from texplain.feature_cache import FeatureCache

# The report finds the levels that ran by this prefix (harness/reporting/report.py: CASCADE_PREFIX).
NAME_PREFIX = "random_top_blocks_"


class CascadeLevel(TrainedControl):
    """A translator trained on the features of the classifier with its top ``levels`` blocks randomized."""

    levels: int = 0
    reads_image = True
    reads_classifier = True  # the blocks below the randomized ones are still the trained classifier's

    @classmethod
    def register(cls, levels: int) -> type[CascadeLevel]:
        """Register the control of one level of the cascade as ``random_top_blocks_<levels>``."""
        level_class = type(cls)(f"RandomTop{levels}Blocks", (cls,), {
            "__module__": __name__,
            "__doc__": f"The cascading randomization control with the classifier's top {levels} block(s) randomized.",
            "name": f"{NAME_PREFIX}{levels}",
            "levels": levels,
            "definition": (f"a translator trained like the run's on the features of the classifier with its top {levels} block(s) and "
                           "everything after them re-initialised to seeded random weights, the lower blocks still trained "
                           "(one level of cascading randomization)"),
        })
        return EXPLAINERS.add(level_class)

    def feature_source(self, inputs: ExplainerInputs) -> CaptionedFeatures:
        context, training = inputs.context, inputs.training
        models = context.config.models
        if models.random_weights:
            raise ExplainerUnavailable("the run's classifier has random weights (models.random_weights): there are no trained blocks to keep")
        try:
            classifier = FrozenClassifier.from_spec(models.classifier, context.device, random_top_blocks=self.levels)
        except TExplainError as error:
            raise ExplainerUnavailable(f"the classifier {models.classifier} cannot be built with its top {self.levels} block(s) randomized: {error}") from error
        # The identity records random_top_blocks (and the weights hash differs), so each level's features
        # have cache entries of their own, apart from the trained classifier's and random_classifier's.
        cache = FeatureCache(context.cache_root / "features", classifier)
        features = cache.extract(list(training.image_paths), progress=context.progress)
        return CaptionedFeatures(features.tokens, training.source.captions, classifier.identity(), training.source.data)


# Top one block, then three, then five: efficientnet_lite0 has seven stages, so these cover the network
# from the head to just above the stem without costing a training per stage.
CascadeLevel.register(1)
CascadeLevel.register(3)
CascadeLevel.register(5)
