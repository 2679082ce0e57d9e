"""From one's own classifier and captioned images to explanations, in one call: ``train_explainer``.

``texplain run`` trains a translator inside a staged, cached run (worlds, datasets, suites, a report). A
notebook user with a model of their own and a few hundred captioned photos needs less: extract the
classifier's tokens, train the translator into the frozen language model (texplain/training.py, the same
loss, optimiser and schedule as a run), and get an ``Explainer`` back:

    from texplain import HookedClassifier
    from texplain.fit import train_explainer

    classifier = HookedClassifier(model, layer="layer4", class_names=["cat", "dog"], transform=preprocess)
    explainer = train_explainer(classifier, [("cat1.jpg", "a grey cat sleeps on a red sofa"), ...], save_to="my-translator")
    explanations = explainer.explain(["new.jpg"], num_sentences=100)

The classifier is any texplain classifier (a HookedClassifier, a FrozenClassifier, or a spec string such as
``python:my_pkg.models:build@layer4``). The defaults are the quickstart's recipe, measured with its decoder,
the packaged SmolLM2-135M (harness/configs/quickstart.yaml): the paper's ``mlp_bn`` translator (hidden 1024,
3 layers) giving 8 prefix tokens at the scale SmolLM2 reads best, 3 epochs of batch 8 at lr 5e-3. A
cross-attention decoder keeps all of the classifier's tokens. ``save_to`` writes the translator folder
(model.safetensors + config.json, texplain/checkpoint.py), which ``Explainer.from_checkpoint(folder,
classifier=...)`` loads again. Training keeps its per-epoch resume file in a temporary folder: an
interrupted call starts over.
"""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path
from typing import Sequence

from PIL import Image

from texplain.checkpoint import save_translator
from texplain.classifier import FrozenClassifier
from texplain.decoders import load_decoder
from texplain.decoders.base import FrozenDecoder
from texplain.device import resolve_device
from texplain.errors import InputFileError, TExplainError
from texplain.explainer import Classifier, Explainer, ImageInput, image_features
from texplain.training import TrainConfig, train_translator
from texplain.translators import TranslatorShape, build_translator

DEFAULT_DECODER = "packaged:smollm2-135m"
# The quickstart's recipe (harness/configs/quickstart.yaml); the output scale is SmolLM2's (translators/base.py OutputScale).
DEFAULT_TRAIN = TrainConfig(epochs=3, batch_size=8, lr=5e-3, warmup_steps=20)
DEFAULT_TRANSLATOR_OPTIONS = {"hidden_dim": 1024, "num_layers": 3}
DEFAULT_OUTPUT_RMS = {DEFAULT_DECODER: 16.0}
DEFAULT_PREFIX_TOKENS = 8  # a prefix decoder's k; a cross-attention decoder takes every token as its memory

CaptionedImages = Sequence[tuple[ImageInput, str]]


def _check_pairs(pairs: CaptionedImages, what: str) -> tuple[list[ImageInput], list[str]]:
    """(images, captions) of (image, caption) pairs, every bad pair named in one error."""
    if isinstance(pairs, (str, Path, Image.Image)) or not isinstance(pairs, Sequence):
        raise TExplainError(f"{what} must be a list of (image, caption) pairs, images as paths or PIL images")
    images, captions, problems = [], [], []
    for index, pair in enumerate(pairs):
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            problems.append(f"#{index}: {pair!r} is not an (image, caption) pair")
            continue
        image, caption = pair
        if not isinstance(image, (str, Path, Image.Image)):
            problems.append(f"#{index}: image {image!r} is not a path or a PIL image")
        elif not isinstance(image, Image.Image) and not Path(image).is_file():
            problems.append(f"#{index}: {image}: no such file")
        if not isinstance(caption, str) or not caption.strip():
            problems.append(f"#{index}: caption {caption!r} is not a non-empty string")
        images.append(image)
        captions.append(caption)
    if problems:
        raise InputFileError(f"{what}: {len(problems)} bad pair(s): " + "; ".join(problems[:10]) + (" ..." if len(problems) > 10 else ""))
    return images, captions


def _features(classifier: Classifier, images: list[ImageInput], progress: bool):
    """Tokens (N, T, D) per pair; an image listed with several captions is run through the classifier once."""
    keys = [id(image) if isinstance(image, Image.Image) else str(Path(image).resolve()) for image in images]
    first = {}
    for index, key in enumerate(keys):
        first.setdefault(key, index)
    unique = list(first)
    tokens, _ = image_features(classifier, [images[first[key]] for key in unique], progress=progress)
    row = {key: position for position, key in enumerate(unique)}
    return tokens[[row[key] for key in keys]]


