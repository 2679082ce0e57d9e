"""Masks of the Waterbirds suite (suites/waterbirds/masks.py, methods.py): MaskTune's threshold on a
constructed heatmap, the mask mapped back through resize *and* crop to the right original pixels (MaskTune's
code ignores the crop offset), black pixels, and RandMask matching TExplain's count and areas exactly."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from suites.waterbirds.masks import apply_mask, classifier_view, mask_to_original, masktune_threshold, random_rectangle_mask, view_geometry
from suites.waterbirds.methods import randmask_masks


def test_masktune_threshold_is_mean_plus_two_std_of_the_strictly_positive_pixels():
    heatmap = np.zeros((4, 4))
    heatmap[0, :] = [0.1, 0.1, 0.1, 0.1]
    heatmap[1, :] = [0.1, 0.1, 0.1, 0.1]
    heatmap[2, :2] = [0.1, 1.0]
    # Positive pixels: nine at 0.1 and one at 1.0 -> mean 0.19, std 0.27, threshold 0.73; zeros do not count
    # (counting them would give mean 0.11875, std 0.234, threshold 0.587: the same pixel here, so check a second map).
    mask = masktune_threshold(heatmap)
    assert mask.sum() == 1 and mask[2, 1]
    graded = np.array([[0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0], [0.2, 0.2, 0.2, 0.2], [0.2, 0.2, 0.6, 0.62]])
    positive = graded[graded > 0]
    assert positive.mean() + 2 * positive.std() > 0.6  # with strictly positive pixels only, 0.6 stays unmasked...
    every = graded.mean() + 2 * graded.std()
    assert every < 0.6  # ...while over all pixels it would be masked
    assert (graded > every).sum() == 2
    assert not masktune_threshold(graded).any()  # threshold 0.658 over the positive pixels: 0.6 and 0.62 stay
    assert not masktune_threshold(np.zeros((3, 3))).any()  # no positive pixel: nothing masked


def test_view_geometry_resizes_the_short_side_and_centre_crops():
    geometry = view_geometry((100, 200), image_size=50, crop_pct=0.5)
    assert geometry.resized == (100, 200)  # short side to floor(50 / 0.5) = 100
    assert (geometry.crop_top, geometry.crop_left, geometry.crop_size) == (25, 75, 50)


def test_the_mask_maps_back_through_resize_and_crop_to_the_right_pixels():
    # Original 60 x 120, classifier input 20 px at crop_pct 0.5: resized to 40 x 80, crop at (10, 30).
    geometry = view_geometry((60, 120), image_size=20, crop_pct=0.5)
    assert geometry.resized == (40, 80) and (geometry.crop_top, geometry.crop_left) == (10, 30)
    crop = np.zeros((20, 20), dtype=bool)
    crop[0:4, 0:2] = True  # the crop's top-left 4 x 2 block
    back = mask_to_original(crop, geometry)
    assert back.shape == (60, 120)
    # Resized rows 10..13, cols 30..31 -> original scale 1.5: rows 15..20, cols 45..47.
    expected = np.zeros((60, 120), dtype=bool)
    expected[15:21, 45:48] = True
    assert np.array_equal(back, expected)
    # Ignoring the crop offset (MaskTune's code) would have put it at the top-left corner instead.
    assert not back[:15, :45].any()


def test_the_mapped_mask_blackens_what_the_classifier_saw_there():
    rng = np.random.default_rng(0)
    image = Image.fromarray(rng.integers(1, 255, size=(60, 120, 3), dtype=np.uint8))
    geometry = view_geometry((60, 120), image_size=20, crop_pct=0.5)
    crop = np.zeros((20, 20), dtype=bool)
    crop[8:12, 8:12] = True
    masked = apply_mask(image, mask_to_original(crop, geometry))
    assert (np.array(masked)[mask_to_original(crop, geometry)] == 0).all()
    view = np.array(classifier_view(masked, geometry))  # (20, 20, 3)
    assert (view[9:11, 9:11] == 0).all()  # the centre of the masked block is black in the classifier's view
    assert (view[0:6, 0:6] > 0).all()


def test_random_rectangles_have_exactly_the_requested_area():
    rng = np.random.default_rng(1)
    for area in (0, 1, 7, 50, 333, 64 * 48):
        mask = random_rectangle_mask((48, 64), area, rng)
        assert mask.sum() == area
        if area:
            rows, cols = np.nonzero(mask)
            # A rectangle, its last column possibly partial: bounding box holds it with less than one column to spare.
            height, width = rows.max() - rows.min() + 1, cols.max() - cols.min() + 1
            assert height * width - area < height
    with pytest.raises(ValueError):
        random_rectangle_mask((4, 4), 17, rng)


def test_randmask_matches_texplain_count_and_areas():
    shapes = [(32, 32)] * 20
    reference = [10, 40, 90, 5]  # pixel areas of four TExplain masks
    masks = randmask_masks(shapes, reference, all_images=False, rng=np.random.default_rng(3))
    assert len(masks) == len(reference)
    assert sorted(int(m.sum()) for m in masks.values()) == sorted(reference)
    everything = randmask_masks(shapes, reference, all_images=True, rng=np.random.default_rng(3))
    assert sorted(everything) == list(range(20))
    assert {int(m.sum()) for m in everything.values()} <= set(reference)
    assert randmask_masks(shapes, [], all_images=True, rng=np.random.default_rng(0)) == {}
