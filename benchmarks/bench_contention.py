"""Benchmark: two texplain processes on one machine, each alone and both at once, per thread policy.

A user explains a few images while a run trains a translator beside it. Each process starts as many
compute threads as there are cores (torch's OpenMP pool, libgomp), and a libgomp thread that finishes its
part of a parallel region spins before it sleeps. Alone, the spin saves a wake-up; with two such processes
on two cores, a thread spins, or waits at a barrier, on a core the other process's working thread needed,
and both slow far past the 2x a fair share would give.

Two workloads, each the project's own code on the packaged models (the weights of the translator do
not matter for timing, so it is a seeded, untrained one):

    explain  Explainer.explain of four skimage photos x 20 sentences (efficientnet-lite0 features,
             mlp_bn translator, SmolLM2-135M sampling), as `texplain explain` runs it
    train    6 translator training steps into the frozen SmolLM2-135M (batch 8, 8 prefix tokens, world
             captions), with texplain/training.py's per-step call of keep_fair_share

Each is timed inside its own process from after its models loaded and a short warm-up to the end of its
work. "Alone" runs one process; "contended" runs the measured process while the other workload loops in a
second process for the whole time (started first, so the overlap is complete), both ways round.
Policies (environment of both processes):

    before   TEXPLAIN_FAIR_SHARE=0: every process keeps one thread per core, as before the project
             watched its share (libgomp's default waiting)
    project  nothing set: what texplain does by itself (texplain/cpu_threads.py: threads follow the
             cores other processes leave free)
    passive  TEXPLAIN_FAIR_SHARE=0 OMP_WAIT_POLICY=PASSIVE: waiting threads sleep at once, for reference
    short    TEXPLAIN_FAIR_SHARE=0 GOMP_SPINCOUNT=10000: a shorter spin, for reference
    spin1000 TEXPLAIN_FAIR_SHARE=0 GOMP_SPINCOUNT=1000: a very short spin, for reference
    one      OMP_NUM_THREADS=1 in both processes, for reference

The figures that matter: contended / alone per workload (a fair share on a machine with as many cores as
threads: 2x), and each policy's alone time against "before" alone (the uncontended speed must not drop).
Medians of --repeats runs, rounds interleaved across policies so drift hits them alike.

Usage: .venv/bin/python benchmarks/bench_contention.py [--repeats 3] [--policies before,project]
Writes results/benchmarks/contention-<date>.json and prints a table.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the workers import benchmarks.bench_training
POLICIES = {
    "before": {"TEXPLAIN_FAIR_SHARE": "0"},
    "project": {},
    "passive": {"TEXPLAIN_FAIR_SHARE": "0", "OMP_WAIT_POLICY": "PASSIVE"},
    "short": {"TEXPLAIN_FAIR_SHARE": "0", "GOMP_SPINCOUNT": "10000"},
    "spin1000": {"TEXPLAIN_FAIR_SHARE": "0", "GOMP_SPINCOUNT": "1000"},
    "one": {"OMP_NUM_THREADS": "1"},
}
THREAD_VARIABLES = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "TEXPLAIN_FAIR_SHARE")


def explain_worker(repeat_until: Path | None) -> float:
    import numpy as np
    import skimage.data
    import torch
    from PIL import Image

    from texplain.classifier import FrozenClassifier
    from texplain.decoders import load_decoder
    from texplain.explainer import Explainer
    from texplain.translators import TranslatorShape, build_translator

    classifier = FrozenClassifier.from_spec("packaged:efficientnet_lite0")
    decoder = load_decoder("prefix", "packaged:smollm2-135m")
    tokens, dim = classifier.feature_shape
    torch.manual_seed(0)
    translator = build_translator("mlp_bn", TranslatorShape(tokens, dim, 8, decoder.conditioning_dim), hidden_dim=1024, num_layers=3).eval()
    explainer = Explainer(classifier, translator, decoder)
    photos = [Image.fromarray(np.asarray(getattr(skimage.data, name)())).convert("RGB")
              for name in ("astronaut", "chelsea", "coffee", "rocket")]
    return _timed(lambda: explainer.explain(photos, num_sentences=20, seed=0), repeat_until,
                  warm_up=lambda: explainer.explain(photos[:1], num_sentences=4, seed=0))


def train_worker(repeat_until: Path | None, steps: int = 6, batch: int = 8) -> float:
    import torch

    from benchmarks.bench_training import captions
    from texplain.cpu_threads import keep_fair_share
    from texplain.decoders import load_decoder
    from texplain.device import autocast
    from texplain.precision import choose_precision
    from texplain.translators import TranslatorShape, build_translator

    decoder = load_decoder("prefix", "packaged:smollm2-135m")
    torch.manual_seed(0)
    translator = build_translator("mlp_bn", TranslatorShape(49, 1280, 8, decoder.conditioning_dim), hidden_dim=1024, num_layers=3)
    optimizer = torch.optim.AdamW(translator.parameters(), lr=1e-3)
    precision = choose_precision("auto", torch.device("cpu"), "bench").resolved
    texts = captions(steps * batch)
    features = torch.randn(len(texts), 49, 1280, generator=torch.Generator().manual_seed(0))  # (N, T, D)

    def work(limit: int = len(texts)) -> None:
        for start in range(0, limit, batch):
            keep_fair_share()  # as texplain/training.py does every step
            with autocast(decoder.device, precision):
                loss = decoder.caption_loss(translator(features[start : start + batch]), texts[start : start + batch])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

    return _timed(work, repeat_until, warm_up=lambda: work(batch))


def _timed(work, repeat_until: Path | None, warm_up) -> float:
    warm_up()  # weight casts, caches, first-call allocations
    if repeat_until is not None:  # the background process: keep the machine busy until told to stop
        (repeat_until.parent / f"{repeat_until.name}.ready").touch()
        while not repeat_until.exists():
            work()
        return 0.0
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


WORKERS = {"explain": explain_worker, "train": train_worker}


def _environment(policy: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in THREAD_VARIABLES}
    env.update(POLICIES[policy])
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _worker_command(name: str, stop_file: Path | None) -> list[str]:
    return [sys.executable, str(Path(__file__).resolve()), "--worker", name] + (["--stop-file", str(stop_file)] if stop_file else [])


def measure(name: str, policy: str, contended: bool) -> float:
    """Seconds of `name`'s timed work, alone or with the other workload looping beside it."""
    env = _environment(policy)
    background = None
    with tempfile.TemporaryDirectory() as scratch:
        stop = Path(scratch) / "stop"
        if contended:
            other = "train" if name == "explain" else "explain"
            background = subprocess.Popen(_worker_command(other, stop), env=env, cwd=ROOT, stdout=subprocess.DEVNULL)
            ready = Path(f"{stop}.ready")
            while not ready.exists():  # the background's models loaded and its warm-up done
                if background.poll() is not None:
                    raise RuntimeError(f"background worker {other} exited with {background.returncode}")
                time.sleep(0.2)
        try:
            out = subprocess.run(_worker_command(name, None), env=env, cwd=ROOT, capture_output=True, text=True, check=True)
        finally:
            if background is not None:
                stop.touch()
                background.wait(timeout=600)
    return json.loads(out.stdout.strip().splitlines()[-1])["seconds"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--worker", choices=sorted(WORKERS))
    parser.add_argument("--stop-file")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--policies", default="before,project")
    parser.add_argument("--workloads", default="explain,train")
    parser.add_argument("--out", default="results/benchmarks")
    args = parser.parse_args()
    if args.worker:
        seconds = WORKERS[args.worker](Path(args.stop_file) if args.stop_file else None)
        print(json.dumps({"seconds": seconds}))
        return

    from texplain.precision import cpu_flags, cpu_model

    policies, workloads = args.policies.split(","), args.workloads.split(",")
    seconds: dict[str, dict[str, dict[str, list[float]]]] = {p: {w: {"alone": [], "contended": []} for w in workloads} for p in policies}
    for repeat in range(args.repeats):
        order = policies if repeat % 2 == 0 else policies[::-1]
        for policy in order:
            for workload in workloads:
                for mode in ("alone", "contended"):
                    value = measure(workload, policy, mode == "contended")
                    seconds[policy][workload][mode].append(value)
                    print(f"repeat {repeat + 1} {policy:8s} {workload:8s} {mode:10s} {value:7.2f} s (load {os.getloadavg()[0]:.2f})", flush=True)

    summary = {}
    print(f"\n{'policy':8s} {'workload':8s} {'alone (s)':>10s} {'contended (s)':>14s} {'ratio':>6s}")
    for policy in policies:
        for workload in workloads:
            alone = statistics.median(seconds[policy][workload]["alone"])
            contended = statistics.median(seconds[policy][workload]["contended"])
            summary[f"{policy}/{workload}"] = {"alone_median_s": alone, "contended_median_s": contended, "contended_over_alone": contended / alone}
            print(f"{policy:8s} {workload:8s} {alone:10.2f} {contended:14.2f} {contended / alone:6.2f}")
    if "before" in policies:
        for policy in [p for p in policies if p != "before"]:
            for workload in workloads:
                ratio = summary[f"{policy}/{workload}"]["alone_median_s"] / summary[f"before/{workload}"]["alone_median_s"]
                summary[f"{policy}_alone_over_before_alone/{workload}"] = ratio
                print(f"{workload}: {policy} alone / before alone = {ratio:.3f}")

    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    record = {
        "benchmark": "contention", "date": stamp, "cpu_model": cpu_model(), "cpu_flags_bf16": [f for f in cpu_flags() if "bf16" in f or "amx" in f],
        "avx512": any(f.startswith("avx512") for f in cpu_flags()), "cpus": os.cpu_count(), "python": platform.python_version(),
        "policies": {p: POLICIES[p] for p in policies}, "repeats": args.repeats, "seconds": seconds, "summary": summary,
        "git_commit": subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip(),
    }
    out = ROOT / args.out / f"contention-{stamp}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=2) + "\n")
    print(f"written: {out}")


if __name__ == "__main__":
    main()
