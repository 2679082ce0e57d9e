"""The run's implementation of the RunContext protocol (contracts/run_context.py), what suites get from a
run: the frozen parts, the trained translator, a way to explain images and to extract features, and
cached, resumable sub-steps of their own (``stage``: e.g. one fine-tuned model per seed;
``train_translator``: a translator for another feature source, such as a fine-tuned classifier's tokens
or VAE latents).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch

from contracts.files import write_jsonl
from contracts.run_context import CaptionedFeatures, TrainedTranslator, TrainingData
from harness.config import RunConfig
from harness.pipeline.explain_step import cache_root, explain_images, sampled
from harness.pipeline.stages import StageDir, StageStore
from harness.pipeline.translator_step import translator_step
from texplain.classifier import FrozenClassifier
from texplain.decoders.base import FrozenDecoder
from texplain.feature_cache import FeatureCache
from texplain.parallel import Workers, single_process
from texplain.sampling import image_seed
from texplain.translators.base import Translator


@dataclass
class RunContext:
    """What suites get from the run: the frozen parts, the trained translator, and a way to explain images.

    The decoder is loaded on first use only, so a rerun whose sampling stages are all finished never
    pays for loading the language model.
    """

    config: RunConfig
    device: torch.device
    classifier: FrozenClassifier
    feature_cache: FeatureCache
    translator: Translator
    translator_key: str
    load_decoder: Callable[[], FrozenDecoder]
    progress: bool = True
    explain_precision: str = "fp32"  # resolved (texplain/precision.py): what sampling computes in
    cache_root: Path = field(default_factory=cache_root)
    workers: Workers = field(default_factory=single_process)
    store: StageStore | None = None  # the run's stage store; suites' sub-steps live in it
    train_precision: str = "fp32"  # resolved, for translators a suite trains
    limit: int | None = None  # a smoke run (--limit N): suites explain and score at most N images per stage
    training: TrainingData | None = None  # what the run's translator was trained on (set by the run)
    held_out_sentences: dict[str, list[str]] | None = None  # the run's explanations of its held-out images (set by the run)

    @property
    def has_store(self) -> bool:
        return self.store is not None

    def with_own_store(self, folder: Path) -> "RunContext":
        """This context with its sub-steps kept under `folder` (a suite run outside a run, on a bare context)."""
        return dataclasses.replace(self, store=StageStore(Path(folder)))

    def sampled(self, samples_path: Path) -> dict[str, list[str]]:
        """The sentences a samples file already holds, per image (a complete line per image)."""
        return sampled(samples_path)

    def stage(self, name: str, key_inputs: dict[str, Any], version: int = 1) -> StageDir:
        """A cached, resumable sub-step: the folder of stage `name` for these inputs (it has ``done``,
        ``mark_done(outputs)`` and ``outputs()``). Its key also holds the run's translator and seed, so a
        sub-step is never reused under another translator; name it ``<suite>-<step>``."""
        if self.store is None:
            raise RuntimeError("this RunContext has no stage store (pass store=StageStore(...))")
        return self.store.stage(name, version, {"translator": self.translator_key, "seed": self.config.seed, **key_inputs})

    def train_translator(self, name: str, source: CaptionedFeatures, train_items: list[int], val_items: list[int],
                         translator: dict | None = None, train: dict | None = None, warm_start: bool = False) -> TrainedTranslator:
        """A translator for another feature source, as a cached step (harness/pipeline/translator_step.py).
        translator/train: overrides of the run's translator and train settings (dict fields); warm_start:
        begin from the run's trained translator wherever its tensors fit (the run's translator key enters the key)."""
        if self.store is None:
            raise RuntimeError("this RunContext has no stage store (pass store=StageStore(...))")
        translator_config = {**dataclasses.asdict(self.config.translator), **(translator or {})}
        train_config = dataclasses.replace(self.config.train, precision=self.train_precision, **(train or {}))
        models = self.config.models
        return translator_step(
            self.store, name, source, train_items, val_items, translator_config, train_config,
            models.decoder_key(), self.load_decoder,
            extra_key={"seed": self.config.seed, **({"warm_start": self.translator_key} if warm_start else {})},
            progress=self.progress, workers=self.workers, warm_start=self.translator if warm_start else None,
        )

    def explain(self, image_ids: list[str], tokens: torch.Tensor, samples_path: Path, description: str = "explain",
                translator: Translator | None = None, num_sentences: int | None = None,
                sampling: dict[str, Any] | None = None) -> dict[str, list[str]]:
        """Sentences per image of `tokens` (N, T, D), through the run's translator or `translator` (one a
        suite trained with train_translator for another feature source); `num_sentences` per image instead
        of the run's sampling.num_sentences (e.g. a stand-in captioner that keeps only its first few);
        `sampling`: other fields of the run's sampling settings replaced (e.g. a suite's own sentence lengths)."""
        overrides = {**(sampling or {}), **({"num_sentences": num_sentences} if num_sentences is not None else {})}
        sampling = dataclasses.replace(self.config.sampling, **overrides) if overrides else self.config.sampling
        done = sampled(samples_path)
        if all(image_id in done for image_id in image_ids):
            sentences = {image_id: done[image_id] for image_id in image_ids}  # nothing to sample: no LM needed
        else:
            sentences = explain_images(
                self.load_decoder(), translator or self.translator, image_ids, tokens, sampling, self.config.seed,
                self.explain_precision, samples_path, self.progress, description, self.workers,
            )
        if self.workers.size > 1 and self.workers.is_main:
            # One merged file in image order, as a single process writes it.
            write_jsonl(samples_path, [{"image_id": i, "seed": image_seed(self.config.seed, i), "sentences": sentences[i]} for i in image_ids])
        return sentences

    def extract(self, paths: list[Path]):
        """Features of `paths`; with several processes each computes its share into the shared cache first."""
        if self.workers.size > 1:
            self.feature_cache.extract(self.workers.shard(paths), progress=self.progress)
            self.workers.barrier()
        return self.feature_cache.extract(paths, progress=self.progress)
