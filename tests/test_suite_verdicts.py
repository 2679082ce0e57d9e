"""The verdicts of the Waterbirds, generative-latent and Only-BG suites' headlines (contracts/verdicts.py), from
constructed records shaped like each suite's own: a planted-faithful case passes, a planted-unfaithful one
fails (or is inconclusive where the data cannot decide), and every inconclusive row says why."""

from __future__ import annotations

import numpy as np
import pytest

from contracts.verdicts import MIN_IMAGES
from suites import SUITES
from suites.generative_latents.config import GenerativeLatentsConfig
from suites.generative_latents.scoring import mismatched_partners
from suites.only_bg import OnlyBGConfig
from suites.waterbirds.config import WaterbirdsConfig
from suites.waterbirds.verdicts import MIN_SEEDS
from texplain.words import word_stats

# ----------------------------------------------------------------------------------------------
# Waterbirds: the unit is a trained model (a seed)
# ----------------------------------------------------------------------------------------------

PER_GROUP = 10  # test images per group; group 1 (landbird on water) is the minority the shortcut hurts
TRAIN_COUNTS = (35, 2, 1, 11)


def _waterbirds_records(minority: dict[str, list[float]], detection: bool = False) -> list[dict]:
    """Records of a run whose methods are perfect on every test group but the minority one, where each method
    gets `minority[method][seed]` of its images right (so that accuracy is its worst group)."""
    seeds = len(next(iter(minority.values())))
    masked = [m for m in minority if m != "erm"]
    train = []
    for group, count in enumerate(TRAIN_COUNTS):
        for i in range(count):
            record = {"image_id": f"train/{group}-{i}", "split": "train", "group": group, "y": group // 2,
                      "class": "landbird" if group < 2 else "waterbird", "selected_word": [None] * seeds, "planted_words": None,
                      "masked_pixels": {m: [5] * seeds for m in masked},
                      "per_image_metrics": {"selected_share": 0.0, **{f"masked_share.{m}": 1.0 for m in masked}}}
            train.append(record)
    if detection:
        # Two detection images per class: the ERM model's explanations name the planted place more than the balanced one's.
        for name, place, group in (("landbird", "forest", 0), ("waterbird", "water", 3)):
            for i, record in enumerate([r for r in train if r["group"] == group][:2]):
                record["planted_words"] = [place]
                record["detection_words"] = {"erm": word_stats([f"a bird on the {place}", "a small bird"]).to_json(),
                                             "balanced": word_stats(["a small bird", "a bird on a branch"]).to_json()}
    test = []
    for group in range(4):
        for k in range(PER_GROUP):
            label = group // 2
            predictions = {}
            for method, rates in minority.items():
                # In the minority group the first round(rate * PER_GROUP) images are right, the others wrong.
                predictions[method] = [label if group != 1 or k < round(rates[s] * PER_GROUP) else 1 - label for s in range(seeds)]
            test.append({"image_id": f"test/{group}-{k}", "split": "test", "group": group, "y": label, "predictions": predictions,
                         "per_image_metrics": {f"avg_test.{m}": float(np.mean([p == label for p in v])) for m, v in predictions.items()}})
    return train + test


def _waterbirds_rows(minority, detection=False) -> dict[str, dict]:
    suite = SUITES.get("waterbirds")(WaterbirdsConfig())
    return {row["metric"]: row for row in suite.verdicts(_waterbirds_records(minority, detection), {})}


ERM5 = [0.5, 0.6, 0.5, 0.4, 0.5]
RAND5 = [0.5, 0.5, 0.6, 0.5, 0.4]


def test_waterbirds_one_seed_is_inconclusive_and_says_what_decides_it():
    rows = _waterbirds_rows({"erm": [0.5], "texplain_class_cam": [1.0], "randmask": [0.5], "randmask_all": [0.5], "masktune": [0.5]},
                            detection=True)
    # Test accuracy is reported, not judged: a mitigation that works keeps it where ERM has it.
    assert set(rows) == {"waterbirds.worst_group.texplain_class_cam", "waterbirds.detect.doc_freq_difference.mean"}
    for row in rows.values():
        assert row["verdict"] == "inconclusive" and "one seed" in row["reason"], row
        assert row["n"] == 1
    assert f"seeds={MIN_SEEDS}" in rows["waterbirds.worst_group.texplain_class_cam"]["reason"]
    # Detection runs at seed 0 only, and the row says that, with the difference it would rest on.
    detect = rows["waterbirds.detect.doc_freq_difference.mean"]
    assert "seed 0 only" in detect["reason"]
    assert detect["comparisons"][0]["control"] == "balanced_model" and detect["comparisons"][0]["difference"] == pytest.approx(0.5)


