"""On-disk cache of classifier features, computed once and reused across epochs and runs.

An entry is keyed by everything that changes it (docs/design.md#stages-and-caches): the classifier's identity
(spec, weights hash, preprocessing from timm's data config), the image's content hash, the storage
dtype and a format version. Entries are written atomically (temp file + rename). A corrupt entry is
recomputed and reported, never silently used.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from pathlib import Path
from typing import Sequence

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from tqdm.auto import tqdm

from texplain.classifier import ClassifierOutput, FrozenClassifier
from texplain.cpu_threads import keep_fair_share
from texplain.errors import InputFileError
from texplain.hashing import hash_json

CACHE_FORMAT_VERSION = 1
log = logging.getLogger(__name__)


def image_content_hash(path: Path) -> str:
    path = Path(path)
    if not path.is_file():
        raise InputFileError(f"image {path} does not exist; check the path or the dataset folder")
    return hashlib.sha256(path.read_bytes()).hexdigest()


class FeatureCache:
    """Directory of per-image ``.safetensors`` files holding tokens, pooled features and logits."""

    def __init__(self, root: Path, classifier: FrozenClassifier, token_dtype: torch.dtype = torch.float16):
        self.root = Path(root)
        self.classifier = classifier
        # fp16 halves the disk footprint of (T, D) tokens; it is part of the key, so fp32 gets its own entries.
        self.token_dtype = token_dtype
        self._model_key = hash_json(
            {"classifier": classifier.identity(), "token_dtype": str(token_dtype), "version": CACHE_FORMAT_VERSION}
        )
        self.hits = 0
        self.misses = 0

    def path_for(self, content_hash: str) -> Path:
        key = hashlib.sha256(f"{self._model_key}|{content_hash}".encode()).hexdigest()
        return self.root / key[:2] / f"{key}.safetensors"

    def _read(self, path: Path) -> dict[str, torch.Tensor] | None:
        if not path.exists():
            return None
        try:
            entry = load_file(str(path))
            if set(entry) != {"tokens", "pooled", "logits"}:
                raise ValueError(f"keys {sorted(entry)}")
            return entry
        except (SafetensorError, ValueError, OSError) as error:
            log.warning("feature cache entry %s is corrupt (%s); recomputing it", path, error)
            return None

    def _write(self, path: Path, entry: dict[str, torch.Tensor]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        os.close(handle)
        save_file({k: v.contiguous() for k, v in entry.items()}, temp)
        os.replace(temp, path)

    def extract(
        self, image_paths: Sequence[Path], batch_size: int = 32, progress: bool = True
    ) -> ClassifierOutput:
        """Features for every image, in order, computing only what the cache lacks."""
        hashes = [image_content_hash(p) for p in image_paths]
        entries: list[dict[str, torch.Tensor] | None] = [self._read(self.path_for(h)) for h in hashes]
        todo = [i for i, e in enumerate(entries) if e is None]
        self.hits += len(image_paths) - len(todo)
        self.misses += len(todo)
        bar = tqdm(total=len(todo), desc="features", unit="img", disable=not progress or not todo)
        for start in range(0, len(todo), batch_size):
            keep_fair_share()  # fewer threads while another process keeps the cores busy (cpu_threads.py)
            batch = todo[start : start + batch_size]
            images = [self.classifier.load_image(image_paths[i]) for i in batch]
            out = self.classifier.forward(self.classifier.preprocess(images))
            for row, index in enumerate(batch):
                entry = {
                    "tokens": out.tokens[row].to(self.token_dtype).cpu(),
                    "pooled": out.pooled[row].cpu(),
                    "logits": out.logits[row].cpu(),
                }
                self._write(self.path_for(hashes[index]), entry)
                entries[index] = entry
            bar.update(len(batch))
        bar.close()
        return ClassifierOutput(
            tokens=torch.stack([e["tokens"] for e in entries]).float(),  # (N, T, D)
            pooled=torch.stack([e["pooled"] for e in entries]),  # (N, D')
            logits=torch.stack([e["logits"] for e in entries]),  # (N, C)
        )
