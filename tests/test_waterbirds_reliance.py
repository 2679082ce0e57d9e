"""Behaviour truth for shortcut use: the place swap of a Waterbirds-world image (harness/worlds/place_swap.py)
changes the background to the other place family and nothing else, deterministically; the flip rate it
measures (suites/waterbirds/reliance.py) comes out near 1 for a model that reads the place and 0 for one that
reads the object, with an interval that brackets it; and the suite turns cached predictions on the swaps into
reliance.flip_rate.* metrics without moving the metrics it had, and says why on a real release it has none."""

from __future__ import annotations

import contextlib
import dataclasses
import shutil
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from safetensors.torch import save_file
from world_checks import background_from_pixels, read_rgb

from contracts.intervals import intervals_of
from harness.datasets.waterbirds import read_waterbirds
from harness.pipeline.stages import StageStore
from harness.worlds.place_swap import place_swaps, render_place_swap, swap_place, world_spec, write_place_swaps
from harness.worlds.rendering import render_scene
from harness.worlds.waterbirds_world import WaterbirdsWorldSpec, make_waterbirds_world
from suites.waterbirds.config import WaterbirdsConfig
from suites.waterbirds.data import ImageSet, load_data
from suites.waterbirds.reliance import measure_reliance, reliance_of, swapped_rows
from suites.waterbirds.report import reliance_table
from suites.waterbirds.suite import RELIANCE_SKIPPED, WaterbirdsSuite
from suites.waterbirds.training import build_model
from texplain.errors import DatasetError

SPEC = WaterbirdsWorldSpec(train_size=4, val_size=4, test_size=24, image_size=48, seed=5)
VIEW = 48  # the classifier's crop, in pixels


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = make_waterbirds_world(SPEC, tmp_path_factory.mktemp("wb") / "world", progress=False)
    return read_waterbirds(root)


@pytest.fixture(scope="module")
def swaps(world, tmp_path_factory):
    return write_place_swaps(world, "test", tmp_path_factory.mktemp("swaps"))


def image_sets(world, swaps, masks=None) -> tuple[ImageSet, ImageSet]:
    # Identity normalisation: the planted models below read plain [0, 1] colours.
    rows = world.split("test")

    def make(shown):
        return ImageSet(shown, VIEW, 0.875, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0), masks=masks)

    return make(rows), make(swapped_rows(rows, [path for _, path in swaps]))


class PlaceReader(torch.nn.Module):
    """A planted place-only model: 'waterbird' where the image is bluer than green (water), whatever the object."""

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:  # (B, 3, S, S) -> (B, 2)
        score = (pixels[:, 2] - pixels[:, 1]).mean(dim=(1, 2))  # (B,)
        return torch.stack([-score, score], dim=1)


class Constant(torch.nn.Module):
    """A planted model that ignores the place entirely (it ignores the object too: the floor of the measurement)."""

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return torch.tensor([[0.0, 1.0]]).expand(len(pixels), 2)


# ----------------------------------------------------------------------------------------------------
# The counterfactual
# ----------------------------------------------------------------------------------------------------

def test_the_swap_changes_the_background_to_the_other_family_and_nothing_inside_the_mask(world, swaps):
    rows = {row.img_id: row for row in world.split("test")}
    assert [swap.img_id for swap, _ in swaps] == list(rows)  # every test image, in metadata.csv order
    candidates = SPEC.land_backgrounds + SPEC.water_backgrounds
    for swap, path in swaps:
        row = rows[swap.img_id]
        original, counterfactual = read_rgb(row.path), read_rgb(path)
        inside = world.mask(row).astype(bool)
        assert inside.any() and (~inside).any()
        # The object is bit-identical inside its exact mask; the background differs outside it.
        assert np.array_equal(original[inside], counterfactual[inside]), swap.img_id
        assert np.any(original[~inside] != counterfactual[~inside], axis=-1).mean() > 0.5, swap.img_id
        # Same scene graph but the background, which belongs to the other place family: by the record and by the pixels.
        assert dataclasses.replace(swap.swapped, background=swap.original.background, caption=swap.original.caption,
                                   image_id=swap.original.image_id) == swap.original
        assert swap.swapped_place == 1 - row.place
        assert swap.swapped.background in SPEC.backgrounds(1 - row.place)
        assert swap.swapped.background in swap.swapped.caption and swap.original.caption != swap.swapped.caption
        seen = background_from_pixels(counterfactual, inside.astype(np.uint8), candidates)
        assert int(seen in SPEC.water_backgrounds) == 1 - row.place, swap.img_id
        # The mask is the original's: the object did not move.
        assert np.array_equal(render_place_swap(swap, SPEC.image_size)[1], world.mask(row))
    # Water images go to both land backgrounds (a seeded choice within the family).
    assert {swap.swapped.background for swap, _ in swaps if swap.place == 1} == set(SPEC.land_backgrounds)