def test_waterbirds_five_seeds_with_a_clear_gain_pass():
    rows = _waterbirds_rows({"erm": ERM5, "texplain_class_cam": [0.9, 1.0, 0.9, 0.9, 1.0], "randmask": RAND5, "randmask_all": RAND5,
                             "masktune": [0.6, 0.6, 0.5, 0.6, 0.6]})
    worst = rows["waterbirds.worst_group.texplain_class_cam"]
    assert worst["verdict"] == "pass", worst["reason"]
    assert worst["n"] == 5 and worst["texplain"] == pytest.approx(0.94)
    by_control = {c["control"]: c for c in worst["comparisons"]}
    assert set(by_control) == {"erm", "randmask", "randmask_all", "masktune"}
    assert by_control["erm"]["difference"] == pytest.approx(0.94 - 0.5) and by_control["erm"]["low"] > 0


def test_waterbirds_five_seeds_with_a_control_as_good_fail():
    texplain = [0.9, 1.0, 0.9, 0.9, 1.0]
    rows = _waterbirds_rows({"erm": ERM5, "texplain_class_cam": texplain, "randmask": RAND5, "randmask_all": RAND5, "masktune": texplain})
    worst = rows["waterbirds.worst_group.texplain_class_cam"]
    assert worst["verdict"] == "fail" and "masktune" in worst["reason"]
    # No gain at all: as good as ERM.
    rows = _waterbirds_rows({"erm": ERM5, "texplain_class_cam": ERM5, "randmask": RAND5, "randmask_all": RAND5, "masktune": RAND5})
    assert rows["waterbirds.worst_group.texplain_class_cam"]["verdict"] == "fail"


def test_waterbirds_too_few_seeds_no_shortcut_or_a_missing_control_decide_nothing():
    two = {"erm": ERM5[:2], "texplain_class_cam": [0.9, 1.0], "randmask": RAND5[:2], "randmask_all": RAND5[:2], "masktune": RAND5[:2]}
    row = _waterbirds_rows(two)["waterbirds.worst_group.texplain_class_cam"]
    assert row["verdict"] == "inconclusive" and "2 seeds" in row["reason"] and f"seeds={MIN_SEEDS}" in row["reason"]
    # Three seeds whose changes are all positive but spread: a bootstrap would pass them (its lower end is about
    # the smallest change); the t interval over 2 degrees of freedom does not.
    three = {"erm": [0.5, 0.5, 0.5], "texplain_class_cam": [0.52, 0.7, 0.9], "randmask": [0.5, 0.5, 0.5], "randmask_all": [0.5, 0.5, 0.5],
             "masktune": [0.5, 0.5, 0.5]}
    row = _waterbirds_rows(three)["waterbirds.worst_group.texplain_class_cam"]
    assert row["verdict"] == "inconclusive" and row["unit"] == "seed" and "straddles" in row["reason"]
    # ERM is as good on its worst group as on average: nothing to mitigate, so not a fail of TExplain.
    perfect = [1.0] * 5
    row = _waterbirds_rows({"erm": perfect, "texplain_class_cam": perfect, "randmask": perfect, "randmask_all": perfect,
                            "masktune": perfect})["waterbirds.worst_group.texplain_class_cam"]
    assert row["verdict"] == "inconclusive" and "no shortcut" in row["reason"]
    row = _waterbirds_rows({"erm": [1.0], "texplain_class_cam": [1.0], "randmask": [1.0], "randmask_all": [1.0],
                            "masktune": [1.0]})["waterbirds.worst_group.texplain_class_cam"]
    assert row["verdict"] == "inconclusive" and row["reason"].startswith("one seed") and "no shortcut" in row["reason"]
    row = _waterbirds_rows({"erm": ERM5, "texplain_class_cam": [0.9, 1.0, 0.9, 0.9, 1.0], "randmask": RAND5,
                            "masktune": RAND5})["waterbirds.worst_group.texplain_class_cam"]
    assert row["verdict"] == "inconclusive" and "randmask_all" in row["reason"] and "not run" in row["reason"]


