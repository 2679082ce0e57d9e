"""The main job (``texplain run``): a short sequence of cached, resumable steps (harness/pipeline/stages.py).

1. data: the synthetic world of the config (harness/worlds/default_world.py) or a captioned dataset, in the cache;
2. features: classifier tokens for every image, in the per-image feature cache (texplain/feature_cache.py);
3. translator: trained into the frozen decoder, resuming from its per-epoch checkpoint (harness/pipeline/translator_step.py);
4. explain: N sentences per held-out image, appended to samples.jsonl (harness/pipeline/explain_step.py);
5. words: records.jsonl (one line per image), metrics and word clouds (harness/pipeline/words_step.py);
6. one stage per enabled suite (suites/), each in its own folder, with the run's context (harness/pipeline/context.py);
7. metrics.json and the report (report.html, report.md) in the run directory.

The first ``explain.num_images`` images of the world are held out (never trained on), the next
``explain.num_val`` validate the translator, the rest train it. Rerunning skips finished stages;
changing a setting reruns exactly the stages whose keys it enters. Several processes (Accelerate) share
the work inside each step; only the main process writes the run directory.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from pathlib import Path

import torch

from contracts.explainers import EXPLAINERS, TrainingData
from contracts.files import read_jsonl_prefix, write_json, write_jsonl
from contracts.formats import METRICS_FORMAT
from contracts.intervals import intervals_of
from contracts.metrics import METRICS
from contracts.plugins import load_plugins
from contracts.run_extensions import POST_RUN_STEPS
from contracts.suite import enabled_suites
from contracts.verdicts import VERDICTS_FORMAT
from harness.config import ConfigError, RunConfig, to_dict
from harness.pipeline.context import RunContext
from harness.pipeline.explain_step import EXPLAIN_STAGE_VERSION, cache_root
from harness.pipeline.preflight import preflight
from harness.pipeline.provenance import provenance
from harness.pipeline.resources import describe as describe_resources
from harness.pipeline.resources import resource_record
from harness.pipeline.run_dir import RunDir
from harness.pipeline.stages import StageDir, StageLog, StageStore, publish, timed_stage
from harness.pipeline.training_data import load_training_data
from harness.pipeline.translator_step import (
    CaptionedFeatures,
    adopt_translator,
    train_or_reuse,
    translator_stage,
)
from harness.pipeline.words_step import (
    WORDS_STAGE_VERSION,
    draw_clouds,
    explainer_table,
    score_explanations,
    word_filter,
)
from texplain.classifier import FrozenClassifier
from texplain.decoders import load_decoder
from texplain.device import resolve_device
from texplain.feature_cache import FeatureCache
from texplain.parallel import Workers, single_process
from texplain.precision import PrecisionChoice, choose_precision, cpu_bf16_probe
from texplain.random_weights import RANDOM_WEIGHTS_NOTE

log = logging.getLogger(__name__)


def run(config: RunConfig, out_root: Path = Path("runs"), progress: bool = True, adopt: Path | None = None) -> Path:
    """The main job (README: `texplain run`); returns the run directory.

    adopt: a finished run directory whose translator and explanations stand in for the steps that this
    stage store has not finished (``texplain validate``: check someone else's translator without retraining
    it; the translator is refused if it was trained on other features)."""
    from harness.reporting.report import write_report

    started = time.perf_counter()
    preflight(config)  # fail early, before anything heavy, naming every missing model, dataset or device
    resolved = to_dict(config)
    store = StageStore(Path(out_root) / ".stages")
    device = resolve_device(config.models.device)
    # Launched by accelerate/torchrun: one process per device, each with its share of the images.
    workers = Workers(cpu=device.type == "cpu")
    if workers.size > 1 and device.type == "cuda":
        device = workers._state.device
    main = workers.is_main  # only the main process writes the run directory and finished stages
    # The main process probes the CPU first (cached per machine) so every process resolves alike.
    with workers.main_first():
        precisions = resolve_run_precisions(config, device)
    # 'auto' resolves per machine: a bf16 run and an fp32 run of one config get two run directories.
    run_dir = RunDir(out_root, resolved, {"precision": {name: choice.resolved for name, choice in precisions.items()}})
    if main:
        write_json(run_dir / "config.json", resolved)
        attach_run_log(run_dir / "run.log")
    stages = StageLog()
    torch.manual_seed(config.seed)
    if config.models.random_weights:
        log.warning("models.random_weights: %s", RANDOM_WEIGHTS_NOTE)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)  # the run's own CUDA peak (harness/pipeline/resources.py)
    for stage_name, choice in precisions.items():
        log.info("precision of %s: %s (%s)", stage_name, choice.resolved, choice.reason)

    with timed_stage(stages, None, "data"), workers.main_first():
        data = load_training_data(config, cache_root(), progress)
    images = data.images
    explain_count, val_count = config.explain.num_images, config.explain.num_val
    if len(images) < explain_count + val_count + 2:
        raise ConfigError(f"the data has {len(images)} images; need more than explain.num_images + explain.num_val + 2 = {explain_count + val_count + 2}")

    with timed_stage(stages, None, "features"):
        classifier, cache, features = features_step(config, [image.path for image in images], device, workers, progress)
    tokens = features.tokens  # (N, T, D)
    load_decoder_once = _lazy(lambda: load_decoder(config.models.decoder_kind, config.models.decoder, device, random_weights=config.models.random_weights))

    # Classifier tokens and the world's captions: the feature source of the run's own translator.
    source = CaptionedFeatures(tokens, [image.captions for image in images], classifier.identity(), data.identity)
    train_config = dataclasses.replace(config.train, precision=precisions["train"].resolved)
    translator_stage = translator_stage_for(store, source, resolved["translator"], train_config, config)
    train_items, val_items = list(range(explain_count + val_count, len(images))), list(range(explain_count, explain_count + val_count))
    if adopt is not None and not translator_stage.done and workers.is_main:
        log.info("translator: adopted from %s (not retrained)", adopt)
        adopt_translator(translator_stage, source, adopt, resolved)
    workers.barrier()
    with timed_stage(stages, translator_stage):
        trained = train_or_reuse(
            translator_stage, source, train_items, val_items,
            resolved["translator"], train_config, load_decoder_once, {"config": resolved}, progress, workers,
        )
    translator, history = trained.translator, trained.history
    translator.to(device)
    if main:
        publish(translator_stage / "translator", run_dir / "translator")

    context = RunContext(config, device, classifier, cache, translator, translator_stage.key, load_decoder_once, progress,
                         explain_precision=precisions["explain"].resolved, workers=workers, store=store,
                         train_precision=precisions["train"].resolved, limit=config.limit)
    # --limit (a smoke run): explain and score only the first N held-out images; training is unchanged.
    scored_count = min(explain_count, config.limit) if config.limit else explain_count
    names = [classifier.class_name(i) for i in range(features.logits.shape[1])]
    context.training = TrainingData(
        source, tuple(image.path for image in images), tuple(train_items), tuple(val_items), tuple(range(scored_count)),
        tuple(names[int(i)] for i in features.logits.argmax(dim=1)), tuple(image.image_id for image in images),
        tuple(image.truth for image in images),
    )
    training = context.training
    explained = images[:scored_count]
    explain_stage = store.stage(
        "explain",
        EXPLAIN_STAGE_VERSION,
        explain_inputs(translator_stage.key, config, precisions["explain"].resolved),
    )
    adopted_samples = Path(adopt) / "samples.jsonl" if adopt is not None else None
    if adopted_samples is not None and adopted_samples.is_file() and not explain_stage.done and workers.is_main and not (explain_stage / "samples.jsonl").exists():
        # The adopted run's own explanations, made by the adopted translator: the images already in it are not sampled again.
        log.info("explanations: adopted from %s", adopted_samples)
        publish(adopted_samples, explain_stage / "samples.jsonl")
    workers.barrier()
    with timed_stage(stages, explain_stage):
        sentences = context.explain([image.image_id for image in explained], tokens[:scored_count], explain_stage / "samples.jsonl")
        if main:
            explain_stage.mark_done()
    context.held_out_sentences = sentences
    if not main:
        # The words stage and the run directory are the main process's; the others help with the suites.
        run_suites(context, store, stages, run_dir, translator_stage, resolved, precisions["explain"].resolved)
        workers.barrier()
        return run_dir.path
    publish(explain_stage / "samples.jsonl", run_dir / "samples.jsonl")

    # The words stage runs on the main process alone: its controls sample on one process.
    alone = dataclasses.replace(context, workers=single_process())
    metrics, clouds, explainers, verdicts = words_step(store, stages, run_dir, explain_stage, classifier, explained, data, sentences,
                                                       features.logits[:scored_count], resolved, config, alone, training)
    suite_summaries = run_suites(context, store, stages, run_dir, translator_stage, resolved, precisions["explain"].resolved)
    verdicts = with_suite_verdicts(verdicts, run_dir, suite_summaries)
    resources = resource_record(device, history)
    log.info("resources: %s", describe_resources(resources))

    write_json(
        run_dir / "metrics.json",
        {
            "format": METRICS_FORMAT,
            "metrics": metrics,
            # 95% bootstrap intervals over images, beside every metric that has per-image values (contracts/intervals.py).
            "intervals": intervals_of(metrics, read_jsonl_prefix(run_dir / "records.jsonl")),
            "definitions": METRICS.definitions(metrics),
            "higher_is_better": METRICS.higher_is_better(metrics),
            # TExplain beside its controls on the same held-out images (contracts/explainers.py).
            "explainers": explainers,
            # Each headline metric against the controls it must beat: pass, fail or inconclusive (contracts/verdicts.py).
            "verdicts": verdicts,
            "suites": suite_summaries,
            "suite_intervals": {name: json.loads((run_dir / "suites" / name / "metrics.json").read_text()).get("intervals", {}) for name in suite_summaries},
            "training": history,
            "stage_seconds": stages.seconds(),
            "total_seconds": round(time.perf_counter() - started, 2),
            "seed": config.seed,
            # A smoke run (--limit N) is marked so that nobody compares it with a full run by mistake.
            "limit": config.limit,
            "smoke_run": config.limit is not None,
            "config_hash": run_dir.config_hash,
            "world_dir": str(data.folder),
            "feature_cache": {"hits": cache.hits, "misses": cache.misses},
            "wordclouds": clouds,
            # Which tokens counted as words: function-word list, numbers, lexicon and its version (texplain/words.py).
            "word_filter": word_filter(config).describe(),
            "provenance": provenance(device),
            "precision": precision_record(precisions, device),
            "data": data.description,
            "models": models_record(config),
            # Peak memory (RSS, CUDA) and seconds per translator training step (harness/pipeline/resources.py).
            "resources": resources,
        },
    )
    for name in POST_RUN_STEPS.names():  # e.g. the human rating studies' export (contracts/run_extensions.py)
        POST_RUN_STEPS.get(name)(run_dir.path)
    write_json(run_dir / "stages.json", stages.entries)  # before the report, which shows it
    with timed_stage(stages, None, "report"):
        write_report(run_dir.path)
    write_json(run_dir / "stages.json", stages.entries)
    run_dir.mark_done()
    workers.barrier()
    detach_run_log()
    return run_dir.path


RUN_LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def attach_run_log(path: Path) -> None:
    """Copy every log line of this run into `path` (appended: a resumed run adds to its log), at the
    level the terminal shows (texplain --log-level); a handler left by an earlier run in this process goes."""
    detach_run_log()
    root = logging.getLogger()
    if not root.handlers:
        # Called from Python with logging unconfigured: the log still gets INFO (the terminal, through
        # logging's last-resort handler, keeps showing warnings only).
        root.setLevel(logging.INFO)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter(RUN_LOG_FORMAT, datefmt="%Y-%m-%d %H:%M:%S"))
    handler.setLevel(root.level)
    handler._texplain_run_log = True  # type: ignore[attr-defined]
    root.addHandler(handler)


def detach_run_log() -> None:
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, "_texplain_run_log", False)]:
        root.removeHandler(handler)
        handler.close()


def features_step(config: RunConfig, image_paths: list[Path], device: torch.device, workers: Workers, progress: bool):
    """The frozen classifier and its tokens for every image, through the per-image feature cache; with
    several processes each extracts its share into the shared cache first, then all read it whole."""
    classifier = FrozenClassifier.from_spec(config.models.classifier, device, random_weights=config.models.random_weights,
                                            preprocessing=config.models.preprocessing or None)
    cache = FeatureCache(cache_root() / "features", classifier)
    if workers.size > 1:
        cache.extract(workers.shard(image_paths), progress=progress)
        workers.barrier()
    return classifier, cache, cache.extract(image_paths, progress=progress)


def words_step(store: StageStore, stages: StageLog, run_dir: RunDir, explain_stage: StageDir, classifier: FrozenClassifier,
               explained: list, data, sentences: dict, logits: torch.Tensor, resolved: dict, config: RunConfig,
               context: RunContext | None = None, training: TrainingData | None = None) -> tuple[dict, list[str], dict, dict]:
    """Records, metrics and word clouds of the explained images (harness/pipeline/words_step.py), as a
    cached stage published into the run directory; returns (metrics, cloud paths, explainer table,
    verdicts). Main process only. context, training: for the trained controls (contracts/explainers.py)."""
    load_plugins()
    words_stage = store.stage(
        "words",
        WORDS_STAGE_VERSION,
        {"explain": explain_stage.key, "classifier": classifier.identity(), "explain_config": resolved["explain"], "seed": config.seed,
         # A new explainer file or another choice of trained controls scores the table again.
         "controls": resolved["controls"], "explainers": EXPLAINERS.names()},
    )
    with timed_stage(stages, words_stage):
        if words_stage.done:
            outputs = words_stage.outputs()
            metrics, clouds, explainers, verdicts = outputs["metrics"], outputs["wordclouds"], outputs["explainers"], outputs["verdicts"]
        else:
            names = [classifier.class_name(i) for i in range(logits.shape[1])]
            records, per_image, metrics = score_explanations(explained, data.folder, sentences, names, logits, config)
            write_jsonl(words_stage / "records.jsonl", records)
            clouds = draw_clouds(words_stage.path, explained, per_image, names, logits, config)
            explainers, verdicts = explainer_table(explained, per_image, names, logits, config, context, training)
            words_stage.mark_done({"metrics": metrics, "wordclouds": clouds, "explainers": explainers, "verdicts": verdicts})
    publish(words_stage / "records.jsonl", run_dir / "records.jsonl")
    publish(words_stage / "wordclouds", run_dir / "wordclouds")
    return metrics, clouds, explainers, verdicts


def with_suite_verdicts(verdicts: dict, run_dir: RunDir, suite_names) -> dict:
    """The main run's verdict rows followed by each suite's (its metrics.json "verdicts", contracts/suite.py),
    so that the report's verdict table and ``texplain compare`` see every headline in one place."""
    rows = list((verdicts or {}).get("rows", []))
    for name in suite_names:
        rows += json.loads((run_dir / "suites" / name / "metrics.json").read_text()).get("verdicts", [])
    return {"format": (verdicts or {}).get("format", VERDICTS_FORMAT), "rows": rows}


