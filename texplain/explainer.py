"""The Python API for explaining images in a notebook: ``Explainer`` and the ``Explanation`` of one image.

The method's parts stay separate objects, combined here explicitly (docs/design.md#house-style): a frozen
classifier (texplain/classifier.py from a spec, or any module through texplain/hooked_classifier.py), a
trained translator (texplain/translators/) and a frozen decoder (texplain/decoders/). ``explain`` runs the
paper's chain for each image, image -> Z -> translator -> N sentences -> word statistics, and returns the
sentences, the word statistics, the top words, the classifier's top-1 class and a word cloud in memory.

    explainer = Explainer.from_checkpoint("runs/<run>/translator")   # the parts a run trained with
    explainer = Explainer(classifier, translator, decoder)          # or parts of one's own

An image's sentences depend only on the seed and the image's name (its file name, as ``texplain explain``
seeds them), so the same image gives the same sentences here and on the command line. Features are rounded
to float16 before the translator, as the feature cache (texplain/feature_cache.py) stores them and so as the
translator saw them in training. Nothing is written to disk unless a cache folder is given.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence, Union

import torch
from PIL import Image
from tqdm.auto import tqdm

from texplain.checkpoint import classifier_required, load_translator, names_code, read_checkpoint
from texplain.classifier import FrozenClassifier
from texplain.decoders import load_decoder
from texplain.decoders.base import FrozenDecoder
from texplain.device import autocast, resolve_device
from texplain.errors import InputFileError, TExplainError
from texplain.feature_cache import FeatureCache
from texplain.hooked_classifier import HookedClassifier
from texplain.precision import PrecisionChoice, choose_precision
from texplain.random_weights import RANDOM_WEIGHTS_NOTE
from texplain.sampling import SamplingConfig, StopRecord, image_seed, sample_sentences_batch
from texplain.translators import Translator
from texplain.wordcloud_render import empty_cloud_reason, wordcloud_image
from texplain.words import DEFAULT_FILTER, WordFilter, WordStats, content_words, word_stats

log = logging.getLogger(__name__)

ImageInput = Union[str, Path, Image.Image]
Classifier = Union[FrozenClassifier, HookedClassifier]

DEFAULT_SENTENCES = 100  # as `texplain explain`; the paper samples 1000
# The dtype the feature cache stores tokens in (FeatureCache's default), which translators are trained on.
TOKEN_DTYPE = torch.float16
FEATURE_BATCH = 32  # images per classifier forward, as the feature cache runs them


@dataclass(frozen=True)
class Prediction:
    """The classifier's top-1 class."""

    index: int
    name: str


@dataclass(frozen=True)
class Explanation:
    """What TExplain says about one image."""

    image: str  # the image's path, or a PIL image's file name (or content id when it has none)
    classifier_top1: Prediction
    top_words: list[tuple[str, float]]  # (word, share of sentences containing it), most frequent first
    sentences: list[str] = field(repr=False)
    word_stats: WordStats = field(repr=False)
    seed: int = field(repr=False)  # the image's sampling seed (texplain.sampling.image_seed)
    precision: str = field(repr=False)  # the precision the sentences were sampled in (fp32 | bf16 | fp16)
    stopping: StopRecord | None = field(default=None, repr=False)  # adaptive stopping's record, None for fixed N
    layout_seed: int = field(default=0, repr=False)  # the word cloud's layout (the run seed, as the CLI uses)

    @property
    def class_words(self) -> set[str]:
        """The content words of the predicted class's name: the words the cloud draws in red."""
        return set(content_words(self.classifier_top1.name))

    @property
    def empty_cloud_reason(self) -> str | None:
        """Why the word cloud has nothing to draw (no content word in any sentence), or None."""
        return empty_cloud_reason(self.word_stats)

    def wordcloud(self, width: int = 600, height: int = 400, max_words: int = 50) -> Image.Image:
        """The paper's word cloud as a PIL image: size = share of sentences, class words red, others gray;
        a placeholder saying why when no word can be drawn."""
        frequencies = dict(self.word_stats.top_k(max_words))
        return wordcloud_image(frequencies, self.class_words, width, height, max_words, seed=self.layout_seed, empty_text=self.empty_cloud_reason)