def test_the_original_scene_renders_the_original_file(world, swaps):
    # The record the swap is built from is the very scene of the file: the pair differs by the background only.
    for swap, _ in swaps[:4]:
        image, _ = render_scene(swap.original, SPEC.image_size)
        assert np.array_equal(np.asarray(image), read_rgb(world.root / swap.img_filename))


def test_the_swap_is_deterministic(world, swaps, tmp_path):
    again = write_place_swaps(world, "test", tmp_path / "again")
    for (first, path), (second, other) in zip(swaps, again):
        assert first == second
        assert path.read_bytes() == other.read_bytes()
    assert swap_place(swaps[0][0].original, swaps[0][0].place, SPEC) == swaps[0][0].swapped
    assert world_spec(world.root) == SPEC


def test_a_real_release_has_no_counterfactuals(world, tmp_path):
    root = tmp_path / "release"
    shutil.copytree(world.root, root)
    (root / "scenes.jsonl").unlink()
    with pytest.raises(DatasetError, match="real Waterbirds release has no counterfactual"):
        place_swaps(read_waterbirds(root), "test")
    (root / "world.json").unlink()
    with pytest.raises(DatasetError, match="no world.json"):
        world_spec(root)
    scene = place_swaps(world, "test")[0].original
    with pytest.raises(DatasetError, match="not in place family"):
        swap_place(scene, 1 - place_swaps(world, "test")[0].place, SPEC)


# ----------------------------------------------------------------------------------------------------
# The flip rate
# ----------------------------------------------------------------------------------------------------

def test_a_place_only_model_flips_and_an_object_only_model_does_not(world, swaps):
    originals, swapped = image_sets(world, swaps)
    place = measure_reliance(PlaceReader(), originals, swapped, 8, torch.device("cpu"))
    # It really reads the place: right on the originals' place, and on the counterfactuals' (the other one).
    places = np.array([row.place for row in originals.rows])
    assert np.mean([r["pred_original"] for r in place.records] == places) >= 0.9
    assert np.mean([r["pred_swapped"] for r in place.records] == 1 - places) >= 0.9
    assert place.overall.rate >= 0.9
    assert [r["image_id"] for r in place.records] == [f"test/{row.img_id}" for row in originals.rows]
    assert all(r["flipped"] == (r["pred_original"] != r["pred_swapped"]) for r in place.records)

    constant = measure_reliance(Constant(), originals, swapped, 8, torch.device("cpu"))
    assert constant.overall.rate == 0.0 and not any(r["flipped"] for r in constant.records)

    # The same place reader shown the object only (everything outside the exact mask black, in both images)
    # cannot flip: the object's pixels are the same in the pair, through the classifier's view too.
    outside = {k: ~world.mask(row).astype(bool) for k, row in enumerate(originals.rows)}
    originals, swapped = image_sets(world, swaps, masks=outside)
    assert measure_reliance(PlaceReader(), originals, swapped, 8, torch.device("cpu")).overall.rate == 0.0