def run_suites(context: RunContext, store: StageStore, stages: StageLog, run_dir: RunDir, translator_stage: StageDir,
               resolved: dict, explain_precision: str) -> dict[str, dict]:
    """Every enabled suite as a cached stage; returns {suite: metrics}. On the main process each suite runs,
    aggregates and is published into the run directory; the other processes only take their share of its
    sampling (RunContext.explain shards by image) and return {}."""
    config = context.config
    summaries = {}
    for suite in enabled_suites(config):
        suite_stage = store.stage(f"suite-{suite.name}", suite.version, _suite_inputs(suite, translator_stage, resolved, config, explain_precision))
        if not context.workers.is_main:
            if not suite_stage.done:
                list(suite.run(context, suite_stage.path))
            continue
        with timed_stage(stages, suite_stage, f"suite:{suite.name}"):
            if not suite_stage.done:
                suite.execute(context, suite_stage.path)
                suite_stage.mark_done()
        publish(suite_stage.path, run_dir / "suites" / suite.name)
        summaries[suite.name] = json.loads((run_dir / "suites" / suite.name / "metrics.json").read_text())["metrics"]
    return summaries


def translator_stage_for(store: StageStore, source: CaptionedFeatures, translator_config: dict, train, config: RunConfig) -> StageDir:
    """The run's own translator stage: keyed by the source, the data and the held-out/validation split."""
    split = {"held_out": config.explain.num_images, "val": config.explain.num_val}
    return translator_stage(store, "translator", source, translator_config, train, config.models.decoder_key(), {"split": split, "seed": config.seed})


