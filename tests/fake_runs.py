"""Small run directories written directly as files (no models), for the report and compare tests.

They follow the run-directory contract of harness/pipeline/run.py and contracts/suite.py: config.json, metrics.json,
records.jsonl with per_image_metrics and word_stats, word-cloud PNGs, a world folder with the images,
and optional suites/<name>/{metrics.json, records.jsonl, figure}. By default they are of the current
format (contracts/formats.py: "format" fields, intervals, the current metric names);
``old_format=True`` writes what the harness wrote before: no "format", no intervals, and the top-k
rates under their old names (``OLD_NAMES``).

For the rating commands that talk to Label Studio, also a stand-in server that refuses every token
(``refusing_label_studio``) and a port nothing listens on (``free_port``).
"""

from __future__ import annotations

import contextlib
import http.server
import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from contracts.formats import METRICS_FORMAT, RECORDS_FORMAT
from contracts.intervals import intervals_of

CLASSES = ("bird", "boat", "car")
BACKGROUNDS = ("water", "grass", "road")
METRICS = ("explain.object_in_top_k_rate", "explain.background_in_top_k_rate", "explain.object_doc_freq_mean", "explain.background_doc_freq_mean")
# Format 1's names of the top-k rates (harness/reporting/run_reader.py RENAMED_METRICS maps them).
OLD_NAMES = {"explain.object_in_top_k_rate": "explain.object_top5_rate", "explain.background_in_top_k_rate": "explain.background_top5_rate",
             "explain.chance_object_in_top_k_rate": "explain.chance_object_top5_rate"}


def _png(path: Path, colour: tuple[int, int, int], label: str, size: tuple[int, int] = (240, 160)) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.new("RGB", size, (250, 250, 250))
    draw = ImageDraw.Draw(image)
    draw.ellipse((20, 20, size[0] - 20, size[1] - 20), fill=colour)
    draw.text((10, 5), label, fill=(30, 30, 30))
    image.save(path)
    return str(path)


def word_stats_json(words: dict[str, int], num_sentences: int) -> dict:
    return {"term_counts": dict(words), "doc_counts": dict(words), "num_sentences": num_sentences}


