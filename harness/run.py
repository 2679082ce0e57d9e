"""The main job (``texplain run``): world -> features -> translator -> explanations -> metrics and word clouds.

Stages, each skipped when its output is already there and matches:

1. world: the synthetic world of the config (harness/synthetic_world.py), in the cache, keyed by its spec;
2. features: classifier tokens for every image, in the feature cache (texplain/feature_cache.py);
3. translator: trained into the frozen decoder, resuming from checkpoints/last.pt (texplain/training.py);
4. explanations: N sentences per held-out image, appended to samples.jsonl one image at a time;
5. words: records.jsonl (one line per image), metrics.json, word clouds per class and per image.

The first ``explain.num_images`` images of the world are held out (never trained on), the next
``explain.num_val`` validate the translator, the rest train it.
"""

from __future__ import annotations

import json
import logging
import time
from collections import defaultdict
from contextlib import contextmanager
from pathlib import Path

import torch
from tqdm.auto import tqdm

from harness.config import RunConfig, to_dict
from harness.provenance import provenance
from harness.run_dir import RunDir, append_jsonl, read_jsonl_prefix, write_json, write_jsonl
from harness.synthetic_world import WorldSpec, load_scenes, make_world
from texplain.checkpoint import save_translator
from texplain.classifier import FrozenClassifier
from texplain.decoders import load_decoder
from texplain.decoders.packaged_smollm2 import default_cache_dir
from texplain.device import autocast, resolve_device, resolve_precision
from texplain.feature_cache import FeatureCache
from texplain.hashing import hash_json
from texplain.sampling import image_seed, sample_sentences
from texplain.training import train_translator
from texplain.translators import TranslatorShape, build_translator
from texplain.wordcloud_render import render_wordcloud
from texplain.words import WordStats, merge_stats, word_stats

log = logging.getLogger(__name__)

METRIC_DEFINITIONS = {
    "explain.object_top5_rate": "share of held-out images whose true object class word is among the top-k words (by document frequency) of their explanation",
    "explain.background_top5_rate": "share of held-out images whose true background word is among the top-k words of their explanation",
    "explain.object_doc_freq_mean": "mean over held-out images of the share of sampled sentences that contain the true object word",
    "explain.background_doc_freq_mean": "mean over held-out images of the share of sampled sentences that contain the true background word",
    "explain.chance_object_top5_rate": "object top-k rate of a baseline that ignores the image: the k most frequent words over all held-out explanations, the same list for every image",
    "explain.chance_background_top5_rate": "the same image-blind baseline for the background word",
}


def cache_root() -> Path:
    """$TEXPLAIN_CACHE or ~/.cache/texplain: worlds, features and the de-quantized LM share one root."""
    return default_cache_dir()


class StageTimer:
    def __init__(self):
        self.seconds: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str):
        started = time.perf_counter()
        log.info("stage %s ...", name)
        yield
        self.seconds[name] = round(time.perf_counter() - started, 2)
        log.info("stage %s done in %.1f s", name, self.seconds[name])


def build_world(config: RunConfig, progress: bool):
    spec = WorldSpec(
        num_images=config.world.num_images,
        image_size=config.world.image_size,
        seed=config.world.seed,
        class_background_correlation=config.world.class_background_correlation,
    )
    world_dir = cache_root() / "worlds" / hash_json(spec.to_json())[:16]
    if (world_dir / "world.json").exists() and json.loads((world_dir / "world.json").read_text()) == spec.to_json():
        return world_dir, load_scenes(world_dir)
    return world_dir, make_world(spec, world_dir, progress=progress)


