"""A model that a suite loads by Hugging Face hub id or local folder, declared for preflight.

A suite on its real path loads models of its own (the generative-latent suite: Stable Diffusion, a BLIP
captioner, a BERT embedder). Each suite lists them (``Suite.hub_models(config)``, contracts/suite.py), and
preflight (harness/pipeline/preflight.py) checks every one before anything heavy starts, as it checks the
run's own classifier and decoder: a folder must hold the file a complete copy holds, a hub id must be in
the local Hugging Face cache or the hub must answer. Otherwise the run would die after its main stages,
hours in on the paper's settings.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable


@dataclass(frozen=True)
class HubModel:
    key: str  # the config key that names it, e.g. suites.generative_latents.generator
    name: str  # a hub id (owner/name) or a local folder
    files: tuple[str, ...]  # files a complete copy holds (any one will do), e.g. model_index.json for diffusers
    what: str  # what it is, for the message: "Stable Diffusion (diffusers)"

    def problem(self, reachable: Callable[[], bool]) -> str | None:
        """What is missing, as one sentence naming the key and the fix, or None when it can be loaded."""
        folder = Path(self.name).expanduser()
        if folder.exists():
            if folder.is_dir() and any((folder / file).is_file() for file in self.files):
                return None
            return f"{self.key}: {self.name} is not a {self.what} folder (it holds no {' or '.join(self.files)}); pass the folder that save_pretrained wrote"
        if self.name.startswith((".", "/", "~")) or self.name.count("/") > 1:
            return f"{self.key}: folder {self.name} does not exist; fix the path or give a hub id"
        if _cached(self.name, self.files) or reachable():
            return None
        return (
            f"{self.key}: {self.what} {self.name} is not in the local Hugging Face cache and the hub is unreachable; "
            f"download it once with a network (huggingface-cli download {self.name}) or pass a local folder"
        )


def _cached(repo_id: str, files: tuple[str, ...]) -> bool:
    from huggingface_hub import try_to_load_from_cache

    try:
        return any(isinstance(try_to_load_from_cache(repo_id, file), str) for file in files)
    except Exception:  # noqa: BLE001 - an id the hub library refuses (bad characters) is not cached
        return False
