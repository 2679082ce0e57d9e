"""Training the translator: LM cross-entropy on captions given the translator's output (paper, Section 3).

Only the translator's parameters are optimised; the classifier's features are precomputed (cached,
not recomputed per epoch) and the decoder is frozen, so gradients reach the translator through the
decoder's activations only. AdamW with linear warmup then cosine decay, gradient clipping,
validation loss each epoch, a checkpoint each epoch, and resume from the last checkpoint.

Determinism across a resume: the shuffling order and any dropout randomness of epoch e are seeded
from (seed, e), so a run resumed after epoch e takes the same steps as one that never stopped.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from tqdm.auto import tqdm

from texplain.caption_token_weights import caption_token_weights, check_token_weighting
from texplain.checkpoint import atomic_torch_save
from texplain.cpu_threads import keep_fair_share
from texplain.decoders.base import FrozenDecoder
from texplain.device import autocast
from texplain.parallel import Workers, single_process
from texplain.precision import resolve_precision
from texplain.hashing import hash_json
from texplain.translators import Translator

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 4
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 0.01
    warmup_steps: int = 20
    grad_clip: float = 1.0
    precision: str = "auto"  # fp32 | bf16 | fp16 | auto (texplain/precision.py: from the hardware)
    seed: int = 0
    # uniform (the paper's mean token cross-entropy) | idf (rare caption tokens weigh more; texplain/caption_token_weights.py)
    token_weighting: str = "uniform"

    def __post_init__(self):
        check_token_weighting(self.token_weighting)


def lr_factor(step: int, warmup: int, total: int) -> float:
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


@torch.no_grad()
def validation_loss(translator: Translator, decoder: FrozenDecoder, features: torch.Tensor, captions: list[str], batch_size: int, precision: str) -> float:
    translator.eval()
    total, count = 0.0, 0
    for start in range(0, len(captions), batch_size):
        batch = features[start : start + batch_size].to(decoder.device)
        with autocast(decoder.device, precision):
            loss = decoder.caption_loss(translator(batch), captions[start : start + batch_size])
        total += float(loss) * len(batch)
        count += len(batch)
    return total / max(1, count)


def train_translator(
    translator: Translator,
    decoder: FrozenDecoder,
    train_features: torch.Tensor,
    train_captions: list[str],
    val_features: torch.Tensor,
    val_captions: list[str],
    config: TrainConfig,
    checkpoint_dir: Path,
    progress: bool = True,
    workers: Workers | None = None,
) -> list[dict]:
    """Train in place; returns the per-epoch history. Resumes from checkpoint_dir/last.pt when it matches.

    With `workers` of several processes (texplain/parallel.py) each process takes its slice of every
    global batch and gradients are averaged; only the main process writes checkpoints."""
    workers = workers or single_process()
    if train_features.shape[0] != len(train_captions) or val_features.shape[0] != len(val_captions):
        raise ValueError("features and captions differ in length")
    if len(train_captions) < 2:
        raise ValueError("need at least 2 training captions (BatchNorm needs a batch)")
    device = decoder.device
    precision = resolve_precision(config.precision, device)
    translator.to(device)
    optimizer = torch.optim.AdamW(translator.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    steps_per_epoch = math.ceil(len(train_captions) / config.batch_size)
    total_steps = steps_per_epoch * config.epochs
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_factor(s, config.warmup_steps, total_steps))
    # The fingerprint ties a checkpoint to this exact training problem; anything else starts over.
    fingerprint = hash_json(
        {
            # The resolved precision, not 'auto': a bf16 checkpoint must not resume an fp32 training.
            "config": {**asdict(config), "precision": precision},
            "translator": translator.config(),
            "decoder": decoder.identity(),
            "captions": hash_json(train_captions + ["|"] + val_captions),
            "features": [float(train_features.double().sum()), list(train_features.shape)],
        }
    )
    # The loss's weight per caption token, from the training captions alone (None: the plain mean).
    token_weights = caption_token_weights(config.token_weighting, train_captions, decoder.caption_token_ids)
    last = Path(checkpoint_dir) / "last.pt"
    history: list[dict] = []
    start_epoch = 0
    if last.exists():
        try:
            # weights_only: the file holds tensors and plain types only (state dicts, history), so it
            # is read without unpickling arbitrary objects; anything else is refused and training starts over.
            state = torch.load(last, map_location="cpu", weights_only=True)
        except Exception as error:
            log.warning("cannot read %s (%s); training from scratch", last, error)
            state = None
        if state is not None and not isinstance(state, dict):
            log.warning("%s is not a training checkpoint; training from scratch", last)
            state = None
        if state is not None and state.get("fingerprint") == fingerprint:
            translator.load_state_dict(state["translator"])
            optimizer.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
            history = state["history"]
            start_epoch = state["epoch"] + 1
            log.info("resuming training from %s after epoch %d", last, state["epoch"])
        elif state is not None:
            log.warning("%s belongs to another training setup; training from scratch", last)

    for epoch in range(start_epoch, config.epochs):
        started = time.perf_counter()
        translator.train()
        torch.manual_seed(config.seed * 1000 + epoch)
        order = torch.randperm(len(train_captions), generator=torch.Generator().manual_seed(config.seed * 1000 + epoch))
        # Drop a trailing batch of one: BatchNorm cannot train on it.
        batches = [order[i : i + config.batch_size] for i in range(0, len(order), config.batch_size)]
        batches = [b for b in batches if len(b) > 1]
        bar = tqdm(batches, desc=f"train epoch {epoch + 1}/{config.epochs}", unit="batch", disable=not progress)
        running = 0.0
        step_seconds = 0.0  # optimizer steps only (no validation): the seconds per step a run reports
        for index, batch in enumerate(bar):
            keep_fair_share()  # fewer threads while another process keeps the cores busy (cpu_threads.py)
            step_started = time.perf_counter()
            # Data parallel: this process's slice of the global batch (all of it for one process).
            # A slice of one row cannot train BatchNorm, so small batches stay whole on every process.
            if len(batch) >= 2 * workers.size:
                batch = batch[workers.rank :: workers.size]
            features = train_features[batch].to(device)  # (B, T, D)
            with autocast(device, precision):
                loss = decoder.caption_loss(translator(features), [train_captions[i] for i in batch.tolist()], token_weights)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            workers.average_gradients(translator.parameters())
            torch.nn.utils.clip_grad_norm_(translator.parameters(), config.grad_clip)
            optimizer.step()
            scheduler.step()
            running += workers.mean(float(loss.detach()))  # float() waits for the device: the step is done
            step_seconds += time.perf_counter() - step_started
            bar.set_postfix(loss=f"{running / (index + 1):.3f}")
        val = validation_loss(translator, decoder, val_features, val_captions, config.batch_size, precision) if val_captions else float("nan")
        history.append(
            {
                "epoch": epoch + 1,
                "train_loss": running / max(1, len(batches)),
                "val_loss": val,
                "seconds": time.perf_counter() - started,
                "captions_per_second": sum(len(b) for b in batches) / (time.perf_counter() - started),
                "train_steps": len(batches),
                "seconds_per_step": step_seconds / max(1, len(batches)),
            }
        )
        log.info("epoch %d: train %.4f, val %.4f", epoch + 1, history[-1]["train_loss"], val)
        if not workers.is_main:
            continue
        atomic_torch_save(
            {
                "fingerprint": fingerprint,
                "epoch": epoch,
                "translator": translator.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "history": history,
            },
            last,
        )
    translator.eval()
    return history