def explain_inputs(translator_key: str, config: RunConfig, explain_precision: str) -> dict:
    """What the explain stage's sentences depend on: the resolved precision among them, never 'auto'."""
    num_images = min(config.explain.num_images, config.limit) if config.limit else config.explain.num_images
    return {"translator": translator_key, "sampling": sampling_key(config), "num_images": num_images,
            "precision": explain_precision, "seed": config.seed}


def _suite_inputs(suite, translator_stage: StageDir, resolved: dict, config: RunConfig, explain_precision: str) -> dict:
    # The suite samples its own explanations: the sampler's version is part of its key, as of explain's,
    # and so is the resolved sampling precision.
    inputs = {"translator": translator_stage.key, "suite_config": suite.config_json(), "sampling": sampling_key(config),
              "sampler_version": EXPLAIN_STAGE_VERSION, "precision": explain_precision, "seed": config.seed}
    if config.limit:
        inputs["limit"] = config.limit  # a smoke run's suite never stands in for a full one (absent otherwise: keys unchanged)
    return inputs


def models_record(config: RunConfig) -> dict:
    """metrics.json's "models": the specs, and on random weights a flag and the warning the report shows."""
    record = {"classifier": config.models.classifier, "decoder": f"{config.models.decoder_kind}:{config.models.decoder}"}
    if config.models.random_weights:
        record.update(random_weights=True, note=RANDOM_WEIGHTS_NOTE)
    return record


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
    if not settings["stop_gain"] or settings["stopping"] == "fixed":
        settings.pop("stop_gain")  # off or unused: keys of runs made before the option existed stay valid
    return settings


def _lazy(factory):
    """factory() on first call, the same object afterwards (the LM is loaded only if a step needs it)."""
    cached = []

    def get():
        if not cached:
            cached.append(factory())
        return cached[0]

    return get
