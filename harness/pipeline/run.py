"""The main job (``texplain run``): a sequence of cached stages (harness/pipeline/stages.py).

1. world: the synthetic world of the config (harness/worlds/synthetic.py), in the cache, keyed by its spec;
2. features: classifier tokens for every image, in the per-image feature cache (texplain/feature_cache.py);
3. translator: trained into the frozen decoder, resuming from checkpoints/last.pt (texplain/training.py);
4. explain: N sentences per held-out image, appended to samples.jsonl one image at a time;
5. words: records.jsonl (one line per image), metrics and word clouds per class and per image;
6. one stage per enabled suite (suites/), each in its own folder;
7. report: report.html and report.md in the run directory.

The first ``explain.num_images`` images of the world are held out (never trained on), the next
``explain.num_val`` validate the translator, the rest train it. Rerunning skips finished stages;
changing a setting reruns exactly the stages whose keys it enters (see harness/pipeline/stages.py).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
from tqdm.auto import tqdm

from harness.config import ConfigError, RunConfig, to_dict
from harness.pipeline.preflight import preflight
from harness.pipeline.provenance import provenance
from harness.pipeline.run_dir import RunDir, append_jsonl, read_jsonl_prefix, write_json, write_jsonl
from harness.pipeline.stages import StageDir, StageLog, StageStore, publish, timed_stage
from harness.pipeline.training_data import CaptionedImage, load_training_data
from texplain.checkpoint import load_translator, save_translator
from texplain.classifier import FrozenClassifier
from texplain.decoders import load_decoder
from texplain.decoders.base import FrozenDecoder
from texplain.decoders.packaged_smollm2 import default_cache_dir
from texplain.device import autocast, resolve_device
from texplain.feature_cache import FeatureCache
from texplain.parallel import Workers, single_process
from texplain.precision import PrecisionChoice, choose_precision, cpu_bf16_probe, resolve_precision
from texplain.sampling import SamplingConfig, image_seed, sample_sentences_batch
from texplain.training import train_translator
from texplain.translators import TranslatorShape, build_translator
from texplain.translators.base import Translator
from texplain.wordcloud_render import render_wordcloud
from texplain.words import WordStats, merge_stats, word_stats

log = logging.getLogger(__name__)

# Raised whenever a code change can move a stage's outputs (they enter the stage keys).
TRANSLATOR_STAGE_VERSION = 2  # 2: the output is a translator/ folder (model.safetensors + config.json), not a pickled translator.pt
EXPLAIN_STAGE_VERSION = 4  # 2: static-cache sampler engine (float rounding differs from 1); 3: bf16 logits sampled in float64 (nucleus_kernel); 4: fp32 matmuls on oneDNN-packed weights (last-bit differences; bf16 unchanged)
WORDS_STAGE_VERSION = 2  # 2: sentences_per_image is the mean drawn (adaptive stopping), not the setting

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


def explain_images(
    decoder: FrozenDecoder,
    translator: Translator,
    image_ids: list[str],
    tokens: torch.Tensor,
    sampling: SamplingConfig,
    run_seed: int,
    precision_name: str,
    samples_path: Path,
    progress: bool,
    description: str = "explain",
    workers: Workers | None = None,
) -> dict[str, list[str]]:
    """Sentences per image; images already sampled by an earlier, killed attempt of the same stage (so
    under the same key) are kept and not sampled again.

    With several processes each samples its round-robin share into samples.rank<r>.jsonl beside
    samples_path and the shares are gathered; sentences depend only on the image's seed, so the result
    equals one process's, and part files of any earlier process count are valid to resume from."""
    workers = workers or single_process()
    done = _sampled(samples_path)
    device = decoder.device
    precision = resolve_precision(precision_name, device)
    translator.eval()
    own = set(workers.shard(range(len(image_ids))))
    todo = [i for i, image_id in enumerate(image_ids) if image_id not in done and i in own]
    if workers.size > 1:
        samples_path = samples_path.with_name(f"{samples_path.stem}.rank{workers.rank}.jsonl")
    # Several images per sampler call keep its batch of rows full (a finished sentence's row takes the
    # next sentence, of the same or the next image); results are appended after every call, so a kill
    # loses at most one call's images.
    per_call = max(1, min(16, (4 * sampling.batch_size) // sampling.num_sentences))
    bar = tqdm(total=len(todo), desc=f"{description} ({sampling.num_sentences} sentences/image)", unit="img", disable=not progress or not todo)
    for start in range(0, len(todo), per_call):
        chunk = todo[start : start + per_call]
        with torch.no_grad():
            # One image at a time: a matmul's rounding can depend on its batch size, and an image's
            # sentences must not depend on which images share its call (or its process).
            conditionings = torch.cat([translator(tokens[i : i + 1].to(device)) for i in chunk]).float()  # (B, k, d)
        seeds = [image_seed(run_seed, image_ids[index]) for index in chunk]
        with autocast(device, precision):
            sentences = sample_sentences_batch(decoder, conditionings, seeds, sampling)
        for index, seed, image_sentences in zip(chunk, seeds, sentences):
            append_jsonl(samples_path, {"image_id": image_ids[index], "seed": seed, "sentences": image_sentences})
            done[image_ids[index]] = image_sentences
        bar.update(len(chunk))
    bar.close()
    if workers.size > 1:
        for share in workers.gather({i: done[i] for i in (image_ids[j] for j in own) if i in done}):
            done.update(share)
    return {image_id: done[image_id] for image_id in image_ids}


def _sampled(samples_path: Path) -> dict[str, list[str]]:
    """Sentences already in samples_path and in any per-process part file beside it."""
    done = {}
    for path in [samples_path, *sorted(samples_path.parent.glob(f"{samples_path.stem}.rank*.jsonl"))]:
        done.update({row["image_id"]: row["sentences"] for row in read_jsonl_prefix(path)})
    return done


def score_explanations(images: list[CaptionedImage], folder: Path, sentences: dict[str, list[str]], classifier_names: list[str], logits: torch.Tensor, config: RunConfig):
    """records.jsonl rows and the run's metrics; the truth-based rates only where the truth is known."""
    k = config.explain.top_k
    records, per_image = [], {}
    for image, image_logits in zip(images, logits):
        stats = word_stats(sentences[image.image_id])
        per_image[image.image_id] = stats
        top = [w for w, _ in stats.top_k(k, min_doc_freq=config.explain.min_doc_freq)]
        predicted = int(image_logits.argmax())
        record = {
            "image_id": image.image_id,
            "image": str(image.path.relative_to(folder)) if image.path.is_relative_to(folder) else str(image.path),
            "truth": image.truth,
            "classifier_top1": {"index": predicted, "name": classifier_names[predicted]},
            "top_words": stats.top_k(20, min_doc_freq=config.explain.min_doc_freq),
            "num_sentences": stats.num_sentences,
            "per_image_metrics": {},
            "word_stats": stats.to_json(),
        }
        if image.truth:
            record["object_in_top_k"] = image.truth["object"] in top
            record["background_in_top_k"] = image.truth["background"] in top
            # Per-image values whose mean over images is the run-level metric of the same name
            # (texplain compare bootstraps over these).
            record["per_image_metrics"] = {
                "explain.object_top5_rate": float(image.truth["object"] in top),
                "explain.background_top5_rate": float(image.truth["background"] in top),
                "explain.object_doc_freq_mean": stats.doc_freq(image.truth["object"]),
                "explain.background_doc_freq_mean": stats.doc_freq(image.truth["background"]),
            }
        records.append(record)
    n = max(1, len(records))
    # What was drawn, not the setting: adaptive stopping draws fewer than sampling.num_sentences.
    counts = [r["num_sentences"] for r in records]
    if counts and len(set(counts)) > 1:
        sentences_per_image = sum(counts) / len(counts)
    else:
        sentences_per_image = counts[0] if counts else config.sampling.num_sentences
    metrics = {"explain.num_images": len(records), "explain.sentences_per_image": sentences_per_image, "explain.top_k": k}
    if records and all(image.truth for image in images):
        for name in ("explain.object_top5_rate", "explain.background_top5_rate", "explain.object_doc_freq_mean", "explain.background_doc_freq_mean"):
            metrics[name] = sum(r["per_image_metrics"][name] for r in records) / n
        # Image-blind baseline: one word list for every image (the most frequent words overall).
        blind_top = [w for w, _ in merge_stats(per_image.values()).top_k(k)]
        metrics["explain.chance_object_top5_rate"] = sum(i.truth["object"] in blind_top for i in images) / n
        metrics["explain.chance_background_top5_rate"] = sum(i.truth["background"] in blind_top for i in images) / n
    return records, per_image, metrics


def draw_clouds(out: Path, images: list[CaptionedImage], per_image: dict[str, WordStats], classifier_names: list[str], logits: torch.Tensor, config: RunConfig) -> list[str]:
    """Per-class clouds (class = the true object where known, else the classifier's top-1) and a few per image.

    A cloud with no word to draw is a placeholder PNG, not a crash; which ones and why is written to
    wordclouds/empty_clouds.json (cloud path -> reason, sentences, images), which the report reads.
    """
    from texplain.wordcloud_render import EMPTY_CLOUDS_FILE, empty_cloud_reason

    written, empty = [], {}
    min_doc_freq = config.explain.min_doc_freq

    def draw(stats: WordStats, class_words: set[str], filename: str, images_in_cloud: int) -> None:
        frequencies = dict(stats.top_k(50, min_doc_freq=min_doc_freq))
        reason = empty_cloud_reason(stats, min_doc_freq)
        render_wordcloud(frequencies, class_words, out / "wordclouds" / filename, seed=config.seed, empty_text=reason)
        written.append(f"wordclouds/{filename}")
        if reason is not None:
            empty[f"wordclouds/{filename}"] = {"reason": reason, "num_sentences": stats.num_sentences, "images": images_in_cloud}
            log.warning("word cloud %s is empty: %s", filename, reason)

    by_class: dict[str, list[WordStats]] = defaultdict(list)
    for image, image_logits in zip(images, logits):
        name = image.truth["object"] if image.truth else classifier_names[int(image_logits.argmax())]
        by_class[name].append(per_image[image.image_id])
    for name, stats in sorted(by_class.items()):
        filename = "class_" + "".join(c if c.isalnum() else "_" for c in name) + ".png"
        draw(merge_stats(stats), set(name.lower().split()), filename, len(stats))
    for image in images[: config.explain.single_image_clouds]:
        class_words = {image.truth["object"]} if image.truth else set()
        draw(per_image[image.image_id], class_words, f"image_{image.image_id}.png", 1)
    write_json(out / "wordclouds" / EMPTY_CLOUDS_FILE, empty)
    return written


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

    def explain(self, image_ids: list[str], tokens: torch.Tensor, samples_path: Path, description: str = "explain") -> dict[str, list[str]]:
        done = _sampled(samples_path)
        if all(image_id in done for image_id in image_ids):
            sentences = {image_id: done[image_id] for image_id in image_ids}  # nothing to sample: no LM needed
        else:
            sentences = explain_images(
                self.load_decoder(), self.translator, image_ids, tokens, self.config.sampling, self.config.seed,
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


def _lazy(factory: Callable):
    cached = []

    def get():
        if not cached:
            cached.append(factory())
        return cached[0]

    return get


def run(config: RunConfig, out_root: Path = Path("runs"), progress: bool = True) -> Path:
    from harness.reporting.report import write_report
    from suites import enabled_suites

    started = time.perf_counter()
    preflight(config)  # fail early, before anything heavy, naming every missing model, dataset or device
    resolved = to_dict(config)
    run_dir = RunDir(out_root, resolved)
    store = StageStore(Path(out_root) / ".stages")
    device = resolve_device(config.models.device)
    # Launched by accelerate/torchrun: one process per device, each with its share of the images.
    workers = Workers(cpu=device.type == "cpu")
    if workers.size > 1 and device.type == "cuda":
        device = workers._state.device
    main = workers.is_main  # only the main process writes the run directory and finished stages
    if main:
        write_json(run_dir / "config.json", resolved)
    stages = StageLog()
    torch.manual_seed(config.seed)
    # The main process probes the CPU first (cached per machine) so every process resolves alike.
    with workers.main_first():
        precisions = resolve_run_precisions(config, device)
    for stage_name, choice in precisions.items():
        log.info("precision of %s: %s (%s)", stage_name, choice.resolved, choice.reason)
    # Stage keys and the training fingerprint see the resolved precision, never 'auto'.
    resolved_train = {**resolved["train"], "precision": precisions["train"].resolved}

    with timed_stage(stages, None, "data"), workers.main_first():
        data = load_training_data(config, cache_root(), progress)
    images = data.images
    explain_count, val_count = config.explain.num_images, config.explain.num_val
    if len(images) < explain_count + val_count + 2:
        raise ConfigError(f"the data has {len(images)} images; need more than explain.num_images + explain.num_val + 2 = {explain_count + val_count + 2}")

    with timed_stage(stages, None, "features"):
        classifier = FrozenClassifier.from_spec(config.models.classifier, device)
        cache = FeatureCache(cache_root() / "features", classifier)
        image_paths = [image.path for image in images]
        if workers.size > 1:
            cache.extract(workers.shard(image_paths), progress=progress)
            workers.barrier()
        features = cache.extract(image_paths, progress=progress)
    tokens = features.tokens  # (N, T, D)
    load_decoder_once = _lazy(lambda: load_decoder(config.models.decoder_kind, config.models.decoder, device))

    input_tokens, input_dim = classifier.feature_shape
    translator_stage = store.stage(
        "translator",
        TRANSLATOR_STAGE_VERSION,
        {
            "data": data.identity,
            "classifier": classifier.identity(),
            "decoder": {"kind": config.models.decoder_kind, "spec": config.models.decoder},
            "translator": resolved["translator"],
            "train": resolved_train,
            "split": {"held_out": explain_count, "val": val_count},
            "seed": config.seed,
        },
    )
    with timed_stage(stages, translator_stage):
        if translator_stage.done:
            classifier_identity = {**classifier.identity(), "feature_shape": [input_tokens, input_dim]}
            translator, _ = load_translator(translator_stage / "translator", classifier=classifier_identity)
            history = translator_stage.outputs()["history"]
        else:
            decoder = load_decoder_once()
            shape = TranslatorShape(input_tokens, input_dim, config.translator.output_tokens or input_tokens, decoder.conditioning_dim)
            translator = build_translator(config.translator.name, shape, **config.translator.options)
            # One (image, caption) pair per caption: COCO has five per image, the synthetic world one.
            def pairs(part: list[int]):
                index = [i for i in part for _ in images[i].captions]
                return tokens[index], [c for i in part for c in images[i].captions]

            train_tokens, train_captions = pairs(list(range(explain_count + val_count, len(images))))
            val_tokens, val_captions = pairs(list(range(explain_count, explain_count + val_count)))
            history = train_translator(
                translator, decoder, train_tokens, train_captions, val_tokens, val_captions,
                dataclasses.replace(config.train, precision=precisions["train"].resolved), translator_stage / "checkpoints",
                progress=progress, workers=workers,
            )
            classifier_identity = {**classifier.identity(), "feature_shape": [input_tokens, input_dim]}
            if main:
                save_translator(translator_stage / "translator", translator, classifier_identity, decoder.identity(), {"config": resolved, "history": history})
                translator_stage.mark_done({"history": history})
            workers.barrier()
    translator.to(device)
    if main:
        publish(translator_stage / "translator", run_dir / "translator")

    context = RunContext(config, device, classifier, cache, translator, translator_stage.key, load_decoder_once, progress,
                         explain_precision=precisions["explain"].resolved, workers=workers)
    explained = images[:explain_count]
    explain_stage = store.stage(
        "explain",
        EXPLAIN_STAGE_VERSION,
        explain_inputs(translator_stage.key, config, precisions["explain"].resolved),
    )
    with timed_stage(stages, explain_stage):
        sentences = context.explain([image.image_id for image in explained], tokens[:explain_count], explain_stage / "samples.jsonl")
        if main:
            explain_stage.mark_done()
    if not main:
        # The remaining stages sample nothing outside the suites; the others help only there.
        for suite in enabled_suites(config):
            suite_stage = store.stage(f"suite-{suite.name}", suite.version, _suite_inputs(suite, translator_stage, resolved, config, precisions["explain"].resolved))
            if not suite_stage.done:
                list(suite.run(context, suite_stage.path))
        workers.barrier()
        return run_dir.path
    publish(explain_stage / "samples.jsonl", run_dir / "samples.jsonl")

    words_stage = store.stage(
        "words",
        WORDS_STAGE_VERSION,
        {"explain": explain_stage.key, "classifier": classifier.identity(), "explain_config": resolved["explain"], "seed": config.seed},
    )
    with timed_stage(stages, words_stage):
        if words_stage.done:
            metrics, clouds = words_stage.outputs()["metrics"], words_stage.outputs()["wordclouds"]
        else:
            names = [classifier.class_name(i) for i in range(features.logits.shape[1])]
            records, per_image, metrics = score_explanations(explained, data.folder, sentences, names, features.logits[:explain_count], config)
            write_jsonl(words_stage / "records.jsonl", records)
            clouds = draw_clouds(words_stage.path, explained, per_image, names, features.logits[:explain_count], config)
            words_stage.mark_done({"metrics": metrics, "wordclouds": clouds})
    publish(words_stage / "records.jsonl", run_dir / "records.jsonl")
    publish(words_stage / "wordclouds", run_dir / "wordclouds")

    suite_summaries = {}
    for suite in enabled_suites(config):
        suite_stage = store.stage(f"suite-{suite.name}", suite.version, _suite_inputs(suite, translator_stage, resolved, config, precisions["explain"].resolved))
        with timed_stage(stages, suite_stage, f"suite:{suite.name}"):
            if not suite_stage.done:
                suite.execute(context, suite_stage.path)
                suite_stage.mark_done()
        publish(suite_stage.path, run_dir / "suites" / suite.name)
        suite_summaries[suite.name] = json.loads((run_dir / "suites" / suite.name / "metrics.json").read_text())["metrics"]

    write_json(
        run_dir / "metrics.json",
        {
            "metrics": metrics,
            "definitions": METRIC_DEFINITIONS,
            "higher_is_better": {name: True for name in METRIC_DEFINITIONS if ".chance_" not in name},
            "suites": suite_summaries,
            "training": history,
            "stage_seconds": stages.seconds(),
            "total_seconds": round(time.perf_counter() - started, 2),
            "seed": config.seed,
            "config_hash": run_dir.config_hash,
            "world_dir": str(data.folder),
            "feature_cache": {"hits": cache.hits, "misses": cache.misses},
            "wordclouds": clouds,
            "provenance": provenance(device),
            "precision": precision_record(precisions, device),
            "data": data.description,
            "models": {"classifier": config.models.classifier, "decoder": f"{config.models.decoder_kind}:{config.models.decoder}"},
        },
    )
    write_json(run_dir / "stages.json", stages.entries)  # before the report, which shows it
    with timed_stage(stages, None, "report"):
        write_report(run_dir.path)
    write_json(run_dir / "stages.json", stages.entries)
    run_dir.mark_done()
    workers.barrier()
    return run_dir.path


def explain_inputs(translator_key: str, config: RunConfig, explain_precision: str) -> dict:
    """What the explain stage's sentences depend on: the resolved precision among them, never 'auto'."""
    return {"translator": translator_key, "sampling": sampling_key(config), "num_images": config.explain.num_images,
            "precision": explain_precision, "seed": config.seed}


def _suite_inputs(suite, translator_stage: StageDir, resolved: dict, config: RunConfig, explain_precision: str) -> dict:
    # The suite samples its own explanations: the sampler's version is part of its key, as of explain's,
    # and so is the resolved sampling precision.
    return {"translator": translator_stage.key, "suite_config": suite.config_json(), "sampling": sampling_key(config),
            "sampler_version": EXPLAIN_STAGE_VERSION, "precision": explain_precision, "seed": config.seed}


def resolve_run_precisions(config: RunConfig, device: torch.device) -> dict[str, PrecisionChoice]:
    """The precision of each stage that chooses a dtype, resolved from the hardware (texplain/precision.py)."""
    return {
        "train": choose_precision(config.train.precision, device, "train.precision"),
        "explain": choose_precision(config.explain.precision, device, "explain.precision"),
    }


def precision_record(precisions: dict[str, PrecisionChoice], device: torch.device) -> dict:
    """metrics.json's account of the precision: per stage, and what the CPU probe measured."""
    record = {"stages": {name: choice.to_json() for name, choice in precisions.items()}}
    if device.type == "cpu" and any(choice.requested != "fp32" for choice in precisions.values()):
        record["cpu_probe"] = cpu_bf16_probe().to_json()
    return record


def sampling_key(config: RunConfig) -> dict:
    """The sampling settings that can change sentences: all but batch_size (an image's sentences do
    not depend on the batch, tests/test_sampling.py), so a new batch size reuses finished samples."""
    settings = dataclasses.asdict(config.sampling)
    settings.pop("batch_size")
    return settings