def _image_id(image: ImageInput) -> str:
    """The name an image's seed derives from: its file name (as `texplain explain` seeds), else its pixels' hash."""
    if isinstance(image, Image.Image):
        filename = getattr(image, "filename", "") or ""
        if filename:
            return Path(filename).name
        digest = hashlib.sha256(f"{image.mode}:{image.size}:".encode() + image.tobytes()).hexdigest()
        return f"pil-{digest[:16]}"
    return Path(image).name


def _check_images(images: Sequence[ImageInput]) -> list[ImageInput]:
    """The images as a list, every unusable one named in one error before any model runs."""
    if isinstance(images, (str, Path, Image.Image)):
        raise TypeError("explain takes a list of images (paths or PIL images); for one image pass [image]")
    images = list(images)
    if not images:
        raise ValueError("explain needs at least one image")
    problems = []
    for image in images:
        if isinstance(image, Image.Image):
            continue
        if not isinstance(image, (str, Path)):
            problems.append(f"{image!r}: not a path or a PIL image")
        elif not Path(image).is_file():
            problems.append(f"{image}: no such file")
    if problems:
        raise InputFileError(f"{len(problems)} of {len(images)} image(s) cannot be explained: " + "; ".join(problems))
    return images


class Explainer:
    """A frozen classifier, a trained translator and a frozen decoder, combined to explain images.

    ``classifier``: a FrozenClassifier (texplain/classifier.py) or a HookedClassifier (any torch module,
    the layer whose output is Z, class names, preprocessing). ``translator`` is put in eval mode on the
    decoder's device. ``feature_cache``: keep the features of image files there (texplain/feature_cache.py)."""

    training_history: list[dict] | None = None  # per-epoch losses, when texplain.fit.train_explainer trained the translator

    def __init__(self, classifier: Classifier, translator: Translator, decoder: FrozenDecoder, feature_cache: FeatureCache | None = None):
        if translator.shape.output_dim != decoder.conditioning_dim:
            raise TExplainError(
                f"the translator outputs conditionings of size {translator.shape.output_dim}, but decoder {decoder.spec} "
                f"expects {decoder.conditioning_dim}; use the decoder the translator was trained for"
            )
        self.classifier = classifier
        self.decoder = decoder
        self.device = decoder.device
        self.translator = translator.to(self.device).eval()
        self.feature_cache = feature_cache

    @classmethod
    def from_checkpoint(cls, path: str | Path, device: str | torch.device = "auto", trust_pickle: bool = False, cache_dir: str | Path | None = None,
                        classifier: Classifier | None = None) -> "Explainer":
        """The classifier and decoder a translator folder (model.safetensors + config.json, texplain/checkpoint.py)
        was trained with, loaded from the specs it names and checked against the identities it records, and
        the translator itself.

        classifier: the classifier to use instead of loading the recorded spec (checked against it all the
        same). Required when that spec is code (python:<module>:<factory>@<layer>, or a HookedClassifier's):
        loading a checkpoint never imports the code it names. trust_pickle: also load an old pickle
        translator.pt (unpickling can run code). cache_dir: keep features under cache_dir/features
        (`texplain explain` uses $TEXPLAIN_CACHE). A translator trained on random weights (a dry run) gets the
        same random weights back, with a warning: its words mean nothing."""
        payload = read_checkpoint(Path(path), trust_pickle=trust_pickle)
        recorded = payload["classifier"]
        if classifier is None and names_code(recorded):
            raise classifier_required(Path(path), recorded)
        resolved = resolve_device(str(device))
        random_weights = bool(recorded.get("random_weights")) or bool(payload["decoder"].get("random_weights"))
        if random_weights:
            log.warning("%s was trained on models with %s", path, RANDOM_WEIGHTS_NOTE)
        if classifier is None:
            # A cascading-randomization control's translator reads a classifier whose top blocks were
            # re-initialised (explainers/cascading_randomization.py): rebuild the same one.
            classifier = FrozenClassifier.from_spec(recorded["spec"], resolved, random_weights=bool(recorded.get("random_weights")),
                                                    random_top_blocks=recorded.get("random_top_blocks"))
        decoder = load_decoder(payload["decoder"]["kind"], payload["decoder"]["spec"], resolved, random_weights=bool(payload["decoder"].get("random_weights")))
        translator, _ = load_translator(Path(path), classifier, decoder.identity(), payload=payload)
        cache = FeatureCache(Path(cache_dir) / "features", classifier) if cache_dir is not None else None
        return cls(classifier, translator, decoder, feature_cache=cache)

    def explain(
        self,
        images: Sequence[ImageInput],
        num_sentences: int | None = None,
        seed: int = 0,
        top_k: int = 10,
        precision: str | PrecisionChoice = "auto",
        sampling: SamplingConfig | None = None,
        progress: bool = False,
        word_filter: WordFilter = DEFAULT_FILTER,
    ) -> list[Explanation]:
        """One Explanation per image (paths or PIL images), in order.

        num_sentences: sentences per image (default 100; the paper: 1000). sampling: every sampling setting
        (texplain/sampling/config.py) instead; then num_sentences is its. precision: auto | fp32 | bf16 | fp16,
        auto from the hardware, or a choice already made by texplain.precision.choose_precision.
        word_filter: which tokens count as words (texplain/words.py: function words out, numbers kept,
        lemminflect's lexicon; add class names it lacks with extra_words)."""
        sampling = self._sampling(num_sentences, sampling)
        images = _check_images(images)
        if not isinstance(precision, PrecisionChoice):
            precision = choose_precision(precision, self.device, "precision")
        chosen = precision.resolved
        tokens, logits = self._features(images, progress)  # (N, T, D), (N, C)
        explanations = []
        for index, image in enumerate(tqdm(images, desc="explain", unit="img", disable=not progress)):
            with torch.no_grad():
                conditioning = self.translator(tokens[index : index + 1].to(self.device))  # (1, k, d)
            image_id = _image_id(image)
            seed_for_image = image_seed(seed, image_id)
            stops: list = []
            with autocast(self.device, chosen):
                (sentences,) = sample_sentences_batch(self.decoder, conditioning, [seed_for_image], sampling, stops=stops)
            stats = word_stats(sentences, word_filter)
            predicted = int(logits[index].argmax())
            explanations.append(
                Explanation(
                    image=str(image) if not isinstance(image, Image.Image) else image_id,
                    classifier_top1=Prediction(predicted, self.classifier.class_name(predicted)),
                    top_words=stats.top_k(top_k),
                    sentences=sentences,
                    word_stats=stats,
                    seed=seed_for_image,
                    precision=chosen,
                    stopping=stops[0],
                    layout_seed=seed,
                )
            )
        return explanations

    @staticmethod
    def _sampling(num_sentences: int | None, sampling: SamplingConfig | None) -> SamplingConfig:
        if sampling is None:
            count = DEFAULT_SENTENCES if num_sentences is None else num_sentences
            try:
                # As `texplain explain`: up to 100 sentences per forward pass (does not change the sentences).
                return SamplingConfig(num_sentences=count, batch_size=max(1, min(count, 100)))
            except ValueError as error:
                raise ValueError(f"explain: {error}; fix num_sentences") from error
        if num_sentences is not None and num_sentences != sampling.num_sentences:
            raise ValueError(f"num_sentences={num_sentences} contradicts sampling.num_sentences={sampling.num_sentences}; give one of them")
        return sampling

    def _features(self, images: list[ImageInput], progress: bool) -> tuple[torch.Tensor, torch.Tensor]:
        return image_features(self.classifier, images, self.feature_cache, progress)