def explain_images(decoder, translator, features, scenes, config: RunConfig, samples_path: Path, progress: bool) -> dict[str, list[str]]:
    """Sentences per held-out image; images already in samples.jsonl (same run, same config) are kept."""
    done = {row["image_id"]: row["sentences"] for row in read_jsonl_prefix(samples_path)}
    device = decoder.device
    precision = resolve_precision(config.explain.precision, device)
    translator.eval()
    todo = [i for i, scene in enumerate(scenes) if scene.image_id not in done]
    for index in tqdm(todo, desc=f"explain ({config.sampling.num_sentences} sentences/image)", unit="img", disable=not progress or not todo):
        scene = scenes[index]
        with torch.no_grad():
            conditioning = translator(features[index : index + 1].to(device))[0]  # (k, d)
        seed = image_seed(config.seed, scene.image_id)
        with autocast(device, precision):
            sentences = sample_sentences(decoder, conditioning.float(), seed, config.sampling)
        append_jsonl(samples_path, {"image_id": scene.image_id, "seed": seed, "sentences": sentences})
        done[scene.image_id] = sentences
    return done


def score_explanations(scenes, sentences: dict[str, list[str]], classifier: FrozenClassifier, logits: torch.Tensor, config: RunConfig):
    k = config.explain.top_k
    records, per_image = [], {}
    for scene, image_logits in zip(scenes, logits):
        stats = word_stats(sentences[scene.image_id])
        per_image[scene.image_id] = stats
        top = [w for w, _ in stats.top_k(k, min_doc_freq=config.explain.min_doc_freq)]
        predicted = int(image_logits.argmax())
        records.append(
            {
                "image_id": scene.image_id,
                "image": f"images/{scene.image_id}.png",
                "truth": {"object": scene.object_class, "background": scene.background, "color": scene.color, "caption": scene.caption},
                "classifier_top1": {"index": predicted, "name": classifier.class_name(predicted)},
                "top_words": stats.top_k(20, min_doc_freq=config.explain.min_doc_freq),
                "object_in_top_k": scene.object_class in top,
                "background_in_top_k": scene.background in top,
                "num_sentences": stats.num_sentences,
                # Per-image values whose mean over images is the run-level metric of the same name
                # (texplain compare bootstraps over these).
                "per_image_metrics": {
                    "explain.object_top5_rate": float(scene.object_class in top),
                    "explain.background_top5_rate": float(scene.background in top),
                    "explain.object_doc_freq_mean": stats.doc_freq(scene.object_class),
                    "explain.background_doc_freq_mean": stats.doc_freq(scene.background),
                },
                "word_stats": stats.to_json(),
            }
        )
    # Image-blind baseline: one word list for every image (the most frequent words overall).
    pooled = merge_stats(per_image.values())
    blind_top = [w for w, _ in pooled.top_k(k)]
    n = max(1, len(records))
    metrics = {
        "explain.object_top5_rate": sum(r["object_in_top_k"] for r in records) / n,
        "explain.background_top5_rate": sum(r["background_in_top_k"] for r in records) / n,
        "explain.object_doc_freq_mean": sum(per_image[s.image_id].doc_freq(s.object_class) for s in scenes) / n,
        "explain.background_doc_freq_mean": sum(per_image[s.image_id].doc_freq(s.background) for s in scenes) / n,
        "explain.chance_object_top5_rate": sum(s.object_class in blind_top for s in scenes) / n,
        "explain.chance_background_top5_rate": sum(s.background in blind_top for s in scenes) / n,
        "explain.num_images": len(records),
        "explain.sentences_per_image": config.sampling.num_sentences,
        "explain.top_k": k,
    }
    return records, per_image, metrics


def draw_clouds(run: RunDir, scenes, per_image: dict[str, WordStats], config: RunConfig) -> list[str]:
    out = run / "wordclouds"
    written = []
    by_class: dict[str, list[WordStats]] = defaultdict(list)
    for scene in scenes:
        by_class[scene.object_class].append(per_image[scene.image_id])
    for name, stats in sorted(by_class.items()):
        merged = merge_stats(stats)
        frequencies = dict(merged.top_k(50, min_doc_freq=config.explain.min_doc_freq))
        written.append(str(render_wordcloud(frequencies, {name}, out / f"class_{name}.png", seed=config.seed).relative_to(run.path)))
    for scene in scenes[: config.explain.single_image_clouds]:
        frequencies = dict(per_image[scene.image_id].top_k(50, min_doc_freq=config.explain.min_doc_freq))
        written.append(str(render_wordcloud(frequencies, {scene.object_class}, out / f"image_{scene.image_id}.png", seed=config.seed).relative_to(run.path)))
    return written


