"""The explainer registry: what turns a run's held-out images into the per-image word statistics that every
explanation metric reads.

TExplain itself is one explainer: the words of the sentences its trained translator makes the frozen
language model say about an image's features. The others are controls, which a faithful explainer must
beat on any metric that claims to test what the classifier learned: an image-blind word list, another
image's explanation, the words of the image's true captions (faithful to the image, blind to the
classifier). Every per-image metric scores each registered explainer the same way (harness/metrics/
explain.py's ``score_explainers``), so a control is one new file in the ``explainers`` package.

An explainer reads ``ExplainerInputs`` and returns one WordStats per image, or raises
``ExplainerUnavailable`` (or returns None) when it cannot explain these images (e.g. true captions on data
that has none); it says in ``definition`` what it does and in ``reads_image`` / ``reads_classifier`` what
it looks at. A *trained* control (``trained = True``: shuffled captions, a random classifier) trains its own
translator with the run's recipe and budget through ``inputs.context`` (contracts/run_context.py) on
``inputs.training``, the data the run's translator was trained on; the run config's ``controls.trained``
says which of them run (they cost a training each).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

from contracts.run_context import TrainingData
from texplain.registry import Registry
from texplain.words import WordFilter, WordStats


class ExplainerUnavailable(Exception):
    """An explainer cannot explain these images; the message says why (it goes into the report)."""


@dataclass(frozen=True)
class ExplainerInputs:
    """What a run knows about its held-out images when it scores explanations."""

    image_ids: tuple[str, ...]
    texplain: dict[str, WordStats]  # the run's own explanations: word statistics of the sampled sentences
    captions: dict[str, tuple[str, ...]]  # each image's true captions (empty where none are known)
    predicted: dict[str, str]  # the classifier's top-1 class name per image
    word_filter: WordFilter
    seed: int
    # For trained controls: the run (its RunContext: train a translator, explain with it) and its training data.
    context: Any = None
    training: TrainingData | None = None


class WordExplainer(ABC):
    """One registered way to explain images in words."""

    name: str = ""
    definition: str = ""  # one line for metrics.json and the report
    reads_image: bool = True
    reads_classifier: bool = True
    trained: bool = False  # trains its own translator (runs only where the config's controls.trained names it)

    @abstractmethod
    def explain(self, inputs: ExplainerInputs) -> dict[str, WordStats] | None:
        """image_id -> WordStats for every image of `inputs`; raises ExplainerUnavailable (or returns None)
        when this explainer cannot explain them."""


class ExplainerRegistry(Registry[type[WordExplainer]]):
    def add(self, explainer_class: type[WordExplainer]) -> type[WordExplainer]:
        """Class decorator: register under the class's ``name``, which must be set and defined."""
        if not explainer_class.name or not explainer_class.definition.strip():
            raise ValueError(f"explainer {explainer_class.__qualname__} needs a name and a one-line definition")
        return self.register(explainer_class.name)(explainer_class)


EXPLAINERS = ExplainerRegistry("explainer")
