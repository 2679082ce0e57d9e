"""``texplain explain --translator DIR IMAGE...``: explain a user's own images with a trained translator.

The translator folder (model.safetensors + config.json, texplain/checkpoint.py; an old pickle
translator.pt only with --trust-pickle) names the classifier and decoder it was trained with; both are
loaded from those specs and checked against the checkpoint's recorded identities, so a translator is
never applied to features it was not trained on (``texplain.Explainer.from_checkpoint``, the Python API
this command is a thin shell around). Writes ``explanations.jsonl`` (one line per image: the
classifier's top-1, the top words, all sentences) and one word cloud per image, the predicted class's
words in red.
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from pathlib import Path

from contracts.files import write_jsonl
from harness.datasets.images import check_image_files
from harness.pipeline.explain_step import cache_root
from texplain.device import resolve_device
from texplain.explainer import Explainer
from texplain.precision import choose_precision
from texplain.sampling import SamplingConfig
from texplain.wordcloud_render import render_wordcloud

log = logging.getLogger(__name__)


def explain(checkpoint: Path, images: list[Path], out_dir: Path, sampling: SamplingConfig, seed: int = 0, device: str = "auto", top_k: int = 10, progress: bool = True, trust_pickle: bool = False, precision: str = "auto") -> list[dict]:
    """trust_pickle: also load an old pickle translator.pt (unpickling can run code; texplain/checkpoint.py).
    precision: the sampling precision, auto = from the hardware (texplain/precision.py)."""
    check_image_files(images)  # every bad path in one message, before minutes of model loading
    resolved_device = resolve_device(device)
    # Resolved before the models load, so a precision this machine cannot run fails at once.
    chosen = choose_precision(precision, resolved_device, "--precision")
    log.info("sampling precision: %s (%s)", chosen.resolved, chosen.reason)
    explainer = Explainer.from_checkpoint(checkpoint, device=resolved_device, trust_pickle=trust_pickle, cache_dir=cache_root())
    explanations = explainer.explain(images, sampling=sampling, seed=seed, top_k=top_k, precision=chosen, progress=progress)
    rows = []
    for index, (image, explanation) in enumerate(zip(images, explanations)):
        # No content word in any sentence is a result: a placeholder cloud, said in the row and the log.
        empty = explanation.empty_cloud_reason
        if empty:
            log.warning("%s: %s; its word cloud is a placeholder (try more sentences or a larger --min-words)", image, empty)
        cloud = render_wordcloud(dict(explanation.word_stats.top_k(50)), explanation.class_words, out_dir / "wordclouds" / f"{index:03d}_{image.stem}.png", seed=seed, empty_text=empty)
        rows.append(
            {
                "image": str(image),
                "classifier_top1": asdict(explanation.classifier_top1),
                "top_words": explanation.top_words,
                "wordcloud": str(cloud),
                "wordcloud_empty": empty,  # None, or why the cloud is a placeholder
                "seed": explanation.seed,
                "precision": explanation.precision,
                "sentences": explanation.sentences,
            }
        )
    write_jsonl(out_dir / "explanations.jsonl", rows)
    return rows
