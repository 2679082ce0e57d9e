"""The default world: the scenes of a `WorldSpec` written to a folder (docs/design.md#synthetic-worlds).

This is the world the default run trains its translator on and explains (harness/pipeline/
training_data.py). Its scenes come from `sample_scenes` (scene.py), its pixels and masks from
`render_scene` (rendering.py). The same spec gives byte-identical files.

Layout written by `make_world` (the formats of docs/design.md#data-formats, so readers cannot tell it from
real data): images/<id>.png, masks/<id>.npy (2-D uint8 0/1, same stem as the image), scenes.jsonl,
captions.jsonl ({"image", "caption"}) and world.json (the spec).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from tqdm import tqdm

from harness.worlds.rendering import render_scene
from harness.worlds.scene import Scene, WorldSpec, sample_scenes


def make_world(spec: WorldSpec, out_dir: Path, progress: bool = True) -> list[Scene]:
    """Render the world of `spec` into `out_dir` and return its scenes.

    Writes images/<id>.png, masks/<id>.npy, scenes.jsonl, captions.jsonl and world.json. The same
    spec gives byte-identical files. An `out_dir` holding a different world is an error.
    """
    out_dir = Path(out_dir)
    if is_finished_world(spec, out_dir):
        # Already rendered: read it back, write nothing (a rerun of a run must not re-render 1344 images).
        return load_scenes(out_dir)
    spec_json = world_file_text(spec)
    world_file = out_dir / "world.json"
    if world_file.exists() and world_file.read_text() != spec_json:
        raise FileExistsError(
            f"{world_file} describes a different world; pick another out_dir or delete {out_dir}"
        )
    (out_dir / "images").mkdir(parents=True, exist_ok=True)
    (out_dir / "masks").mkdir(parents=True, exist_ok=True)

    scenes = sample_scenes(spec)
    for scene in tqdm(scenes, desc=f"rendering world into {out_dir}", disable=not progress):
        image, mask = render_scene(scene, spec.image_size)
        # Fixed PNG parameters and no metadata: the bytes depend on the pixels only.
        image.save(out_dir / "images" / f"{scene.image_id}.png", format="PNG", compress_level=6, optimize=False)
        np.save(out_dir / "masks" / f"{scene.image_id}.npy", mask)

    with open(out_dir / "scenes.jsonl", "w") as f:
        for scene in scenes:
            f.write(json.dumps(scene.to_json(), sort_keys=True) + "\n")
    with open(out_dir / "captions.jsonl", "w") as f:
        for scene in scenes:
            f.write(json.dumps({"image": f"images/{scene.image_id}.png", "caption": scene.caption}) + "\n")
    # world.json last: its presence with matching content marks a finished world.
    world_file.write_text(spec_json)
    return scenes


def world_file_text(spec: WorldSpec) -> str:
    """The exact text of a finished world's world.json. Compared as text, not as parsed JSON: the spec
    holds tuples, which a JSON round trip turns into lists, so parsed values never equal `spec.to_json()`."""
    return json.dumps(spec.to_json(), indent=2, sort_keys=True) + "\n"


def is_finished_world(spec: WorldSpec, world_dir: Path) -> bool:
    """True when `world_dir` holds the finished world of `spec` (world.json, written last, matches it)."""
    world_file = Path(world_dir) / "world.json"
    return world_file.is_file() and (Path(world_dir) / "scenes.jsonl").is_file() and world_file.read_text() == world_file_text(spec)


def load_scenes(world_dir: Path) -> list[Scene]:
    """Read the scenes of a world written by `make_world`."""
    path = Path(world_dir) / "scenes.jsonl"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found; create the world first with make_world(spec, {world_dir})")
    scenes = []
    with open(path) as f:
        for line_number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                scenes.append(Scene.from_json(json.loads(line)))
            except (json.JSONDecodeError, ValueError, TypeError) as error:
                raise ValueError(f"{path}:{line_number} is not a valid scene record ({error}); rebuild the world") from error
    if not scenes:
        raise ValueError(f"{path} holds no scenes; rebuild the world with make_world")
    return scenes
