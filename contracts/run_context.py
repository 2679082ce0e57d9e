"""What a suite gets from the run it is part of: the ``RunContext`` protocol, and the data it passes to
and gets from the run's translator training.

A suite is written against this protocol alone (contracts/suite.py's ``run(context, work_dir)``), never
against the pipeline that implements it (harness/pipeline/context.py), so the pipeline can change
without touching a suite, and a test can hand a suite a context of its own. What a context offers:

- the frozen parts of the run: ``classifier`` and its ``feature_cache``, the trained ``translator`` (and
  ``translator_key``, its stage's key), ``load_decoder()`` (the frozen language model, loaded on first use);
- ``explain(...)``: sentences for images' feature tokens through the run's translator or another one,
  with the run's sampling or settings of the suite's own, resumable through a samples file;
- ``train_translator(...)``: a translator for another feature source (a fine-tuned classifier's tokens,
  latents) on ``CaptionedFeatures``, as a cached step, returned as ``TrainedTranslator``;
- ``stage(name, key_inputs)``: a cached, resumable sub-step keyed by its inputs, the run's translator and
  seed; ``sampled(path)``: the sentences a samples file already holds;
- the run's ``config``, ``device``, precisions, ``progress``, ``limit`` (smoke runs), ``cache_root`` and
  ``workers`` (several processes of one data-parallel run).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import torch

from texplain.translators.base import Translator


class Stage(Protocol):
    """A cached, resumable step's folder (harness/pipeline/stages.py implements it)."""

    key: str
    path: Path

    @property
    def done(self) -> bool: ...

    def outputs(self) -> dict: ...

    def mark_done(self, outputs: dict | None = None) -> None: ...

    def __truediv__(self, name: str) -> Path: ...


@dataclass
class CaptionedFeatures:
    """Items a translator learns from: their feature tokens, their captions, and where the tokens come from."""

    tokens: torch.Tensor  # (N, T, D)
    captions: list[list[str]]  # per item, one or more captions (COCO has five, the synthetic world one)
    source: dict  # the feature source's identity (FrozenClassifier.identity() or the like); JSON
    data: dict  # the items' identity (dataset spec or content hash); JSON

    def __post_init__(self) -> None:
        if self.tokens.ndim != 3:
            raise ValueError(f"feature tokens must be (N, T, D), got shape {tuple(self.tokens.shape)}")
        if self.tokens.shape[0] != len(self.captions):
            raise ValueError(f"{self.tokens.shape[0]} feature items but {len(self.captions)} caption lists")

    @property
    def shape(self) -> tuple[int, int]:
        return int(self.tokens.shape[1]), int(self.tokens.shape[2])

    def pairs(self, items: list[int]) -> tuple[torch.Tensor, list[str]]:
        """One (tokens, caption) pair per caption of the given items."""
        index = [i for i in items for _ in self.captions[i]]
        return self.tokens[index], [caption for i in items for caption in self.captions[i]]


@dataclass
class TrainedTranslator:
    translator: Translator
    history: list[dict]
    stage: Stage  # the cached step that holds it

    @property
    def folder(self) -> Path:
        """The saved translator (model.safetensors + config.json)."""
        return self.stage / "translator"


@dataclass(frozen=True)
class TrainingData:
    """What the run's translator was trained on: for the controls that train their own with the same recipe
    (contracts/explainers.py) and for suites that retrain it on changed features (the sanity suite)."""

    source: CaptionedFeatures  # the run's classifier tokens and captions of every image, in the run's order
    image_paths: tuple[Path, ...]  # every image, in the same order (a control with another classifier re-extracts)
    train_items: tuple[int, ...]
    val_items: tuple[int, ...]
    held_out_items: tuple[int, ...]  # the explained (scored) images
    predicted: tuple[str, ...]  # the classifier's top-1 class name of every image
    image_ids: tuple[str, ...] = ()  # every image's id, in the same order
    truth: tuple[dict | None, ...] = ()  # every image's truth ({"object", "background", ...}) where the data knows it


class RunContext(Protocol):
    """What a suite may use of the run; harness/pipeline/context.py implements it."""

    config: Any  # the run's resolved RunConfig
    device: torch.device
    classifier: Any  # the frozen classifier (texplain.classifier.FrozenClassifier)
    feature_cache: Any  # its per-image feature cache (texplain.feature_cache.FeatureCache)
    translator: Translator
    translator_key: str
    progress: bool
    explain_precision: str
    train_precision: str
    cache_root: Path
    workers: Any  # texplain.parallel.Workers
    limit: int | None
    training: TrainingData | None  # what the run's translator was trained on (None outside a run)
    held_out_sentences: dict[str, list[str]] | None  # the run's own explanations of its held-out images

    def load_decoder(self) -> Any: ...

    def stage(self, name: str, key_inputs: dict[str, Any], version: int = 1) -> Stage: ...

    @property
    def has_store(self) -> bool: ...

    def with_own_store(self, folder: Path) -> "RunContext": ...

    def train_translator(self, name: str, source: CaptionedFeatures, train_items: list[int], val_items: list[int],
                         translator: dict | None = None, train: dict | None = None, warm_start: bool = False) -> TrainedTranslator: ...

    def explain(self, image_ids: list[str], tokens: torch.Tensor, samples_path: Path, description: str = "explain",
                translator: Translator | None = None, num_sentences: int | None = None,
                sampling: dict[str, Any] | None = None) -> dict[str, list[str]]: ...

    def sampled(self, samples_path: Path) -> dict[str, list[str]]: ...

    def extract(self, paths: list[Path]) -> Any: ...
