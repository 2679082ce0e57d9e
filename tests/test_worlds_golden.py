"""Golden digests of one small world of each kind (default, Waterbirds, Background Challenge, COCO captions).

The cache keeps a world under the hash of its spec, not of its files, so a change to the scene
sampler, the caption writer or the renderer would leave every cached world in place while fresh
ones differ, and would move the default run's numbers. These digests were computed before the
scene code was split into harness/worlds/{vocabulary,scene,caption_text,rendering,default_world}.py,
and the split left them unchanged: a change that moves a pixel, a mask bit or a caption word fails
here (caption text version 2: captions of 20-30 words, only the captions and world.json moved;
pixels, masks and PNG bytes kept their digests). When such a change is meant, recompute them with `_grouped_digests` and say so in the commit
(cached worlds must then be deleted, and the default run's numbers in results/ re-measured).

Digests are grouped by file kind, so a failure says what moved: ".png" (file bytes), "pixels" (the
decoded RGB values; if only ".png" differs, the PNG encoder changed, not the picture), ".npy"
(masks), ".jsonl" (scene graphs and captions), ".json" (world.json, COCO annotations), ".csv"
(Waterbirds' metadata.csv). Each group digest covers the relative paths too, so a missing or renamed
file fails as well.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from world_checks import digests, read_rgb

from harness.worlds.backgrounds_world import BackgroundsWorldSpec, make_backgrounds_world
from harness.worlds.captions_world import CaptionsWorldSpec, make_captions_world
from harness.worlds.default_world import make_world
from harness.worlds.scene import WorldSpec
from harness.worlds.waterbirds_world import WaterbirdsWorldSpec, make_waterbirds_world

# Small enough to render in about a second, together large enough to use every class, background,
# distractor and position (the Background-Challenge world has all six classes and backgrounds).
WORLDS = {
    "default": lambda out: make_world(WorldSpec(num_images=12, image_size=64, seed=0), out, progress=False),
    "waterbirds": lambda out: make_waterbirds_world(
        WaterbirdsWorldSpec(train_size=8, val_size=4, test_size=4, image_size=48, seed=4), out, progress=False
    ),
    "backgrounds": lambda out: make_backgrounds_world(
        BackgroundsWorldSpec(images_per_class=2, train_images_per_class=3, image_size=48, seed=1), out, progress=False
    ),
    "captions": lambda out: make_captions_world(
        CaptionsWorldSpec(train_size=6, val_size=3, captions_per_image=5, image_size=48, seed=9), out, progress=False
    ),
}

# Computed with the scene code of commit 1948d01 (harness/worlds/synthetic.py, before the split); captions
# (.jsonl, world.json) recomputed for caption text version 3 (the object's closing sentence whenever it fits),
# and again for version 4 (each filler word in one phrase only): pixels, PNGs and masks kept their digests.
GOLDEN = {
    "backgrounds": {
        ".json": "0be36b70ed6cca87166161612fcaeef1bde3f49a930ebc449088bfd538278aa0",
        ".jsonl": "92cda4bfc4d2e713adc50fce81b01437fd5e7cc657581b47138e7bb790a746c4",
        ".npy": "45346b78c1c3062679b7df79ef6263bfa7a8257664396bc488be93265ba07906",
        ".png": "c614d48d083e918e116430c0cd8dccd2b37a5206c2e1507975e9520917614202",
        "pixels": "b9b411c89626de7a3379fa06f2a22b0d1532a2d689998df2a76c2868625895b9",
    },
    "captions": {
        ".json": "63878e66009f787fefa73680d69bb591b63e0a3cb038f95148dab0996d85b420",
        ".jsonl": "7ee0ceb3ed821d17ff7596d58cf476b2cbce81e95a964e94a62e566e49b4fe82",
        ".png": "9c30cc8fef3d933c59484fb5a67affa0ba8b0b96d94ba49ddc141bba06914f0b",
        "pixels": "00d5b211518526341b1461f9316b21fc48379f0703cf04f0159150f7232cb676",
    },
    "default": {
        ".json": "7a94483f3fe7cc9d1ec1faa5dded36e2bdf728e7a3fcc43ed5b027b4272d004f",
        ".jsonl": "b8277330807630c0504a817c2463e743eddc48afb68950ef1f82550edda4c8f7",
        ".npy": "74fbd071c3837f322eaa5d74f5005ebe6feb76d6afebdea116bb681a0aa33f8a",
        ".png": "23e3a0049e222d81d67718ad1fc0f61ee10a5e20c799bdf219ab83ad96026673",
        "pixels": "1752ed1a5934edeabf4da8e42aadc70a9113d9435f62f922915b8978e0eb6d4f",
    },
    "waterbirds": {
        ".csv": "fce45ae2394cf4b1ff185247ab71c87528f3d60154c087ef7f8758705ef2648f",
        ".json": "b8b225e8621021ac130eee6c051ca4c6dbd154e9189e011fe7dca7d3e1c4c628",
        ".jsonl": "a2a859630d3845f5c745d4c4d62e458f10206ccb56fd59baa133375e009b37d1",
        ".npy": "163ee25cc2ca76c1b8b028e79096aa90e5a31681ad6b70e98e9f3c5aff1f7f09",
        ".png": "ab11e28485e5456621393b0d496b004d4eeb20cb50ffe8085deea1f798a83a33",
        "pixels": "b751d0668f488fbcd50f824c8fb27b3d13b62e028cf51a2c470c2dca6eba6aab",
    },
}


def _grouped_digests(root: Path) -> dict[str, str]:
    """One sha256 per file kind over the sorted (relative path, file digest) pairs; see the module docstring."""
    lines: dict[str, list[str]] = {}
    for relative, digest in digests(root).items():  # sorted by path
        lines.setdefault(Path(relative).suffix, []).append(f"{relative} {digest}\n")
        if relative.endswith(".png"):
            pixels = read_rgb(root / relative)  # (H, W, 3)
            pixel_digest = hashlib.sha256(f"{pixels.shape}".encode() + pixels.tobytes()).hexdigest()
            lines.setdefault("pixels", []).append(f"{relative} {pixel_digest}\n")
    return {kind: hashlib.sha256("".join(rows).encode()).hexdigest() for kind, rows in sorted(lines.items())}


@pytest.mark.parametrize("kind", sorted(WORLDS))
def test_world_files_match_their_golden_digests(kind, tmp_path):
    WORLDS[kind](tmp_path / kind)
    assert _grouped_digests(tmp_path / kind) == GOLDEN[kind]
