"""``texplain explain --translator DIR IMAGE...``: explain a user's own images with a trained translator.

The translator folder (model.safetensors + config.json, texplain/checkpoint.py; an old pickle
translator.pt only with --trust-pickle) names the classifier and decoder it was trained with; both are
loaded from those specs and checked against the checkpoint's recorded identities, so a translator is
never applied to features it was not trained on. Writes ``explanations.jsonl`` (one line per image: the
classifier's top-1, the top words, all sentences) and one word cloud per image, the predicted class's
words in red.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from tqdm.auto import tqdm

from harness.datasets.images import check_image_files
from harness.pipeline.run import cache_root
from harness.pipeline.run_dir import write_jsonl
from texplain.checkpoint import load_translator, read_checkpoint
from texplain.classifier import FrozenClassifier
from texplain.decoders import load_decoder
from texplain.device import autocast, resolve_device
from texplain.feature_cache import FeatureCache
from texplain.precision import choose_precision
from texplain.sampling import SamplingConfig, image_seed, sample_sentences
from texplain.wordcloud_render import empty_cloud_reason, render_wordcloud
from texplain.words import content_words, word_stats

log = logging.getLogger(__name__)


def explain(checkpoint: Path, images: list[Path], out_dir: Path, sampling: SamplingConfig, seed: int = 0, device: str = "auto", top_k: int = 10, progress: bool = True, trust_pickle: bool = False, precision: str = "auto") -> list[dict]:
    """trust_pickle: also load an old pickle translator.pt (unpickling can run code; texplain/checkpoint.py).
    precision: the sampling precision, auto = from the hardware (texplain/precision.py)."""
    check_image_files(images)  # every bad path in one message, before minutes of model loading
    payload = read_checkpoint(checkpoint, trust_pickle=trust_pickle)
    resolved_device = resolve_device(device)
    chosen = choose_precision(precision, resolved_device, "--precision")
    log.info("sampling precision: %s (%s)", chosen.resolved, chosen.reason)
    classifier = FrozenClassifier.from_spec(payload["classifier"]["spec"], resolved_device)
    decoder = load_decoder(payload["decoder"]["kind"], payload["decoder"]["spec"], resolved_device)
    classifier_identity = {**classifier.identity(), "feature_shape": list(classifier.feature_shape)}
    translator, _ = load_translator(checkpoint, classifier_identity, decoder.identity(), payload=payload)
    translator.to(resolved_device)
    features = FeatureCache(cache_root() / "features", classifier).extract(images, progress=progress)
    rows = []
    for index, image in enumerate(tqdm(images, desc="explain", unit="img", disable=not progress)):
        with torch.no_grad():
            conditioning = translator(features.tokens[index : index + 1].to(resolved_device))[0]  # (k, d)
        seed_for_image = image_seed(seed, image.name)
        with autocast(resolved_device, chosen.resolved):
            sentences = sample_sentences(decoder, conditioning, seed_for_image, sampling)
        stats = word_stats(sentences)
        predicted = int(features.logits[index].argmax())
        class_name = classifier.class_name(predicted)
        class_words = set(content_words(class_name))
        # No content word in any sentence is a result: a placeholder cloud, said in the row and the log.
        empty = empty_cloud_reason(stats)
        if empty:
            log.warning("%s: %s; its word cloud is a placeholder (try more sentences or a larger --min-words)", image, empty)
        cloud = render_wordcloud(dict(stats.top_k(50)), class_words, out_dir / "wordclouds" / f"{index:03d}_{image.stem}.png", seed=seed, empty_text=empty)
        rows.append(
            {
                "image": str(image),
                "classifier_top1": {"index": predicted, "name": class_name},
                "top_words": stats.top_k(top_k),
                "wordcloud": str(cloud),
                "wordcloud_empty": empty,  # None, or why the cloud is a placeholder
                "seed": seed_for_image,
                "precision": chosen.resolved,
                "sentences": sentences,
            }
        )
    write_jsonl(out_dir / "explanations.jsonl", rows)
    return rows