def test_waterbirds_one_seed_table_spread_is_na():
    suite = SUITES.get("waterbirds")(WaterbirdsConfig())
    records = _waterbirds_records({"erm": [0.5], "masktune": [0.6]})
    table, change = suite.tables(records, {})[:2]
    assert table["rows"][0][5].endswith("± n/a")
    assert change["rows"][0][2].endswith("± n/a")


# ----------------------------------------------------------------------------------------------
# generative_latents: the mismatched-captions control, paired over images
# ----------------------------------------------------------------------------------------------

METRIC_NAMES = ["rouge_l_coco", "rouge_l_f1", "meteor_nltk", "cosine"]


def _latent_records(n: int, matched, permuted) -> list[dict]:
    records = []
    for i in range(n):
        values = {f"{ref}.{m}": float(matched[i]) for ref in ("captioner", "truth") for m in METRIC_NAMES}
        mismatched = {f"{ref}.{m}": float(permuted[i]) for ref in ("captioner", "truth") for m in METRIC_NAMES}
        records.append({"image_id": f"c{i % 3}/{i}", "category": f"c{i % 3}", "per_image_metrics": values, "metric_names": METRIC_NAMES,
                        "mismatched_captions": {"partner": f"c{(i + 1) % 3}/{(i + 1) % n}", "per_image_metrics": mismatched}})
    return records


def _latent_rows(records) -> dict[str, dict]:
    suite = SUITES.get("generative_latents")(GenerativeLatentsConfig())
    return {row["metric"]: row for row in suite.verdicts(records, {})}


def test_generative_latents_rows_cover_the_headline_metrics_against_both_references():
    rng = np.random.default_rng(0)
    rows = _latent_rows(_latent_records(12, 0.6 + 0.05 * rng.standard_normal(12), 0.3 + 0.05 * rng.standard_normal(12)))
    # rouge_l_f1 is not a headline metric: no verdict.
    assert set(rows) == {f"generative_latents.{ref}.{m}" for ref in ("captioner", "truth") for m in ("rouge_l_coco", "meteor_nltk", "cosine")}
    for row in rows.values():
        assert row["verdict"] == "pass", row["reason"]
        assert row["min_effect"] == 0.02 and [c["control"] for c in row["comparisons"]] == ["mismatched_captions"]
        assert "another image" in row["reason"]


def test_generative_latents_template_text_that_scores_the_same_against_another_image_fails():
    rng = np.random.default_rng(1)
    permuted = 0.4 + 0.05 * rng.standard_normal(30)
    rows = _latent_rows(_latent_records(30, permuted + 0.002 * rng.standard_normal(30), permuted))
    row = rows["generative_latents.captioner.rouge_l_coco"]
    assert row["verdict"] == "fail" and "mismatched_captions" in row["reason"]


def test_generative_latents_few_images_or_no_control_decide_nothing():
    row = _latent_rows(_latent_records(3, [0.6, 0.7, 0.8], [0.1, 0.2, 0.1]))["generative_latents.captioner.cosine"]
    assert row["verdict"] == "inconclusive" and f"at least {MIN_IMAGES}" in row["reason"]
    records = _latent_records(12, [0.6] * 12, [0.1] * 12)
    for record in records:
        record.pop("mismatched_captions")  # written before the control existed
    row = _latent_rows(records)["generative_latents.captioner.cosine"]
    assert row["verdict"] == "inconclusive" and "not run" in row["reason"] and row["comparisons"][0]["control_value"] is None


@pytest.mark.parametrize("sizes", [(3, 3, 3, 1), (4, 2), (5, 1), (4,), (2, 2, 2, 2, 2, 2)])
def test_mismatched_partners_are_a_derangement_of_another_category_where_possible(sizes):
    ids = [f"c{c}/{k}" for c, size in enumerate(sizes) for k in range(size)]
    categories = {i: i.split("/")[0] for i in ids}
    partners = mismatched_partners(ids, categories, seed=0)
    assert sorted(partners) == sorted(ids) and sorted(partners.values()) == sorted(ids)  # every image's captions used once
    assert all(image != partner for image, partner in partners.items())
    if max(sizes) * 2 <= len(ids):
        assert all(categories[image] != categories[partner] for image, partner in partners.items())
    assert partners == mismatched_partners(ids, categories, seed=0)  # seeded
    assert mismatched_partners(ids[:1], categories, seed=0) == {}


