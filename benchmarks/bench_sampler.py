"""Benchmark: our nucleus sampler (texplain/sampling/sampler.py) against transformers' ``generate`` on the same model.

Same model (the packaged SmolLM2-135M), same soft prefix (10 embeddings per image), same top-p (0.95,
top-k off), same temperature, same number of sentences, and the same number of tokens per sentence:
``generate`` gets ``min_new_tokens = max_new_tokens =`` the mean token count of our sentences in the
same configuration (our sentences stop at 20-30 words, generate's at a token count), so sentences/s
compare per-sentence work fairly; tokens/s are reported too.

Runs alternate (ours, generate, ours, generate, ...) in one process and the median of ``--repeats`` runs
is taken, because the machine is shared and timings drift; the ratio is of medians from the same run.
The load average is recorded with every figure.

Achieved GFLOP/s = 2 * P * T / seconds, with P the parameters used in matmuls (all 134.5M of SmolLM2:
the tied embedding matrix counts once, as the output layer) and T the token positions run through the
model (prefix positions + one per generated token and row, free slots included for ours; for generate,
every returned sequence runs the prefix and ``max_new_tokens`` positions). Attention score FLOPs are
left out (under 3% here). The share is against a matmul peak measured in the same process (the best of
several (1024 x 1024) @ (1024 x 1024) products, per dtype, measured before every repeat). The limit of the
ratio (``ratio_limit_at_peak``): ours running its own token positions with every matmul at that peak and
nothing else costing time, against generate as measured; a target ratio above it cannot be met on this CPU
by any implementation whose matmuls run no faster than that peak.

Precisions: ``--precisions auto`` (the default) measures fp32 always, and bf16 too where this CPU runs it
natively (texplain/precision.py's probe, recorded in the JSON); ``--precisions fp32,bf16`` forces both, which
on an AVX2-only CPU takes about 100x longer for the bf16 rows.

Usage: .venv/bin/python benchmarks/bench_sampler.py [--sizes 100x1,100x8,1000x1] [--repeats 3] [--precisions auto|fp32,bf16] [--profile]
Writes results/benchmarks/sampler-<date>.json and prints a table.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import platform
import statistics
import time
from pathlib import Path

import torch

from texplain.decoders import load_decoder
from texplain.precision import cpu_bf16_probe, cpu_flags, cpu_model
from texplain.sampling import SamplingConfig, sample_sentences_batch

PREFIX_TEXTS = [
    "A photo of a small red boat floating on calm blue water.",
    "A brown dog is running on green grass in a sunny park.",
    "A yellow car is parked on a road next to tall trees.",
    "A bird with white feathers stands on sand near the sea.",
    "A house covered in snow under a grey winter sky.",
    "A green frog sits on a leaf in a forest after rain.",
    "Two people ride bicycles along a street in the city.",
    "A bowl of fruit on a wooden table in a bright kitchen.",
]


def matmul_peak(dtype: torch.dtype, size: int = 1024, repeats: int = 7) -> float:
    """Best GFLOP/s of a square matmul: the machine's attainable peak right now, for this dtype."""
    a = torch.randn(size, size).to(dtype)
    b = torch.randn(size, size).to(dtype)
    torch.mm(a, b)
    best = 0.0
    for _ in range(repeats):
        start = time.perf_counter()
        torch.mm(a, b)
        best = max(best, 2 * size**3 / (time.perf_counter() - start) / 1e9)
    return best


def prefixes(decoder, num_images: int, length: int = 10) -> torch.Tensor:
    """(B, length, d) soft prefixes: the token embeddings of a caption per image (a stand-in translator output)."""
    table = decoder.model.get_input_embeddings().weight
    rows = []
    for i in range(num_images):
        ids = decoder.tokenizer(PREFIX_TEXTS[i % len(PREFIX_TEXTS)])["input_ids"][:length]
        rows.append(table[ids].detach().clone())
    return torch.stack(rows)


def run_ours(decoder, conds, config, precision: str) -> dict:
    stats: dict = {}
    seeds = list(range(1, conds.shape[0] + 1))
    start = time.perf_counter()
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
        out = sample_sentences_batch(decoder, conds, seeds, config, stats=stats)
    seconds = time.perf_counter() - start
    sentences = sum(len(x) for x in out)
    return {"seconds": seconds, "sentences": sentences, "positions": stats["prefix_tokens"] + stats["row_steps"],
            "tokens_per_sentence": stats["sampled_tokens"] / sentences, "out": out,
            # Where the time goes: decode steps, token choice (nucleus kernel + length rules), the rest (prefix, bookkeeping).
            "share_forward": stats.get("seconds_forward", 0.0) / seconds, "share_choosing": stats.get("seconds_choosing", 0.0) / seconds}


