"""Adaptive stopping (texplain/adaptive_stopping.py) against fixed N on quickstart images.

For each image, N = 1000 sentences are drawn once with the run's translator. Because adaptive stopping
numbers its sentences as the fixed-N run does, its sentences are a prefix of those 1000: the stopping
rule is replayed on growing prefixes (chunk by chunk) without sampling again. Reported per image:
sentences used, the saving (1000 / used) and the Jaccard index of the top-10 document-frequency words
against the N = 1000 top-10.

Usage: .venv/bin/python benchmarks/eval_adaptive_stopping.py --run runs/quickstart-<hash> --images 4 [--bf16]
Writes results/benchmarks/adaptive-<date>.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
from pathlib import Path

import torch

from texplain.adaptive_stopping import top_k_settled
from texplain.checkpoint import load_translator, read_checkpoint
from texplain.classifier import FrozenClassifier
from texplain.decoders import load_decoder
from texplain.feature_cache import FeatureCache
from texplain.sampling import SamplingConfig, image_seed, sample_sentences
from texplain.words import word_stats


def replay(sentences: list[str], config: SamplingConfig) -> int:
    """How many of these sentences adaptive stopping would have drawn (same rule as sample_until_stable)."""
    previous, checks, n = None, 0, 0
    while n < config.num_sentences:
        n = min(n + config.stop_chunk, config.num_sentences)
        checks += 1
        settled, top = top_k_settled(sentences[:n], config.stop_top_k, config.stop_confidence, config.num_sentences)
        if checks >= 2 and settled and top == previous:
            return n
        previous = top
    return n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run", default="runs/quickstart-76aa692b2e0d")
    parser.add_argument("--world", default=str(Path.home() / ".cache/texplain/worlds/1d6d76ecce280b6a"))
    parser.add_argument("--images", type=int, default=4)
    parser.add_argument("--num-sentences", type=int, default=1000)
    parser.add_argument("--bf16", action="store_true", help="sample under bf16 autocast (faster; the words shift slightly)")
    parser.add_argument("--out", default="results/benchmarks")
    args = parser.parse_args()
    run = Path(args.run)
    seed = json.loads((run / "config.json").read_text())["seed"]
    checkpoint = run / "translator.pt"
    payload = read_checkpoint(checkpoint)
    classifier = FrozenClassifier.from_spec(payload["classifier"]["spec"])
    decoder = load_decoder(payload["decoder"]["kind"], payload["decoder"]["spec"])
    identity = {**classifier.identity(), "feature_shape": list(classifier.feature_shape)}
    translator, _ = load_translator(checkpoint, identity, decoder.identity())
    translator.eval()
    images = sorted((Path(args.world) / "images").glob("*.png"))[: args.images]
    features = FeatureCache(Path.home() / ".cache/texplain/features", classifier).extract(images, progress=False)
    fixed = SamplingConfig(num_sentences=args.num_sentences, batch_size=250)
    adaptive = SamplingConfig(num_sentences=args.num_sentences, batch_size=250, stopping="adaptive")
    rows = []
    for index, image in enumerate(images):
        with torch.no_grad():
            conditioning = translator(features.tokens[index : index + 1])[0]  # (k, d)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.bf16):
            sentences = sample_sentences(decoder, conditioning.float(), image_seed(seed, image.stem), fixed)
        used = replay(sentences, adaptive)
        reference = {w for w, _ in word_stats(sentences).top_k(10)}
        early = {w for w, _ in word_stats(sentences[:used]).top_k(10)}
        jaccard = len(reference & early) / len(reference | early)
        rows.append({"image": image.stem, "sentences": used, "saving": args.num_sentences / used, "top10_jaccard": jaccard,
                     "top10_fixed": sorted(reference), "top10_adaptive": sorted(early)})
        print(f"{image.stem}: stopped at {used} ({args.num_sentences / used:.1f}x fewer), top-10 Jaccard {jaccard:.2f}", flush=True)
    summary = {"mean_sentences": statistics.mean(r["sentences"] for r in rows),
               "saving_total": args.num_sentences * len(rows) / sum(r["sentences"] for r in rows),
               "mean_top10_jaccard": statistics.mean(r["top10_jaccard"] for r in rows),
               "min_top10_jaccard": min(r["top10_jaccard"] for r in rows)}
    print(json.dumps(summary))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    path = out / f"adaptive-{stamp}.json"
    path.write_text(json.dumps({"args": vars(args), "config": adaptive.__dict__, "loadavg": os.getloadavg(), "summary": summary, "rows": rows}, indent=1))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
