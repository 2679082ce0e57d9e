"""What the trained controls share: train a translator with the run's recipe and budget on a changed feature
source (shuffled captions, a random classifier's features), then explain the run's held-out images with it
exactly as TExplain's are explained (same sampling settings, seed and word filter), each step a cached,
resumable stage of the run (contracts/run_context.py)."""

from __future__ import annotations

import dataclasses
from abc import abstractmethod

import torch

from contracts.explainers import ExplainerInputs, ExplainerUnavailable, WordExplainer
from contracts.run_context import CaptionedFeatures
from texplain.words import WordStats, word_stats


class TrainedControl(WordExplainer):
    """A control that trains its own translator; a subclass says which feature source it trains on."""

    trained = True

    @abstractmethod
    def feature_source(self, inputs: ExplainerInputs) -> CaptionedFeatures:
        """The tokens and captions of every image of the run (the run's order) this control trains on."""

    def explain(self, inputs: ExplainerInputs) -> dict[str, WordStats]:
        context, training = inputs.context, inputs.training
        if context is None or training is None or not context.has_store:
            raise ExplainerUnavailable("a trained control needs the run (a RunContext with a stage store) and its training data")
        source = self.feature_source(inputs)
        trained = context.train_translator(f"control-{self.name}", source, list(training.train_items), list(training.val_items))
        held_out = torch.as_tensor(list(training.held_out_items), dtype=torch.long)
        stage = context.stage(
            f"control-{self.name}-explain",
            {
                "control_translator": trained.stage.key,
                "sampling": dataclasses.asdict(context.config.sampling),
                "precision": context.explain_precision,
                "images": list(inputs.image_ids),
            },
        )
        sentences = context.explain(
            list(inputs.image_ids), source.tokens[held_out], stage / "samples.jsonl", description=f"control {self.name}: explain",
            translator=trained.translator,
        )
        stage.mark_done({"translator_history": trained.history})
        return {image_id: word_stats(sentences[image_id], inputs.word_filter) for image_id in inputs.image_ids}
