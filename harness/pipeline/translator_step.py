"""Training a translator as a cached, resumable pipeline step, for any feature source and any captioned set.

The paper trains one translator, from a frozen classifier's penultimate tokens into a frozen LM (Section 3).
The suites need more of them: the Waterbirds suite explains a classifier fine-tuned end to end (its own
features), the generative-latent suite explains Stable Diffusion's VAE latents (paper, Section 4.3). So the
step takes what differs as data, not as code:

- ``CaptionedFeatures``: tokens ``(N, T, D)`` (classifier tokens, a fine-tuned classifier's tokens, or
  latents as an ``H*W x C`` token grid), each item's captions (one or several), the identity of the
  feature *source* (what turns an image into tokens: model spec, weights hash, preprocessing), which
  enters the stage key and the checkpoint, so a translator is never applied to another feature space
  (texplain/checkpoint.py), and the identity of the *data* (which images and captions), for the key;
- the indices of the training and validation items;
- the translator and training settings, and a loader of the frozen decoder (called only when training
  actually runs, so a finished step never loads the LM).

The step is a stage of the store (harness/pipeline/stages.py): keyed by all of that, resumed from its
per-epoch checkpoint after a kill (texplain/training.py), written by the main process only; with several
processes every rank trains its slice of each batch and waits for the checkpoint before loading it.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path
from typing import Callable

from contracts.run_context import CaptionedFeatures, TrainedTranslator
from harness.pipeline.stages import StageDir, StageStore
from texplain.checkpoint import load_translator, save_translator
from texplain.decoders.base import FrozenDecoder
from texplain.errors import TExplainError
from texplain.parallel import Workers, single_process
from texplain.training import TrainConfig, train_translator
from texplain.translators import TranslatorShape, build_translator
from texplain.translators.base import Translator

# Raised whenever a code change can move a trained translator (it enters every translator step's key).
# 2: saved as safetensors + config.json instead of a pickle. 3: the padding-free caption loss (texplain/decoders/llama_caption_loss.py). 4: its attention in fp32 (bf16 attention left the prefix gradient mostly rounding).
TRANSLATOR_STAGE_VERSION = 4


def translator_stage(
    store: StageStore,
    name: str,
    source: CaptionedFeatures,
    translator_config: dict,
    train: TrainConfig,
    decoder_spec: dict,
    extra_key: dict | None = None,
) -> StageDir:
    """The stage folder of a translator step, keyed by everything the trained translator depends on.

    translator_config: {"name", "output_tokens", "options"} (harness/config.py TranslatorConfig as a dict);
    train: with its precision already resolved (texplain/precision.py), since a key must not say 'auto';
    decoder_spec: {"kind", "spec"}; extra_key: anything else it depends on (the run seed, the split)."""
    if train.precision == "auto":
        raise ValueError("a translator step needs the resolved training precision, not 'auto' (texplain/precision.py)")
    return store.stage(
        name,
        TRANSLATOR_STAGE_VERSION,
        {
            "source": source.source,
            "data": source.data,
            "decoder": decoder_spec,
            "translator": translator_config,
            "train": dataclasses.asdict(train),
            **(extra_key or {}),
        },
    )


def train_or_reuse(
    stage: StageDir,
    source: CaptionedFeatures,
    train_items: list[int],
    val_items: list[int],
    translator_config: dict,
    train: TrainConfig,
    load_decoder: Callable[[], FrozenDecoder],
    saved_extra: dict | None = None,
    progress: bool = True,
    workers: Workers | None = None,
    warm_start: Translator | None = None,
) -> TrainedTranslator:
    """The finished translator of `stage`, or train it there (resuming from its last checkpoint).
    saved_extra: written into the saved translator's config.json (e.g. the resolved run config);
    warm_start: a trained translator whose tensors of the same name and shape initialise the new one
    (its identity must be in the stage's key)."""
    workers = workers or single_process()
    input_tokens, input_dim = source.shape
    feature_identity = {**source.source, "feature_shape": [input_tokens, input_dim]}
    if stage.done:
        translator, _ = load_translator(stage / "translator", classifier=feature_identity)
        return TrainedTranslator(translator, stage.outputs()["history"], stage)
    decoder = load_decoder()
    output_tokens = translator_config.get("output_tokens") or input_tokens
    shape = TranslatorShape(input_tokens, input_dim, output_tokens, decoder.conditioning_dim)
    translator = build_translator(translator_config["name"], shape, **translator_config.get("options", {}))
    if warm_start is not None:
        warm_start_from(translator, warm_start)
    train_tokens, train_captions = source.pairs(train_items)
    val_tokens, val_captions = source.pairs(val_items)
    history = train_translator(
        translator, decoder, train_tokens, train_captions, val_tokens, val_captions, train, stage / "checkpoints",
        progress=progress, workers=workers,
    )
    if workers.is_main:
        save_translator(stage / "translator", translator, feature_identity, decoder.identity(), {**(saved_extra or {}), "history": history})
        stage.mark_done({"history": history})
    workers.barrier()
    # Other processes read nothing back: their translator trained in step with the main one's.
    return TrainedTranslator(translator, history, stage)


# Config sections that neither train the translator nor make its explanations: validate may change them.
NOT_ADOPTION_KEYS = ("controls", "suites", "name")


def _differences(a: dict, b: dict, prefix: str = "") -> list[str]:
    keys = sorted(set(a) | set(b))
    found = []
    for key in keys:
        left, right = a.get(key), b.get(key)
        if isinstance(left, dict) and isinstance(right, dict):
            found += _differences(left, right, f"{prefix}{key}.")
        elif left != right:
            found.append(f"{prefix}{key}")
    return found


def adopt_translator(stage: StageDir, source: CaptionedFeatures, run_dir: Path, resolved: dict) -> None:
    """Make the translator of a finished run directory (``texplain validate``: someone else's run) the
    finished step `stage`, so that nothing is retrained. It is checked before it is kept: the config it was
    saved with must be `resolved` (the config being run) but for NOT_ADOPTION_KEYS, and load_translator
    refuses a translator saved for other features (another classifier, another token shape)."""
    saved = Path(run_dir) / "translator"
    if not (saved / "model.safetensors").is_file():
        raise TExplainError(f"{saved} holds no model.safetensors; validate a finished run directory (runs/<name>-<hash>) that has its translator/")
    trained_with = json.loads((saved / "config.json").read_text()).get("extra", {}).get("config")
    if trained_with is None:
        raise TExplainError(f"{saved / 'config.json'} does not record the run config it was trained with; it cannot be adopted (train it again with texplain run)")
    resolved = json.loads(json.dumps(resolved))  # as config.json holds it: tuples are lists
    differ = _differences({k: v for k, v in trained_with.items() if k not in NOT_ADOPTION_KEYS},
                          {k: v for k, v in resolved.items() if k not in NOT_ADOPTION_KEYS})
    if differ:
        raise TExplainError(
            f"{saved} was trained with another config than this run's (differs at {', '.join(differ[:8])}); validate runs the run's own "
            f"config, and --set may change only {', '.join(NOT_ADOPTION_KEYS)}"
        )
    target = stage / "translator"
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(saved, target)
    input_tokens, input_dim = source.shape
    try:
        load_translator(target, classifier={**source.source, "feature_shape": [input_tokens, input_dim]})
    except TExplainError as error:
        shutil.rmtree(target)
        raise TExplainError(f"{saved} was not trained on this run's features ({error}); validate it with the config it was trained with") from error
    metrics_path = Path(run_dir) / "metrics.json"
    history = json.loads(metrics_path.read_text()).get("training", []) if metrics_path.is_file() else []
    stage.mark_done({"history": history, "adopted_from": str(Path(run_dir).resolve())})


def warm_start_from(translator: Translator, source: Translator) -> list[str]:
    """Copy into `translator` every tensor of `source` with the same name and shape (e.g. a token-wise MLP
    trained on another token count: all but the token mixer); returns the names copied."""
    own = translator.state_dict()
    copied = {k: v.detach().to(own[k].device) for k, v in source.state_dict().items() if k in own and own[k].shape == v.shape}
    translator.load_state_dict(copied, strict=False)
    return sorted(copied)


def translator_step(
    store: StageStore,
    name: str,
    source: CaptionedFeatures,
    train_items: list[int],
    val_items: list[int],
    translator_config: dict,
    train: TrainConfig,
    decoder_spec: dict,
    load_decoder: Callable[[], FrozenDecoder],
    extra_key: dict | None = None,
    saved_extra: dict | None = None,
    progress: bool = True,
    workers: Workers | None = None,
    warm_start: Translator | None = None,
) -> TrainedTranslator:
    """translator_stage + train_or_reuse: train (or reuse) the translator of stage `name`."""
    stage = translator_stage(store, name, source, translator_config, train, decoder_spec, extra_key)
    return train_or_reuse(stage, source, train_items, val_items, translator_config, train, load_decoder,
                          saved_extra, progress, workers, warm_start)
