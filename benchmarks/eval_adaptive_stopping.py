"""Adaptive stopping (texplain/sampling/stopping.py) against fixed N on quickstart images.

For each image, 2N sentences are drawn once with the run's translator and kept in a samples file (so
stopping rules can be replayed without sampling again):

- sentences 0 .. N-1 are exactly the fixed-N run with the run's seed (the reference, "A");
- sentences N .. 2N-1 are an independent second N-sentence run ("B").

Because adaptive stopping numbers its sentences as the fixed-N run does, an adaptive run with the same
seed draws a prefix of A: the rule is replayed on growing prefixes (chunk by chunk). Reported per image:

- sentences used and the saving (N / used);
- top-10 Jaccard of the adaptive words against A's top-10 (what a user sees: adaptive vs fixed N with
  the same seed), and against B's top-10 (an independent fixed-N run, no shared sentences);
- the noise floor: top-10 Jaccard between A and B, two fixed-N runs that differ only in their seed;
- a baseline without a rule: the top-10 of A's first 100, 250, 500, 750 sentences against A's;
- an upper bound for *any* stopping rule on these sentences (``oracle_bound``): an oracle that knows A's
  top-10 and every image's future chooses each image's stopping chunk to use the fewest sentences in all
  while the mean top-10 Jaccard against A stays at or above a target. No rule that decides from the
  sentences drawn so far can save more on this sample.

Usage: .venv/bin/python benchmarks/eval_adaptive_stopping.py --run runs/quickstart-<hash> --world <world dir> \
           --images 8 [--bf16] [--samples results/benchmarks/adaptive-samples.jsonl] [--agreements 0.8,0.9,0.95,0.98]
Writes results/benchmarks/adaptive-<date>.json and prints a table.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import hashlib
import json
import os
import statistics
from pathlib import Path

import torch

from texplain.sampling import AdaptiveStopping, SamplingConfig, image_seed, sample_sentences_batch
from texplain.words import word_stats


def top10(sentences: list[str]) -> set[str]:
    return {word for word, _ in word_stats(sentences).top_k(10)}


def jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a | b else 1.0


def oracle_bound(curves: list[list[tuple[int, float]]], target: float) -> tuple[int, list[int]]:
    """Fewest total sentences with mean Jaccard >= target, choosing one (n, jaccard) point per image.

    curves[i]: image i's candidate stopping points (sentences used, top-10 Jaccard against the
    reference there); the last point must be the full run (Jaccard 1.0), so a solution always exists.
    Exact: a knapsack over Jaccard sums rounded down to 1/1000 (rounding down only makes it stricter,
    by at most images/1000 in the mean). Returns (total sentences, chosen n per image)."""
    if not curves:
        raise ValueError("oracle_bound needs at least one image")
    scale = 1000
    need = int(round(target * scale * len(curves)))
    best: dict[int, tuple[int, list[int]]] = {0: (0, [])}  # Jaccard sum (capped at need) -> (sentences, choices)
    for curve in curves:
        following: dict[int, tuple[int, list[int]]] = {}
        for reached, (used, choices) in best.items():
            for n, score in curve:
                key = min(need, reached + int(score * scale + 1e-9))
                candidate = (used + n, choices + [n])
                if key not in following or candidate[0] < following[key][0]:
                    following[key] = candidate
        best = following
    if need not in best:
        raise ValueError(f"no choice reaches mean Jaccard {target}: does every curve end at the full run (1.0)?")
    return best[need]


def pick_images(world: Path, count: int) -> list[Path]:
    """``count`` images spread over the world's classes (round-robin by class, in id order)."""
    by_class: dict[str, list[str]] = {}
    for line in (world / "scenes.jsonl").read_text().splitlines():
        scene = json.loads(line)
        by_class.setdefault(scene["object_class"], []).append(scene["image_id"])
    picked: list[str] = []
    while len(picked) < count and any(by_class.values()):
        for ids in by_class.values():
            if ids and len(picked) < count:
                picked.append(ids.pop(0))
    return [world / "images" / f"{image_id}.png" for image_id in picked]


