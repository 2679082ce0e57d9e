"""Prediction control: each image gets the words of the training captions of the images that the classifier
puts in the same predicted class, ignoring the image and its features. It is the explainer that reports what
the classifier *says* rather than what its features hold: a metric that claims to test the classifier's
features must beat it (e.g. only-BG images, where it names the predicted, absent object every time)."""

from __future__ import annotations

from collections import defaultdict

from contracts.explainers import (
    EXPLAINERS,
    ExplainerInputs,
    ExplainerUnavailable,
    WordExplainer,
)
from texplain.words import WordStats, word_stats


@EXPLAINERS.add
class ClassPrior(WordExplainer):
    name = "class_prior"
    definition = (
        "word statistics of the training captions of every training image with the same predicted class (top-1) as this image; "
        "all training captions where no training image has that class"
    )
    reads_image = False  # only through the prediction
    reads_classifier = True

    def explain(self, inputs: ExplainerInputs) -> dict[str, WordStats]:
        training = inputs.training
        if training is None or not training.train_items:
            raise ExplainerUnavailable("it needs the run's training captions and the classifier's predictions on them")
        by_class: dict[str, list[str]] = defaultdict(list)
        for item in training.train_items:
            by_class[training.predicted[item]].extend(training.source.captions[item])
        everything = [caption for captions in by_class.values() for caption in captions]
        stats: dict[str, WordStats] = {}
        result = {}
        for image_id in inputs.image_ids:
            predicted = inputs.predicted[image_id]
            if predicted not in stats:
                stats[predicted] = word_stats(by_class.get(predicted) or everything, inputs.word_filter)
            result[image_id] = stats[predicted]
        return result
