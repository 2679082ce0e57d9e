"""Place swaps: the counterfactual of a Waterbirds-world image with only its background changed.

Behaviour truth for shortcut use. Waterbirds (Sagawa et al., "Distributionally Robust Neural Networks
for Group Shifts", ICLR 2020) plants a class-place correlation, and the question every explainer of it is
asked is whether a classifier relies on the place. A real release cannot answer that per image: each of
its birds is pasted onto one Places photograph. A world can: it re-renders the same scene graph (same
object, colour, size, pose, position, distractors, the same render seed) with a background drawn from the
*other* place family (land <-> water). A model that relies on the place changes its prediction; one that
reads the object does not. The share of images whose prediction flips is the model's reliance on the
place, measured by behaviour, for any model and at no labelling cost; the images that flip are the ones
it gets right (or wrong) because of the place. This is the Background Challenge's mixed-rand / mixed-same
idea (Xiao et al., "Noise or Signal: The Role of Image Backgrounds in Object Recognition", ICLR 2021: the
same foreground on another background) made exact: the foreground is not cut out and pasted but rendered
again, so its pixels are bit-identical inside the exact mask and nothing else of the scene moves.

Why the object's pixels stay identical: rendering.py draws the background, the distractors and the object
from separate RNG streams of `Scene.render_seed`, and the object last, on top. Keeping the render seed and
changing only `Scene.background` changes the background stream's painter and nothing else.

Which background of the other family: a deterministic choice seeded by the scene's render seed (so by
the world's seed and the image's index), uniform over that family's backgrounds. The swapped scene's
caption is rewritten for the new background (same scene graph otherwise), so it stays a true caption.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from harness.datasets.waterbirds import SCENES_FILE, WaterbirdsDataset
from harness.worlds.caption_text import write_caption
from harness.worlds.output import WORLD_FILE, save_png
from harness.worlds.rendering import render_scene
from harness.worlds.scene import Scene
from harness.worlds.waterbirds_world import FORMAT, WaterbirdsWorldSpec
from texplain.errors import DatasetError

# Raised whenever a change can move a counterfactual's pixels (it belongs in the key of any cache of them).
PLACE_SWAP_VERSION = 1
# Tags the RNG stream of the swap's choices, apart from rendering.py's streams 0-2 and the caption variants' 3.
_SWAP_TAG = 17
_SCENE_FIELDS = tuple(f.name for f in dataclasses.fields(Scene))


@dataclass(frozen=True)
class PlaceSwap:
    """One (original, counterfactual) pair of a Waterbirds world: the same scene, the other place family."""

    img_id: int
    img_filename: str  # the original's file, relative to the world's root (as in metadata.csv)
    split: str
    y: int
    place: int  # the original's place; the counterfactual's is 1 - place
    original: Scene
    swapped: Scene

    @property
    def group(self) -> int:
        return 2 * self.y + self.place  # the original's group (group DRO's order)

    @property
    def swapped_place(self) -> int:
        return 1 - self.place


def swap_place(scene: Scene, place: int, spec: WaterbirdsWorldSpec) -> Scene:
    """The scene graph of `scene` (whose background belongs to place family `place` of `spec`) with its
    background replaced by one of the other family, chosen deterministically from the scene's render seed.

    Everything else, the render seed included, is kept: `render_scene` of the result draws the same
    object and distractors (see the module docstring), so only the background differs.
    """
    if place not in (0, 1):
        raise ValueError(f"place must be 0 (land) or 1 (water), got {place!r}")
    family = spec.backgrounds(place)
    if scene.background not in family:
        raise DatasetError(
            f"scene {scene.image_id}: background {scene.background!r} is not in place family {place} {list(family)} of this world's spec; "
            "the scene record and world.json disagree (rebuild the world with `texplain world waterbirds`)"
        )
    other = spec.backgrounds(1 - place)
    rng = np.random.default_rng([scene.render_seed, _SWAP_TAG])
    background = other[int(rng.integers(len(other)))]
    # The caption names the background, so it is rewritten from the same scene graph with the new one.
    caption = write_caption(scene.object_class, scene.color, scene.size, scene.position, background, scene.distractors, rng)
    return dataclasses.replace(scene, image_id=f"{scene.image_id}+place_swap", background=background, caption=caption)


def render_place_swap(swap: PlaceSwap, image_size: int) -> tuple[Image.Image, np.ndarray]:
    """The counterfactual image of `swap` and its object mask, (H, W) uint8 in {0, 1}.

    The mask equals the original's, and inside it the pixels equal the original's bit for bit; outside
    it the background is of the other place family (the distractors are drawn again, identically).
    """
    return render_scene(swap.swapped, image_size)


def world_spec(root: Path) -> WaterbirdsWorldSpec:
    """The spec of the Waterbirds world at `root` (its world.json), or an error saying why there is none."""
    path = Path(root) / WORLD_FILE
    if not path.is_file():
        raise DatasetError(
            f"{root} has no {WORLD_FILE}: place swaps need a synthetic Waterbirds world (harness/worlds/waterbirds_world.py); "
            "a real Waterbirds release has no counterfactual images (each bird is pasted onto one Places photograph)"
        )
    description = json.loads(path.read_text())
    if description.get("format") != FORMAT:
        raise DatasetError(f"{path} describes a {description.get('format')!r} world, not a {FORMAT!r} one; place swaps need a Waterbirds world")
    return WaterbirdsWorldSpec(**description["spec"])


def place_swaps(dataset: WaterbirdsDataset, split: str) -> list[PlaceSwap]:
    """The (original, counterfactual) pairs of one split of a Waterbirds world, in metadata.csv order.

    `dataset` is the world read by harness/datasets/waterbirds.py; its scene graphs (scenes.jsonl) and
    world.json (the families of each place) say what to swap. A real release has neither: an error says so.
    """
    if dataset.scene_graphs is None:
        raise DatasetError(
            f"{dataset.root} has no {SCENES_FILE}: place swaps re-render a scene graph, which only synthetic Waterbirds worlds record; "
            "a real Waterbirds release has no counterfactual images"
        )
    spec = world_spec(dataset.root)
    scenes = dataset.scene_graphs
    pairs = []
    for item in dataset.split(split):
        record = scenes.get(item.img_filename)
        if record is None:
            raise DatasetError(f"{dataset.root / SCENES_FILE} has no scene for {item.img_filename}; rebuild the world with `texplain world waterbirds`")
        if record.get("place") != item.place or record.get("y") != item.y:
            raise DatasetError(
                f"{dataset.root / SCENES_FILE}: the scene of {item.img_filename} has y={record.get('y')}, place={record.get('place')} "
                f"but metadata.csv says y={item.y}, place={item.place}; rebuild the world"
            )
        # The record holds the scene graph plus the row's fields (img_id, split, y, place, group): keep the former.
        original = Scene.from_json({k: v for k, v in record.items() if k in _SCENE_FIELDS})
        pairs.append(PlaceSwap(item.img_id, item.img_filename, item.split, item.y, item.place, original, swap_place(original, item.place, spec)))
    return pairs


def write_place_swaps(dataset: WaterbirdsDataset, split: str, out_dir: Path) -> list[tuple[PlaceSwap, Path]]:
    """Render the counterfactual of every image of `split` to ``out_dir/<img_filename>`` (lossless PNG, the
    world's own layout and image size, so a reader of the original reads it the same way); returns each
    pair with its counterfactual's path, in metadata.csv order. The original is ``dataset.root / img_filename``.
    """
    spec = world_spec(dataset.root)
    written = []
    for swap in place_swaps(dataset, split):
        image, _ = render_place_swap(swap, spec.image_size)
        path = Path(out_dir) / swap.img_filename
        save_png(image, path)  # fixed PNG parameters: the same pair gives the same bytes
        written.append((swap, path))
    return written