def make_run(
    root: Path,
    name: str = "run_a",
    num_images: int = 12,
    per_image: dict[str, list[float]] | None = None,
    class_words: dict[str, list[str]] | None = None,
    suites: dict[str, dict] | None = None,
    image_ids: list[str] | None = None,
    data: str = "synthetic world (harness/worlds/default_world.py), not real images",
    old_format: bool = False,
) -> Path:
    """A run directory at root/name.

    per_image: metric -> one value per image (default: a fixed pattern); class_words: class -> its
    explanation words (each image of the class gets them, in descending counts); suites: suite name ->
    {"metrics": ..., "per_image": {metric: [values]}, "paper": ..., "stand_in": ...}; old_format: see above.
    """
    run = Path(root) / name
    world = Path(root) / f"world_{name}"
    image_ids = image_ids or [f"img_{i:06d}" for i in range(num_images)]
    rng = np.random.default_rng(0)
    per_image = per_image or {m: [float(v) for v in rng.integers(0, 2, len(image_ids))] for m in METRICS}
    class_words = class_words or {c: [c, BACKGROUNDS[i], "small", "blue", "near", "picture", "bright", "left", "sky", "cloud", "sun"] for i, c in enumerate(CLASSES)}
    records, clouds = [], []
    for index, image_id in enumerate(image_ids):
        cls = CLASSES[index % len(CLASSES)]
        background = BACKGROUNDS[index % len(BACKGROUNDS)]
        _png(world / "images" / f"{image_id}.png", (40 + 60 * (index % 3), 120, 200 - 50 * (index % 3)), image_id)
        words = {w: 30 - rank * 2 for rank, w in enumerate(class_words[cls])}
        top = sorted(words.items(), key=lambda kv: -kv[1])
        records.append(
            {
                "image_id": image_id,
                "image": f"images/{image_id}.png",
                "truth": {"object": cls, "background": background, "color": "red", "caption": f"a red {cls} on the {background}."},
                "classifier_top1": {"index": 7, "name": "cock"},
                "top_words": [[w, c / 30] for w, c in top[:20]],
                "object_in_top_k": bool(per_image[METRICS[0]][index]) if METRICS[0] in per_image else True,
                "background_in_top_k": True,
                "num_sentences": 30,
                "word_stats": word_stats_json(words, 30),
                "per_image_metrics": {m: values[index] for m, values in per_image.items()},
            }
        )
        if not old_format:
            records[-1]["format"] = RECORDS_FORMAT
        if index < 3:
            clouds.append(f"wordclouds/image_{image_id}.png")
            _png(run / clouds[-1], (150, 150, 150), f"cloud {image_id}")
    for cls in CLASSES:
        clouds.append(f"wordclouds/class_{cls}.png")
        _png(run / clouds[-1], (220, 20, 20), f"class {cls}")
    means = {m: float(np.mean(v)) for m, v in per_image.items()}
    run_metrics = {**means, "explain.chance_object_in_top_k_rate": 0.0, "explain.num_images": len(image_ids), "explain.top_k": 5}
    metrics = {
        "format": METRICS_FORMAT,
        "metrics": run_metrics,
        "intervals": intervals_of(run_metrics, records, resamples=999),
        "definitions": {m: f"definition of {m}" for m in per_image},
        "higher_is_better": {m: True for m in per_image},
        "training": [{"epoch": e, "train_loss": 4.0 / e, "val_loss": 3.5 / e + 0.2, "seconds": 10.0} for e in range(1, 5)],
        "stage_seconds": {"world": 1.0, "features": 3.0, "translator": 20.0, "explain": 12.0, "words": 0.5},
        "total_seconds": 37.0,
        "seed": 0,
        "config_hash": "0123456789ab",
        "provenance": {"harness_version": "0.1.0", "git_commit": "abc123", "date": "2026-01-01T00:00:00+00:00", "device": "cpu", "device_name": "cpu", "python": "3.11", "libraries": {"torch": "2.14.1"}},
        "data": data,
        "models": {"classifier": "packaged:efficientnet_lite0", "decoder": "prefix:packaged:smollm2-135m"},
        "wordclouds": clouds,
        "world_dir": str(world),
        "feature_cache": {"hits": 0, "misses": len(image_ids)},
    }
    if old_format:
        metrics = _old_format(metrics)
        for record in records:
            record["per_image_metrics"] = {OLD_NAMES.get(m, m): v for m, v in record["per_image_metrics"].items()}
    run.mkdir(parents=True, exist_ok=True)
    (run / "config.json").write_text(json.dumps({"name": name, "seed": 0, "explain": {"min_doc_freq": 0.0, "top_k": 5}}))
    (run / "metrics.json").write_text(json.dumps(metrics))
    (run / "records.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    (run / "done").write_text("")
    for suite_name, spec in (suites or {}).items():
        folder = run / "suites" / suite_name
        folder.mkdir(parents=True)
        suite_per_image = spec.get("per_image", {})
        suite_records = [{"image_id": image_id, "per_image_metrics": {m: v[i] for m, v in suite_per_image.items()}} for i, image_id in enumerate(image_ids)]
        if not old_format:
            for record in suite_records:
                record["format"] = RECORDS_FORMAT
        (folder / "records.jsonl").write_text("".join(json.dumps(r) + "\n" for r in suite_records))
        figure = _png(folder / "clouds_only_bg_t.png", (20, 120, 20), f"{suite_name} figure")
        suite_metrics = spec.get("metrics", {m: float(np.mean(v)) for m, v in suite_per_image.items()})
        summary = {
            "format": METRICS_FORMAT,
            "suite": suite_name,
            "version": 1,
            "metrics": suite_metrics,
            "intervals": intervals_of(suite_metrics, suite_records, resamples=999),
            "higher_is_better": spec.get("higher_is_better", {m: True for m in suite_per_image}),
            "definitions": {m: f"suite definition of {m}" for m in suite_per_image},
            "paper": spec.get("paper", {}),
            "stand_in": spec.get("stand_in"),
            "figures": [str(Path(figure).relative_to(run))],
            "seconds": 2.5,
        }
        if "tables" in spec:
            summary["tables"] = spec["tables"]
        if old_format:
            summary = {k: v for k, v in summary.items() if k not in ("format", "intervals")}
        (folder / "metrics.json").write_text(json.dumps(summary))
    return run


def _old_format(metrics: dict) -> dict:
    """metrics.json as format 1 wrote it: no format, no intervals, the old names."""
    out = {k: v for k, v in metrics.items() if k not in ("format", "intervals")}
    for key in ("metrics", "definitions", "higher_is_better"):
        out[key] = {OLD_NAMES.get(m, m): v for m, v in metrics[key].items()}
    return out


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound once to find it, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Refuses(http.server.BaseHTTPRequestHandler):
    """Answers every request as Label Studio answers a wrong (or legacy) token: 401, {"detail": "Invalid token."}."""

    def do_GET(self):  # noqa: N802 (http.server's naming)
        body = json.dumps({"detail": "Invalid token."}).encode()
        self.send_response(401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_GET

    def log_message(self, *args):
        pass


@contextlib.contextmanager
def refusing_label_studio() -> Iterator[str]:
    """A stand-in Label Studio server on 127.0.0.1 that refuses every token, served from a thread; yields its URL."""
    server = http.server.HTTPServer(("127.0.0.1", 0), _Refuses)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
