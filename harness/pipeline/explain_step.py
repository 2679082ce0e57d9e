"""The explain step: N sentences per image from the frozen LM conditioned on the translator (paper,
Section 3: nucleus sampling, p = 0.95, 20-30 words), appended to a samples.jsonl one call at a time so a
killed run resumes where it stopped, and shared out over processes by image.
"""

from __future__ import annotations

from pathlib import Path

import torch
from tqdm.auto import tqdm

from contracts.files import append_jsonl, read_jsonl_prefix
from texplain.decoders.base import FrozenDecoder
from texplain.decoders.packaged_smollm2 import default_cache_dir
from texplain.device import autocast
from texplain.parallel import Workers, single_process
from texplain.precision import resolve_precision
from texplain.sampling import SamplingConfig, image_seed, sample_sentences_batch
from texplain.translators.base import Translator

# Raised whenever a code change can move sampled sentences (it enters the explain and suite stage keys).
EXPLAIN_STAGE_VERSION = 4  # 2: static-cache sampler engine (float rounding differs from 1); 3: bf16 logits sampled in float64 (nucleus_kernel); 4: fp32 matmuls on oneDNN-packed weights (last-bit differences; bf16 unchanged)


def cache_root() -> Path:
    """$TEXPLAIN_CACHE or ~/.cache/texplain: worlds, features and the de-quantized LM share one root."""
    return default_cache_dir()


def explain_images(
    decoder: FrozenDecoder,
    translator: Translator,
    image_ids: list[str],
    tokens: torch.Tensor,
    sampling: SamplingConfig,
    run_seed: int,
    precision_name: str,
    samples_path: Path,
    progress: bool,
    description: str = "explain",
    workers: Workers | None = None,
) -> dict[str, list[str]]:
    """Sentences per image; images already sampled by an earlier, killed attempt of the same stage (so
    under the same key) are kept and not sampled again.

    With several processes each samples its round-robin share into samples.rank<r>.jsonl beside
    samples_path and the shares are gathered; sentences depend only on the image's seed, so the result
    equals one process's, and part files of any earlier process count are valid to resume from."""
    workers = workers or single_process()
    done = sampled(samples_path)
    device = decoder.device
    precision = resolve_precision(precision_name, device)
    translator.eval()
    own = set(workers.shard(range(len(image_ids))))
    todo = [i for i, image_id in enumerate(image_ids) if image_id not in done and i in own]
    if workers.size > 1:
        samples_path = samples_path.with_name(f"{samples_path.stem}.rank{workers.rank}.jsonl")
    # Several images per sampler call keep its batch of rows full (a finished sentence's row takes the
    # next sentence, of the same or the next image); results are appended after every call, so a kill
    # loses at most one call's images.
    per_call = max(1, min(16, (4 * sampling.batch_size) // sampling.num_sentences))
    bar = tqdm(total=len(todo), desc=f"{description} ({sampling.num_sentences} sentences/image)", unit="img", disable=not progress or not todo)
    for start in range(0, len(todo), per_call):
        chunk = todo[start : start + per_call]
        with torch.no_grad():
            # One image at a time: a matmul's rounding can depend on its batch size, and an image's
            # sentences must not depend on which images share its call (or its process).
            conditionings = torch.cat([translator(tokens[i : i + 1].to(device)) for i in chunk]).float()  # (B, k, d)
        seeds = [image_seed(run_seed, image_ids[index]) for index in chunk]
        stops: list = []  # one StopRecord per image under adaptive stopping, None under fixed N
        with autocast(device, precision):
            sentences = sample_sentences_batch(decoder, conditionings, seeds, sampling, stops=stops)
        for index, seed, image_sentences, stop in zip(chunk, seeds, sentences, stops):
            stopping = {} if stop is None else {"stopping": stop.to_json()}  # fixed-N rows stay as they were
            append_jsonl(samples_path, {"image_id": image_ids[index], "seed": seed, **stopping, "sentences": image_sentences})
            done[image_ids[index]] = image_sentences
        bar.update(len(chunk))
    bar.close()
    if workers.size > 1:
        for share in workers.gather({i: done[i] for i in (image_ids[j] for j in own) if i in done}):
            done.update(share)
    return {image_id: done[image_id] for image_id in image_ids}


def sampled(samples_path: Path) -> dict[str, list[str]]:
    """Sentences already in samples_path and in any per-process part file beside it."""
    done = {}
    for path in [samples_path, *sorted(samples_path.parent.glob(f"{samples_path.stem}.rank*.jsonl"))]:
        done.update({row["image_id"]: row["sentences"] for row in read_jsonl_prefix(path)})
    return done