def image_features(classifier: Classifier, images: Sequence[ImageInput], feature_cache: FeatureCache | None = None,
                   progress: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Tokens (N, T, D), rounded as the feature cache stores them, and logits (N, C) of images (paths or PIL
    images); image files through the feature cache when there is one."""
    tokens: list[torch.Tensor | None] = [None] * len(images)
    logits: list[torch.Tensor | None] = [None] * len(images)
    files = [i for i, image in enumerate(images) if not isinstance(image, Image.Image)]
    if feature_cache is not None and files:
        cached = feature_cache.extract([Path(images[i]) for i in files], progress=progress)
        for row, i in enumerate(files):
            tokens[i], logits[i] = cached.tokens[row], cached.logits[row]
    todo = [i for i, token in enumerate(tokens) if token is None]
    for start in tqdm(range(0, len(todo), FEATURE_BATCH), desc="features", unit="batch", disable=not progress or not todo):
        batch = todo[start : start + FEATURE_BATCH]
        pictures = [images[i] if isinstance(images[i], Image.Image) else FrozenClassifier.load_image(images[i]) for i in batch]
        out = classifier.forward(classifier.preprocess(pictures))
        for row, i in enumerate(batch):
            tokens[i] = out.tokens[row].to(TOKEN_DTYPE).float().cpu()
            logits[i] = out.logits[row].cpu()
    return torch.stack(tokens), torch.stack(logits)