def draw_samples(run: Path, world: Path, count: int, num_sentences: int, bf16: bool, path: Path) -> list[dict]:
    """2N sentences per image (see the module docstring), appended to ``path`` image by image (resumable)."""
    from texplain.checkpoint import load_translator, read_checkpoint
    from texplain.classifier import FrozenClassifier
    from texplain.decoders import load_decoder
    from texplain.feature_cache import FeatureCache

    from harness.pipeline.explain_step import EXPLAIN_STAGE_VERSION

    # What the sentences depend on: a samples file made with another translator, sampler, N or precision
    # must not be replayed as if it were this run's.
    # The translator folder's two files, hashed in a fixed order (weights, then config).
    translator_hash = hashlib.sha256()
    for name in ("model.safetensors", "config.json"):
        translator_hash.update((run / "translator" / name).read_bytes())
    drawn_for = {"translator_sha256": translator_hash.hexdigest(),
                "sampler_version": EXPLAIN_STAGE_VERSION, "num_sentences": num_sentences, "bf16": bf16}
    done = {}
    if path.exists():
        for number, line in enumerate(path.read_text().splitlines(), 1):
            record = json.loads(line)
            found = {key: record.get(key) for key in drawn_for}
            if found != drawn_for:
                differing = sorted(key for key in drawn_for if found[key] != drawn_for[key])
                raise SystemExit(f"{path}:{number} was drawn for another run or setting ({', '.join(differing)} differ): "
                                 f"pass another --samples path, or delete {path} to draw again")
            done[record["image"]] = record
    images = pick_images(world, count)
    todo = [image for image in images if image.stem not in done]
    if todo:
        seed = json.loads((run / "config.json").read_text())["seed"]
        checkpoint = run / "translator"
        payload = read_checkpoint(checkpoint)
        classifier = FrozenClassifier.from_spec(payload["classifier"]["spec"])
        decoder = load_decoder(payload["decoder"]["kind"], payload["decoder"]["spec"])
        identity = {**classifier.identity(), "feature_shape": list(classifier.feature_shape)}
        translator, _ = load_translator(checkpoint, identity, decoder.identity(), payload=payload)
        translator.eval()
        cache_root = Path(os.environ.get("TEXPLAIN_CACHE", Path.home() / ".cache/texplain"))
        features = FeatureCache(cache_root / "features", classifier).extract(todo, progress=False)
        config = SamplingConfig(num_sentences=2 * num_sentences, batch_size=256)
        for index, image in enumerate(todo):
            with torch.no_grad():
                conditioning = translator(features.tokens[index : index + 1])  # (1, k, d)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                sentences = sample_sentences_batch(decoder, conditioning.float(), [image_seed(seed, image.stem)], config)[0]
            record = {"image": image.stem, "seed": seed, **drawn_for, "sentences": sentences}
            with path.open("a") as handle:
                handle.write(json.dumps(record) + "\n")
            done[image.stem] = record
            print(f"sampled {image.stem} ({index + 1}/{len(todo)})", flush=True)
    return [done[image.stem] for image in images]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run", required=True, action="append", help="a quickstart run directory (translator/, config.json); repeat with --world and --samples for more worlds")
    parser.add_argument("--world", required=True, action="append", help="the synthetic world the run explained (images/, scenes.jsonl)")
    parser.add_argument("--images", type=int, default=8, help="images per world")
    parser.add_argument("--num-sentences", type=int, default=1000)
    parser.add_argument("--bf16", action="store_true", help="sample under bf16 autocast (the quickstart's precision)")
    parser.add_argument("--samples", action="append", help="where the 2N sentences per image are kept, one file per --run "
                        "(default results/benchmarks/adaptive-samples.jsonl for a single run)")
    parser.add_argument("--agreements", default="0.8,0.9,0.95,0.98", help="stop_agreement values to replay")
    parser.add_argument("--gains", default="0", help="stop_gain values to replay with each agreement (0: the agreement rule alone)")
    parser.add_argument("--out", default="results/benchmarks")
    args = parser.parse_args()
    samples = args.samples or (["results/benchmarks/adaptive-samples.jsonl"] if len(args.run) == 1 else [])
    if not len(args.run) == len(args.world) == len(samples):
        parser.error(f"give one --world and one --samples per --run (got {len(args.run)} runs, {len(args.world)} worlds, {len(samples)} samples files)")
    records = []
    for run, world, path in zip(args.run, args.world, samples):
        for needed, fix in ((Path(run) / "translator" / "model.safetensors", "--run must be a finished quickstart run directory (texplain run --config quickstart)"),
                            (Path(world) / "scenes.jsonl", "--world must be the synthetic world that run explained ($TEXPLAIN_CACHE/worlds/<hash>)")):
            if not needed.exists():
                parser.error(f"{needed} not found: {fix}")
        for record in draw_samples(Path(run), Path(world), args.images, args.num_sentences, args.bf16, Path(path)):
            records.append({**record, "world": Path(world).name})
    n = args.num_sentences
    summaries, all_rows = [], []
    settings = [(float(a), float(g)) for a in args.agreements.split(",") for g in args.gains.split(",")]
    for agreement, gain in settings:
        adaptive = AdaptiveStopping.from_config(SamplingConfig(num_sentences=n, stopping="adaptive", stop_agreement=agreement, stop_gain=gain))
        rows = []
        for record in records:
            reference, independent = record["sentences"][:n], record["sentences"][n : 2 * n]
            stop = adaptive.replay(reference, image_seed(record["seed"], record["image"]))
            used = stop.sentences
            early = top10(reference[:used])
            rows.append({
                "stop_agreement": agreement, "stop_gain": gain, "world": record["world"], "image": record["image"], "reason": stop.reason,
                "sentences": used, "saving": n / used,
                "jaccard_same_seed": jaccard(early, top10(reference)),
                "jaccard_independent": jaccard(top10(independent[:used]), top10(reference)),
                "jaccard_fixed_runs": jaccard(top10(independent), top10(reference)),
                "top10_fixed": sorted(top10(reference)), "top10_adaptive": sorted(early),
            })
        summary = {
            "stop_agreement": agreement, "stop_gain": gain, "images": len(rows), "worlds": len({r["world"] for r in rows}),
            "saving_total": n * len(rows) / sum(r["sentences"] for r in rows),
            "mean_sentences": statistics.mean(r["sentences"] for r in rows),
            **{f"mean_{key}": statistics.mean(r[key] for r in rows) for key in ("jaccard_same_seed", "jaccard_independent", "jaccard_fixed_runs")},
            "min_jaccard_same_seed": min(r["jaccard_same_seed"] for r in rows),
            "images_identical_top10": sum(r["jaccard_same_seed"] == 1.0 for r in rows),
        }
        print(f"stop_agreement {agreement}, stop_gain {gain}")
        print(f"{'image':>12} {'used':>5} {'saving':>6} {'J same seed':>11} {'J indep.':>8} {'J fixed/fixed':>13}")
        for r in rows:
            print(f"{r['image']:>12} {r['sentences']:>5} {r['saving']:>5.1f}x {r['jaccard_same_seed']:>11.2f} {r['jaccard_independent']:>8.2f} {r['jaccard_fixed_runs']:>13.2f}")
        print(json.dumps(summary), flush=True)
        summaries.append(summary)
        all_rows += rows
    # Baseline: a fixed smaller n (the first n sentences) against the N-sentence top-10, no stopping rule.
    fixed_curve = {m: statistics.mean(jaccard(top10(r["sentences"][:m]), top10(r["sentences"][:n])) for r in records)
                   for m in (100, 250, 500, 750) if m < n}
    print("fixed smaller n, mean top-10 Jaccard vs N:", {m: round(j, 3) for m, j in fixed_curve.items()})
    # The bound: stopping points every chunk, as the rule sees them.
    chunk = SamplingConfig(num_sentences=n, stopping="adaptive").stop_chunk
    curves = [[(m, jaccard(top10(r["sentences"][:m]), top10(r["sentences"][:n]))) for m in range(chunk, n + 1, chunk)] for r in records]
    oracle = {}
    for target in (0.8, 0.9, 0.95, 1.0):
        total, chosen = oracle_bound(curves, target)
        oracle[str(target)] = {"saving_total": n * len(records) / total, "mean_sentences": total / len(records), "sentences": chosen}
        print(f"oracle bound at mean Jaccard >= {target}: {n * len(records) / total:.2f}x fewer sentences (mean {total / len(records):.0f}; per image {chosen})")
    # The yardstick: at mean Jaccard >= 0.9, the share of the oracle's saving a setting reaches.
    for summary in summaries:
        if summary["mean_jaccard_same_seed"] >= 0.9:
            summary["share_of_oracle_saving_at_0.9"] = summary["saving_total"] / oracle["0.9"]["saving_total"]
    # A setting chosen on one world is judged on the others (chosen on the images it is scored on, it would flatter).
    held_out = {}
    worlds = sorted({r["world"] for r in all_rows})
    def score(rows):
        return {"saving_total": n * len(rows) / sum(r["sentences"] for r in rows), "mean_jaccard_same_seed": statistics.mean(r["jaccard_same_seed"] for r in rows)}

    if len(worlds) > 1:
        for tuned_on in worlds:
            candidates = []
            for agreement, gain in settings:
                rows = [r for r in all_rows if r["stop_agreement"] == agreement and r["stop_gain"] == gain]
                tuned = score([r for r in rows if r["world"] == tuned_on])
                if tuned["mean_jaccard_same_seed"] >= 0.9:
                    candidates.append((tuned["saving_total"], agreement, gain, rows))
            if not candidates:
                continue
            _, agreement, gain, rows = max(candidates, key=lambda c: c[0])
            others = [r for r in rows if r["world"] != tuned_on]
            other_curves = [[(m, jaccard(top10(rec["sentences"][:m]), top10(rec["sentences"][:n]))) for m in range(chunk, n + 1, chunk)]
                            for rec in records if rec["world"] != tuned_on]
            bound = n * len(other_curves) / oracle_bound(other_curves, 0.9)[0]
            result = score(others)
            held_out[tuned_on] = {"stop_agreement": agreement, "stop_gain": gain, "judged_on": [w for w in worlds if w != tuned_on], **result,
                                  "oracle_saving_at_0.9": bound, "share_of_oracle_saving": result["saving_total"] / bound}
            print(f"chosen on world {tuned_on}: stop_agreement {agreement}, stop_gain {gain}; on the other world(s): saving {result['saving_total']:.2f}x, "
                  f"mean Jaccard {result['mean_jaccard_same_seed']:.3f}, oracle {bound:.2f}x, share {result['saving_total'] / bound:.0%}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    path = out / f"adaptive-{stamp}.json"
    path.write_text(json.dumps({"args": vars(args), "config": dataclasses.asdict(adaptive), "loadavg": os.getloadavg(), "summaries": summaries, "fixed_n_mean_jaccard": fixed_curve, "oracle_bound": oracle, "held_out": held_out, "rows": all_rows}, indent=1))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