def run_generate(decoder, conds, num_sentences: int, batch: int, new_tokens: int, config, precision: str) -> dict:
    model = decoder.model
    positions = 0
    start = time.perf_counter()
    texts = []
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
        for image in range(conds.shape[0]):
            torch.manual_seed(image)
            for first in range(0, num_sentences, batch):
                rows = min(batch, num_sentences - first)
                ids = model.generate(
                    inputs_embeds=conds[image : image + 1], do_sample=True, top_p=config.top_p, top_k=0,
                    temperature=config.temperature, num_return_sequences=rows, min_new_tokens=new_tokens,
                    max_new_tokens=new_tokens, pad_token_id=decoder.eos_token_id,
                )
                positions += rows * (conds.shape[1] + new_tokens)
                texts.extend(decoder.tokenizer.batch_decode(ids, skip_special_tokens=True))
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "sentences": len(texts), "positions": positions, "tokens_per_sentence": new_tokens}


def op_profile(decoder, batch: int, precision: str) -> dict:
    """Operator time of one run (N = 256, 1 image) at ``precision`` under torch.profiler, by kind of work:
    the linear layers (mm, LM head included), attention (bmm and its softmax), and everything else. The
    nucleus kernel runs in numba, outside torch's operators; its share of wall time is the table's 'choose'.
    The precision is the one this CPU runs best (bf16 where native): a bf16 profile on an AVX2-only CPU
    would take ~100x longer and say nothing about the runs that matter there."""
    conds = prefixes(decoder, 1)
    config = SamplingConfig(num_sentences=256, batch_size=batch)
    with torch.profiler.profile() as prof:
        run_ours(decoder, conds, config, precision)
    totals = {"linear layers (mm)": 0.0, "attention (bmm, softmax)": 0.0, "other operators": 0.0}
    for event in prof.key_averages():
        name = event.key
        if name in ("aten::mm", "mkldnn::_linear_pointwise"):  # F.linear, or the packed linears of static_llama
            totals["linear layers (mm)"] += event.self_cpu_time_total
        elif name in ("aten::bmm", "aten::_softmax"):
            totals["attention (bmm, softmax)"] += event.self_cpu_time_total
        elif name.startswith("aten::"):
            totals["other operators"] += event.self_cpu_time_total
    whole = sum(totals.values())
    return {key: value / whole for key, value in totals.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="100x1,100x8,1000x1", help="NxB: sentences per image x images")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch", type=int, default=256, help="rows per forward pass, ours and generate's")
    parser.add_argument("--precisions", default="auto", help="auto: fp32, and bf16 where native; or a list, e.g. fp32,bf16")
    parser.add_argument("--generate-images", type=int, default=0, help="cap on images for generate (0: same as ours); sentences/s stay per sentence")
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--profile", action="store_true", help="also profile one bf16 run by kind of operator")
    parser.add_argument("--out", default="results/benchmarks")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    probe = cpu_bf16_probe()
    if args.precisions == "auto":
        precisions = ["fp32", "bf16"] if probe.native else ["fp32"]
        if not probe.native:
            print(f"bf16 skipped: not native on {probe.describe()}; --precisions fp32,bf16 forces it")
    else:
        precisions = args.precisions.split(",")
    decoder = load_decoder("prefix", "packaged:smollm2-135m", torch.device("cpu"))
    params = sum(p.numel() for p in decoder.model.parameters())  # tied weights count once
    rows = []
    for size in args.sizes.split(","):
        num_sentences, num_images = (int(x) for x in size.split("x"))
        conds = prefixes(decoder, num_images)
        config = SamplingConfig(num_sentences=num_sentences, batch_size=args.batch)
        for precision in precisions:
            # The peak is measured before every repeat and the best kept: one measurement taken while a
            # neighbour briefly holds a core reads low (205 instead of ~420 GFLOP/s once), which would
            # inflate the share of peak.
            peak_dtype = torch.bfloat16 if precision == "bf16" else torch.float32
            peaks = [matmul_peak(peak_dtype)]
            # Warm-up (weights rearranged once, allocator), and the token count generate must match.
            warm = run_ours(decoder, conds[:1], dataclasses.replace(config, num_sentences=min(num_sentences, 64)), precision)
            new_tokens = max(1, round(warm["tokens_per_sentence"]))
            gen_images = conds[: args.generate_images] if args.generate_images else conds
            ours, theirs = [], []
            for repeat in range(args.repeats):
                peaks.append(matmul_peak(peak_dtype))
                ours.append(run_ours(decoder, conds, config, precision))
                theirs.append(run_generate(decoder, gen_images, num_sentences, args.batch, new_tokens, config, precision))
                print(f"  {size} {precision} run {repeat}: ours {ours[-1]['sentences'] / ours[-1]['seconds']:.2f} sent/s, "
                      f"generate {theirs[-1]['sentences'] / theirs[-1]['seconds']:.2f} sent/s, load {os.getloadavg()[0]:.2f}", flush=True)
            peak = max(peaks)
            row = {"N": num_sentences, "images": num_images, "generate_images": gen_images.shape[0], "precision": precision,
                   "batch": args.batch, "generate_new_tokens": new_tokens, "matmul_peak_gflops": peak, "matmul_peak_measurements": peaks, "loadavg": os.getloadavg()}
            for name, runs in (("ours", ours), ("generate", theirs)):
                rates = [r["sentences"] / r["seconds"] for r in runs]
                gflops = [2 * params * r["positions"] / r["seconds"] / 1e9 for r in runs]
                row[name] = {"sentences_per_s": rates, "median_sentences_per_s": statistics.median(rates),
                             "tokens_per_sentence": statistics.mean(r["tokens_per_sentence"] for r in runs),
                             "median_gflops": statistics.median(gflops), "share_of_peak": statistics.median(gflops) / peak}
            row["ratio"] = row["ours"]["median_sentences_per_s"] / row["generate"]["median_sentences_per_s"]
            # The limit of the ratio on this CPU: ours running its own token positions (no fewer: every
            # sentence's tokens must go through the model) with every matmul at the measured peak and nothing
            # else costing time, against generate as measured. A target ratio above it is out of reach here.
            ours_gflop_per_sentence = row["ours"]["median_gflops"] / row["ours"]["median_sentences_per_s"]
            row["ratio_limit_at_peak"] = peak / ours_gflop_per_sentence / row["generate"]["median_sentences_per_s"]
            row["share_of_peak_for_4x"] = 4 * row["generate"]["median_sentences_per_s"] * ours_gflop_per_sentence / peak
            row["ours"]["share_forward"] = statistics.median(r["share_forward"] for r in ours)
            row["ours"]["share_choosing"] = statistics.median(r["share_choosing"] for r in ours)
            rows.append(row)
    header = f"{'N x B':>9} {'prec':>5} {'ours s/s':>9} {'gen s/s':>8} {'ratio':>6} {'ours GF/s':>9} {'%peak':>6} {'gen GF/s':>8} {'%peak':>6} {'peak':>6} {'tok/sent':>8} {'load':>5} {'fwd':>4} {'choose':>6}"
    print(header)
    for r in rows:
        print(f"{r['N']:>5} x {r['images']:<1} {r['precision']:>5} {r['ours']['median_sentences_per_s']:>9.2f} {r['generate']['median_sentences_per_s']:>8.2f} "
              f"{r['ratio']:>6.2f} {r['ours']['median_gflops']:>9.1f} {100 * r['ours']['share_of_peak']:>5.0f}% {r['generate']['median_gflops']:>8.1f} "
              f"{100 * r['generate']['share_of_peak']:>5.0f}% {r['matmul_peak_gflops']:>6.0f} {r['ours']['tokens_per_sentence']:>8.1f} {r['loadavg'][0]:>5.2f} "
              f"{100 * r['ours']['share_forward']:>3.0f}% {100 * r['ours']['share_choosing']:>5.0f}%")
    for r in rows:
        print(f"{r['N']:>5} x {r['images']:<1} {r['precision']:>5}: limit of the ratio with every matmul at the peak and nothing else "
              f"costing time {r['ratio_limit_at_peak']:.2f}x; 4x would need {100 * r['share_of_peak_for_4x']:.0f}% of the peak")
    profile = None
    if args.profile:
        fastest = "bf16" if "bf16" in precisions and probe.native else precisions[0]
        profile = {"precision": fastest, "shares": op_profile(decoder, args.batch, fastest)}
        print(f"profile of our decode, {fastest} (share of operator time):", {k: f"{100 * v:.0f}%" for k, v in profile["shares"].items()})
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    meta = {"date": stamp, "torch": torch.__version__, "threads": torch.get_num_threads(), "cpus": os.cpu_count(),
            "machine": platform.processor() or platform.machine(), "cpu_model": cpu_model(), "cpu_flags": list(cpu_flags()),
            "cpu_bf16_probe": probe.to_json(), "precisions": precisions, "params": params, "args": vars(args),
            "gflops_formula": "2 * params * token positions run through the LM / seconds (attention scores excluded)"}
    path = out / f"sampler-{stamp}.json"
    path.write_text(json.dumps({"meta": meta, "rows": rows, "op_profile": profile}, indent=1))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