# ----------------------------------------------------------------------------------------------
# Only-BG: recall@k difference against truth_captions, paired over classes
# ----------------------------------------------------------------------------------------------

PLACES = ("water", "grass", "sand", "snow", "road", "forest", "mountain", "beach", "desert", "field", "river", "lake")


def _only_bg_records(num_classes: int, explain: str) -> list[dict]:
    """Four explained only_bg_t images per class. The shortcut probe keeps images 2 and 3, the balanced one 0 and 1.

    explain="truth": images 2 and 3 show the class's planted place, 0 and 1 another one, and every explanation
    names the place it shows (the difference then comes from which images each probe keeps, as truth_captions'
    does). explain="features": every image shows another class's place, but the explanations of images 2 and 3
    name the planted place (what a planted-faithful explanation of a feature only the shortcut probe reads does)."""
    classes = [f"class{c:02d}" for c in range(num_classes)]
    planted = dict(zip(classes, PLACES))
    scored = [{"name": "shortcut", "description": "s"}, {"name": "balanced", "description": "b"}]
    records = []
    for c, name in enumerate(classes):
        other = PLACES[(c + 1) % num_classes]
        for k in range(4):
            shown = planted[name] if explain == "truth" and k >= 2 else other
            named = shown if explain == "truth" else (planted[name] if k >= 2 else "thing")
            records.append({
                "image_id": f"{name}/{k}", "class": name, "label": c, "val_classes": classes, "planted_background": planted[name],
                "classifiers": scored, "truth": {"background": shown, "object_class": name},
                "kept": {"shortcut": k >= 2, "balanced": k < 2},
                "predictions": {"shortcut": {"original": c, "only_bg_t": c}, "balanced": {"original": c, "only_bg_t": c}},
                "words_only_bg_t": word_stats([f"a {named} in the picture"]).to_json(), "per_image_metrics": {},
            })
    return records


def _only_bg_row(records) -> dict:
    suite = SUITES.get("only_bg")(OnlyBGConfig(num_classes=2))
    (row,) = suite.verdicts(records, {})
    assert row["metric"] == "only_bg.recall_at_k.difference" and [c["control"] for c in row["comparisons"]] == ["truth_captions"]
    return row


def test_only_bg_explanations_that_only_follow_the_images_each_probe_keeps_fail_against_truth_captions():
    records = _only_bg_records(MIN_IMAGES, "truth")
    row = _only_bg_row(records)
    assert row["texplain"] == 1.0  # the headline looks perfect...
    assert row["comparisons"][0]["control_value"] == 1.0  # ...and the true background words score it too
    assert row["verdict"] == "fail"
    metrics = SUITES.get("only_bg")(OnlyBGConfig(num_classes=2)).aggregate(records)
    assert metrics["recall_at_k.difference"] == row["texplain"]  # the verdict judges the headline itself


def test_only_bg_explanations_naming_what_only_one_probe_uses_pass():
    row = _only_bg_row(_only_bg_records(MIN_IMAGES, "features"))
    assert row["texplain"] == 1.0 and row["comparisons"][0]["control_value"] == 0.0
    assert row["verdict"] == "pass", row["reason"]


def test_only_bg_with_the_worlds_few_classes_is_inconclusive_and_says_both_probes_share_one_explanation():
    row = _only_bg_row(_only_bg_records(4, "truth"))
    assert row["verdict"] == "inconclusive" and row["n"] == 4
    assert "4 classes" in row["reason"] and "share one explanation per image" in row["reason"]
    assert row["comparisons"][0]["control_value"] == 1.0  # computed all the same, for the reader
    records = _only_bg_records(MIN_IMAGES, "truth")
    for record in records:
        record["truth"] = None  # a tree without scene graphs
    row = _only_bg_row(records)
    assert row["verdict"] == "inconclusive" and "truth_captions" in row["reason"] and "not run" in row["reason"]