def run(config: RunConfig, out_root: Path = Path("runs"), progress: bool = True) -> Path:
    started = time.perf_counter()
    resolved = to_dict(config)
    run_dir = RunDir(out_root, resolved)
    device = resolve_device(config.models.device)
    write_json(run_dir / "config.json", resolved)
    timer = StageTimer()
    torch.manual_seed(config.seed)

    with timer.stage("world"):
        world_dir, scenes = build_world(config, progress)
    explain_count, val_count = config.explain.num_images, config.explain.num_val
    if len(scenes) < explain_count + val_count + 2:
        raise ValueError(f"world has {len(scenes)} images; need more than explain.num_images + explain.num_val + 2 = {explain_count + val_count + 2}")

    with timer.stage("features"):
        classifier = FrozenClassifier.from_spec(config.models.classifier, device)
        cache = FeatureCache(cache_root() / "features", classifier)
        features = cache.extract([world_dir / "images" / f"{s.image_id}.png" for s in scenes], progress=progress)
    tokens = features.tokens  # (N, T, D)

    with timer.stage("load_decoder"):
        decoder = load_decoder(config.models.decoder_kind, config.models.decoder, device)

    input_tokens, input_dim = classifier.feature_shape
    shape = TranslatorShape(input_tokens, input_dim, config.translator.output_tokens or input_tokens, decoder.conditioning_dim)
    translator = build_translator(config.translator.name, shape, **config.translator.options)
    captions = [s.caption for s in scenes]
    held_out = slice(0, explain_count)
    val = slice(explain_count, explain_count + val_count)
    train = slice(explain_count + val_count, None)
    with timer.stage("train"):
        history = train_translator(
            translator, decoder, tokens[train], captions[train], tokens[val], captions[val],
            config.train, run_dir / "checkpoints", progress=progress,
        )
        classifier_identity = {**classifier.identity(), "feature_shape": [input_tokens, input_dim]}
        save_translator(run_dir / "translator.pt", translator, classifier_identity, decoder.identity(), {"config": resolved, "history": history})

    with timer.stage("explain"):
        explained = scenes[held_out]
        sentences = explain_images(decoder, translator, tokens[held_out], explained, config, run_dir / "samples.jsonl", progress)

    with timer.stage("words"):
        records, per_image, metrics = score_explanations(explained, sentences, classifier, features.logits[held_out], config)
        write_jsonl(run_dir / "records.jsonl", records)
        clouds = draw_clouds(run_dir, explained, per_image, config)

    total = round(time.perf_counter() - started, 2)
    write_json(
        run_dir / "metrics.json",
        {
            "metrics": metrics,
            "definitions": METRIC_DEFINITIONS,
            "higher_is_better": {name: True for name in METRIC_DEFINITIONS if ".chance_" not in name},
            "training": history,
            "stage_seconds": timer.seconds,
            "total_seconds": total,
            "seed": config.seed,
            "config_hash": run_dir.config_hash,
            "world_dir": str(world_dir),
            "feature_cache": {"hits": cache.hits, "misses": cache.misses},
            "wordclouds": clouds,
            "provenance": provenance(device),
            "data": "synthetic world (harness/synthetic_world.py), not real images",
            "models": {"classifier": config.models.classifier, "decoder": f"{config.models.decoder_kind}:{config.models.decoder}"},
        },
    )
    run_dir.mark_done()
    return run_dir.path
