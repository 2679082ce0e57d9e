"""End-to-end training of the classifier the Waterbirds suite explains and mitigates (TExplain Section 4.4:
"we train a classifier on Waterbirds"; MaskTune's ERM stage and its one-epoch fine-tune).

Unlike the rest of the harness, whose classifier is frozen, this one is fine-tuned end to end, so its
penultimate features change with what it learns (the shortcut included), and TExplain then explains
*those* features. ERM keeps two checkpoints, as MaskTune does: the best by validation average accuracy
(plain accuracy on the val split: no group labels are used to choose it) and the last. Each training is
a cached stage (harness/pipeline/stages.py): weights as safetensors, a per-epoch checkpoint (weights,
optimizer state, history) so a killed run resumes after its last finished epoch.

Differences from MaskTune's recipe, said here once: augmentation is a horizontal flip only (MaskTune also
random-resized-crops, which would move the masks' pixels: our masks are exact in the original image),
and the fine-tune starts from the last ERM weights with a fresh optimizer (MaskTune also carries the
optimizer's momentum over).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from suites.waterbirds.data import ImageSet
from texplain.device import autocast
from texplain.hashing import hash_state_dict

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainSettings:
    epochs: int
    batch_size: int
    optimizer: str  # sgd | adamw
    lr: float
    momentum: float
    weight_decay: float
    flip: bool
    seed: int
    precision: str  # resolved (texplain/precision.py), never 'auto'


def build_model(spec: str, num_classes: int = 2, seed: int = 0) -> torch.nn.Module:
    """The pretrained timm model of `spec` (texplain/classifier.py's specs), its head replaced by a fresh
    `num_classes` head drawn from `seed`, every parameter trainable. ``random:<timm name>`` builds the
    architecture with random weights (drawn from `seed`): for tests, labelled as such by the suite."""
    import timm

    from texplain.classifier import FrozenClassifier

    if spec.startswith("random:"):
        torch.manual_seed(seed)
        return timm.create_model(spec.partition(":")[2], pretrained=False, num_classes=num_classes).requires_grad_(True)
    model = FrozenClassifier.from_spec(spec).model  # loads and freezes; we unfreeze below
    torch.manual_seed(seed)
    model.reset_classifier(num_classes)
    return model.requires_grad_(True)


def data_config(model: torch.nn.Module) -> dict:
    import timm

    return timm.data.resolve_data_config({}, model=model)


def _optimizer(model: torch.nn.Module, settings: TrainSettings) -> torch.optim.Optimizer:
    if settings.optimizer == "sgd":
        return torch.optim.SGD(model.parameters(), lr=settings.lr, momentum=settings.momentum, weight_decay=settings.weight_decay)
    return torch.optim.AdamW(model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)


@torch.no_grad()
def predict(model: torch.nn.Module, images: ImageSet, batch_size: int, device: torch.device, precision: str) -> np.ndarray:
    """Argmax class of every image, in order: (n,) ints."""
    model.eval().to(device)
    out = []
    loader = torch.utils.data.DataLoader(images, batch_size=batch_size, shuffle=False)
    for pixels, _, _ in loader:
        with autocast(device, precision):
            logits = model(pixels.to(device))  # (B, classes)
        out.append(logits.float().argmax(dim=1).cpu().numpy())
    return np.concatenate(out)


def _train_epoch(model, optimizer, images: ImageSet, settings: TrainSettings, epoch: int, device: torch.device) -> float:
    model.train()
    images.epoch = epoch
    generator = torch.Generator().manual_seed(settings.seed * 1000 + epoch)
    order = torch.randperm(len(images), generator=generator)
    # A trailing batch of one cannot train BatchNorm; it joins the epoch's previous batch.
    batches = [order[i : i + settings.batch_size] for i in range(0, len(order), settings.batch_size)]
    if len(batches) > 1 and len(batches[-1]) == 1:
        batches[-2] = torch.cat([batches[-2], batches.pop()])
    total, count = 0.0, 0
    for batch in batches:
        if len(batch) < 2:
            continue
        pixels = torch.stack([images[int(i)][0] for i in batch]).to(device)  # (B, 3, S, S)
        labels = torch.tensor([images[int(i)][1] for i in batch], device=device)  # (B,)
        with autocast(device, settings.precision):
            logits = model(pixels)  # (B, classes)
        loss = torch.nn.functional.cross_entropy(logits.float(), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        total += float(loss.detach()) * len(batch)
        count += len(batch)
    return total / max(1, count)


def train_classifier(stage_dir: Path, model: torch.nn.Module, train: ImageSet, val: ImageSet | None, settings: TrainSettings,
                     device: torch.device, description: str = "train") -> list[dict]:
    """Train `model` in place for settings.epochs, writing ``last.safetensors`` (and, with a val set,
    ``best.safetensors``: the epoch of highest val accuracy) into stage_dir; resumes after the last
    finished epoch of an earlier, killed attempt in the same folder. Returns the per-epoch history."""
    stage_dir = Path(stage_dir)
    progress_file = stage_dir / "progress.json"
    model.to(device)
    optimizer = _optimizer(model, settings)
    history: list[dict] = []
    start = 0
    if progress_file.exists() and (stage_dir / "last.safetensors").exists() and (stage_dir / "optimizer.pt").exists():
        history = json.loads(progress_file.read_text())["history"]
        model.load_state_dict(load_file(str(stage_dir / "last.safetensors")))
        # weights_only: an optimizer state dict holds tensors and plain types only.
        optimizer.load_state_dict(torch.load(stage_dir / "optimizer.pt", map_location="cpu", weights_only=True))
        start = len(history)
        log.info("%s: resuming after epoch %d", description, start)
    best = max((h["val_acc"] for h in history if h.get("val_acc") is not None), default=-1.0)
    for epoch in range(start, settings.epochs):
        torch.manual_seed(settings.seed * 1000 + epoch)
        loss = _train_epoch(model, optimizer, train, settings, epoch, device)
        entry = {"epoch": epoch + 1, "train_loss": loss, "val_acc": None}
        if val is not None:
            predictions = predict(model, val, settings.batch_size, device, settings.precision)
            entry["val_acc"] = float(np.mean(predictions == np.array([row.y for row in val.rows])))
            if entry["val_acc"] > best:  # strictly better: the earliest of equal epochs is kept
                best = entry["val_acc"]
                save_file(_contiguous(model), str(stage_dir / "best.safetensors"))
        history.append(entry)
        save_file(_contiguous(model), str(stage_dir / "last.safetensors"))
        torch.save(optimizer.state_dict(), stage_dir / "optimizer.pt")
        progress_file.write_text(json.dumps({"history": history}))  # last: the epoch counts as done only now
        log.info("%s epoch %d/%d: loss %.4f val acc %s", description, epoch + 1, settings.epochs, loss, entry["val_acc"])
    return history


def _contiguous(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}


def load_weights(model: torch.nn.Module, path: Path) -> torch.nn.Module:
    model.load_state_dict(load_file(str(path)))
    return model.eval()


def weights_hash(model: torch.nn.Module) -> str:
    return hash_state_dict(model.state_dict())