def _decoder(decoder: FrozenDecoder | str, decoder_kind: str | None, device: str) -> FrozenDecoder:
    if isinstance(decoder, FrozenDecoder):
        return decoder
    if not isinstance(decoder, str):
        raise TExplainError(f"decoder must be a spec such as {DEFAULT_DECODER!r} or a loaded decoder (texplain.decoders.load_decoder), got {type(decoder).__name__}")
    return load_decoder(decoder_kind or "prefix", decoder, resolve_device(device))


def _train_config(train: TrainConfig | None, **overrides) -> TrainConfig:
    config = train or DEFAULT_TRAIN
    chosen = {key: value for key, value in overrides.items() if value is not None}
    try:
        return dataclasses.replace(config, **chosen)
    except ValueError as error:
        raise TExplainError(f"train_explainer: {error}") from error


def train_explainer(
    classifier: Classifier | str,
    captioned: CaptionedImages,
    *,
    decoder: FrozenDecoder | str = DEFAULT_DECODER,
    decoder_kind: str | None = None,
    validation: CaptionedImages | None = None,
    translator: str = "mlp_bn",
    output_tokens: int | None = None,
    translator_options: dict | None = None,
    epochs: int | None = None,
    batch_size: int | None = None,
    lr: float | None = None,
    train: TrainConfig | None = None,
    save_to: str | Path | None = None,
    device: str = "auto",
    progress: bool = False,
) -> Explainer:
    """Train a translator from `classifier`'s features into a frozen decoder on `captioned` images and return
    the Explainer of the three (its ``training_history`` holds the per-epoch losses).

    captioned: (image, caption) pairs, images as paths or PIL images (an image may come with several captions).
    decoder: a spec (kind ``decoder_kind``, default prefix) or a loaded FrozenDecoder. validation: pairs whose
    loss is reported per epoch. output_tokens: the translator's k (default 8 for a prefix decoder, all tokens
    for a cross-attention one). epochs, batch_size, lr: over ``train`` (default: the quickstart's recipe).
    save_to: also write the translator folder there. device: where a decoder given by spec runs."""
    images, captions = _check_pairs(captioned, "captioned")
    if len(captions) < 2:
        raise TExplainError("train_explainer needs at least 2 captioned images (BatchNorm trains on batches)")
    val_images, val_captions = _check_pairs(validation, "validation") if validation else ([], [])
    if isinstance(classifier, str):
        classifier = FrozenClassifier.from_spec(classifier, resolve_device(device))
    frozen_decoder = _decoder(decoder, decoder_kind, device)
    config = _train_config(train, epochs=epochs, batch_size=batch_size, lr=lr)
    tokens = _features(classifier, images, progress)  # (N, T, D)
    val_tokens = _features(classifier, val_images, progress) if val_images else tokens[:0]
    input_tokens, input_dim = int(tokens.shape[1]), int(tokens.shape[2])
    if output_tokens is None:
        output_tokens = DEFAULT_PREFIX_TOKENS if frozen_decoder.kind == "prefix" else 0
    options = dict(DEFAULT_TRANSLATOR_OPTIONS)
    if translator == "mlp_bn" and frozen_decoder.spec in DEFAULT_OUTPUT_RMS:
        options["output_rms"] = DEFAULT_OUTPUT_RMS[frozen_decoder.spec]
    options = {**options, **(translator_options or {})} if translator == "mlp_bn" else dict(translator_options or {})
    shape = TranslatorShape(input_tokens, input_dim, output_tokens or input_tokens, frozen_decoder.conditioning_dim)
    model = build_translator(translator, shape, **options)
    with tempfile.TemporaryDirectory(prefix="texplain-fit-") as checkpoints:
        history = train_translator(model, frozen_decoder, tokens, captions, val_tokens, val_captions, config, Path(checkpoints), progress=progress)
    if save_to is not None:
        identity = {**classifier.identity(), "feature_shape": [input_tokens, input_dim]}
        extra = {"history": history, "train": dataclasses.asdict(config), "captioned_pairs": len(captions), "trained_by": "texplain.fit.train_explainer"}
        save_translator(Path(save_to), model, identity, frozen_decoder.identity(), extra)
    explainer = Explainer(classifier, model, frozen_decoder)
    explainer.training_history = history
    return explainer