def test_the_interval_brackets_the_rate_overall_and_per_group():
    n = 40
    ids = [f"test/{i}" for i in range(n)]
    labels = [i % 2 for i in range(n)]
    groups = [2 * (i % 2) + (i // 2) % 2 for i in range(n)]
    original = [0] * n
    swapped = [1 if i % 5 < 2 else 0 for i in range(n)]  # 16 of 40 flip
    reliance = reliance_of(ids, labels, groups, original, swapped)
    assert reliance.overall.rate == pytest.approx(0.4) and reliance.overall.n == n
    low, high = reliance.overall.interval.low, reliance.overall.interval.high
    assert 0.0 < low < 0.4 < high < 1.0
    assert set(reliance.per_group) == {"landbird_land", "landbird_water", "waterbird_land", "waterbird_water"}
    for key, rate in reliance.per_group.items():
        assert rate.n == 10 and rate.interval.low <= rate.rate <= rate.interval.high, key
    assert sum(rate.rate * rate.n for rate in reliance.per_group.values()) == pytest.approx(16)
    with pytest.raises(ValueError, match="one label, group and prediction per image"):
        reliance_of(ids, labels, groups, original, swapped[:-1])


# ----------------------------------------------------------------------------------------------------
# In the suite
# ----------------------------------------------------------------------------------------------------

class StageContext(SimpleNamespace):
    """What the suite's place-swap and reliance steps use of a RunContext: stages and main_first."""

    def stage(self, name, inputs, version=1):
        return self.store.stage(name, version, inputs)


def test_the_suite_caches_the_swaps_and_predictions_and_reports_flip_rates(tmp_path):
    cfg = WaterbirdsConfig(train_size=8, val_size=4, test_size=12, world_image_size=32, image_size=32, classifier="random:test_resnet")
    data = load_data(cfg, tmp_path / "cache")
    context = StageContext(store=StageStore(tmp_path / "stages"), workers=SimpleNamespace(main_first=contextlib.nullcontext))
    suite = WaterbirdsSuite(cfg)
    suite._mean, suite._std, suite._device, suite._precision = (0.5,) * 3, (0.5,) * 3, torch.device("cpu"), "fp32"
    test_rows = data.split("test")
    suite._test, suite._train_rows = suite._image_set(test_rows), data.split("train")

    swaps = suite._place_swaps(context, data, test_rows)
    images = sorted((tmp_path / "stages").glob("waterbirds-place-swap-*/images/*/*.png"))
    assert len(images) == len(test_rows) and len(swaps[1]) == len(test_rows)
    stamps = [p.stat().st_mtime_ns for p in images]
    assert suite._place_swaps(context, data, test_rows)[2] == swaps[2]  # reused, not rendered again
    assert [p.stat().st_mtime_ns for p in images] == stamps

    # Two "trained" models as the ERM stage leaves them (best.safetensors); random weights stand in for training.
    outputs = {}
    for which, seed in (("erm", 0), ("balanced", 1)):
        model_stage = context.stage("waterbirds-erm", {"fake": which})
        model = build_model(cfg.classifier, seed=seed)
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(model_stage / "best.safetensors"))
        outputs[which] = suite._reliance(context, model_stage, 0, swaps)
        assert suite._reliance(context, model_stage, 0, swaps) == outputs[which]  # cached
        assert len(outputs[which]["pred_swapped"]) == len(test_rows)

    train_ids = [f"train/{row.img_id}" for row in suite._train_rows]
    erm_predictions = {"erm": [outputs["erm"]["pred_original"]]}
    args = (data, train_ids, test_rows, erm_predictions, {}, [dict.fromkeys(train_ids)], {}, None)
    records = list(suite._records(*args, (swaps[1], {"erm": [outputs["erm"]], "balanced": [outputs["balanced"]]})))
    metrics = suite.aggregate(records)
    flips = [o != s for o, s in zip(outputs["erm"]["pred_original"], outputs["erm"]["pred_swapped"])]
    assert metrics["reliance.flip_rate.erm"] == pytest.approx(np.mean(flips))
    assert "reliance.flip_rate.balanced" in metrics
    groups = np.array([row.group for row in test_rows])
    for g, key in enumerate(("landbird_land", "landbird_water", "waterbird_land", "waterbird_water")):
        assert metrics[f"reliance.flip_rate.erm.{key}"] == pytest.approx(np.mean(np.array(flips)[groups == g]))
    # Every new metric is defined, has a direction, and gets its bootstrap interval from the per-image values.
    new = [m for m in metrics if m.startswith("reliance.")]
    assert len(new) == 10
    assert all(m in suite.higher_is_better for m in new)
    intervals = intervals_of(metrics, records)
    for name in new:
        assert intervals[name]["low"] <= metrics[name] <= intervals[name]["high"], name
    # The metrics the suite had are unchanged by the place swaps.
    before = suite.aggregate(list(suite._records(*args)))
    assert {k: v for k, v in metrics.items() if not k.startswith("reliance.")} == before

    details, _ = suite.summarize(records, None, tmp_path)
    assert details["reliance"]["models"]["erm"]["flip_rate"]["rate"] == pytest.approx(metrics["reliance.flip_rate.erm"])
    assert "erm_minus_balanced_seed0" in details["reliance"]
    table = reliance_table(details["reliance"])
    assert table["title"].startswith("Reliance on the place") and len(table["rows"]) == 2
    assert suite.tables(records, details)[-1]["title"] == table["title"]

    # A real release: no place swaps, and the details say why.
    real = WaterbirdsSuite(dataclasses.replace(cfg, dataset=str(data.dataset.root)))
    details, _ = real.summarize(list(suite._records(*args)), None, tmp_path)
    assert details["reliance"] == {"skipped": RELIANCE_SKIPPED} and "no counterfactual" in RELIANCE_SKIPPED
    assert reliance_table(details["reliance"]) is None
