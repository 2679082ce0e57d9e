"""Benchmark: feature extraction through our FeatureCache against a bare timm forward on the same batches.

Three figures, images per second, median of ``--repeats`` alternating runs in one process:

- ``bare``: load + preprocess (the classifier's timm transform) + ``model(batch)`` under inference mode;
  the floor any extraction pays;
- ``cache_cold``: ``FeatureCache.extract`` into an empty cache (hashing the files, the same loading and
  forward, tokens and logits written as safetensors); the target is >= 0.9x ``bare`` (the cache may cost at most a
  tenth of a bare forward);
- ``cache_warm``: a second ``extract`` over the same images, which must read the cache and not recompute.

Usage: .venv/bin/python benchmarks/bench_features.py [--images 64] [--batch 32] [--repeats 3]
Writes results/benchmarks/features-<date>.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import torch

from texplain.classifier import FrozenClassifier
from texplain.feature_cache import FeatureCache


def bare(classifier: FrozenClassifier, images: list[Path], batch: int) -> None:
    with torch.inference_mode():
        for start in range(0, len(images), batch):
            loaded = [classifier.load_image(p) for p in images[start : start + batch]]
            classifier.model(classifier.preprocess(loaded).to(classifier.device))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--world", default=str(Path.home() / ".cache/texplain/worlds/1d6d76ecce280b6a"))
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default="results/benchmarks")
    args = parser.parse_args()
    classifier = FrozenClassifier.from_spec("packaged:efficientnet_lite0")
    images = sorted((Path(args.world) / "images").glob("*.png"))[: args.images]
    bare(classifier, images[: args.batch], args.batch)  # warm-up
    timings: dict[str, list[float]] = {"bare": [], "cache_cold": [], "cache_warm": []}
    for _ in range(args.repeats):
        start = time.perf_counter()
        bare(classifier, images, args.batch)
        timings["bare"].append(len(images) / (time.perf_counter() - start))
        root = Path(tempfile.mkdtemp(prefix="bench-features-"))
        try:
            cache = FeatureCache(root, classifier)
            start = time.perf_counter()
            cache.extract(images, batch_size=args.batch, progress=False)
            timings["cache_cold"].append(len(images) / (time.perf_counter() - start))
            assert cache.misses == len(images) and cache.hits == 0
            start = time.perf_counter()
            cache.extract(images, batch_size=args.batch, progress=False)
            timings["cache_warm"].append(len(images) / (time.perf_counter() - start))
            assert cache.hits == len(images), "the second extraction recomputed instead of reading the cache"
        finally:
            shutil.rmtree(root, ignore_errors=True)
    medians = {name: statistics.median(values) for name, values in timings.items()}
    result = {"images_per_s": timings, "median_images_per_s": medians, "cold_over_bare": medians["cache_cold"] / medians["bare"],
              "warm_over_bare": medians["cache_warm"] / medians["bare"], "loadavg": os.getloadavg(), "threads": torch.get_num_threads(), "args": vars(args)}
    print(f"{'':>12} {'images/s':>9}")
    for name, value in medians.items():
        print(f"{name:>12} {value:>9.1f}")
    print(f"cold / bare = {result['cold_over_bare']:.2f} (target >= 0.9); warm / bare = {result['warm_over_bare']:.1f}; load {os.getloadavg()[0]:.2f}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"features-{dt.datetime.now().strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(result, indent=1))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
