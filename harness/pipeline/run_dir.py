"""A run as a self-describing directory named by the hash of its resolved config (docs/design.md#run-directories,
after DomainBed): ``runs/<name>-<hash>/`` with config.json, samples.jsonl, records.jsonl,
metrics.json, wordclouds/, translator/ (model.safetensors + config.json) and a ``done`` marker. All
writes are atomic (write, then rename), and samples.jsonl is appended one complete line per image, so a
killed run resumes from the last complete image and never trusts a half-written line.
"""

from __future__ import annotations

from pathlib import Path

from contracts.files import atomic_write_text
from texplain.hashing import hash_json


class RunDir:
    def __init__(self, root: Path, config: dict, resolved: dict | None = None):
        """resolved: what the config leaves to the machine and this one chose (e.g. precision 'auto' ->
        bf16), hashed into the name too, so two kinds of machine sharing one --out never overwrite each other."""
        self.config_hash = hash_json({**config, "_resolved": resolved} if resolved else config)[:12]
        self.path = Path(root) / f"{config['name']}-{self.config_hash}"
        self.path.mkdir(parents=True, exist_ok=True)

    def __truediv__(self, name: str) -> Path:
        return self.path / name

    @property
    def done(self) -> bool:
        return (self.path / "done").exists()

    def mark_done(self) -> None:
        atomic_write_text(self.path / "done", "")
