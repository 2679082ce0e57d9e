"""The Only-BG suite on a tiny Background-Challenge tree built here, with classifiers constructed to rely
on the background or on the object, and explanations that name what each image shows (suites/only_bg.py)."""

import json
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from harness.datasets.backgrounds_challenge import read_backgrounds_challenge
from suites.only_bg import OnlyBGConfig, OnlyBGSuite, ScoringClassifier, shortcut_words
from texplain.words import word_stats

CLASSES = ("boat", "car", "house")
PLANTED = {"boat": "water", "car": "grass", "house": "snow"}
BACKGROUNDS = ("water", "grass", "snow")
PER_CLASS = 6


def _tree(root: Path) -> dict[str, tuple[str, str]]:
    """original and only_bg_t of a balanced val split: every class on every background twice.
    Returns path name -> (class, background)."""
    truth = {}
    for class_name in CLASSES:
        for i in range(PER_CLASS):
            background = BACKGROUNDS[i % len(BACKGROUNDS)]
            stem = f"{class_name}_{i}"
            for variation in ("original", "only_bg_t", "mixed_same", "mixed_rand"):
                folder = root / variation / "val" / class_name
                folder.mkdir(parents=True, exist_ok=True)
                Image.new("RGB", (8, 8), (i * 20, 0, 0)).save(folder / f"{stem}.png")
                truth[f"{variation}/{stem}"] = (class_name, background)
    return truth


@dataclass
class _Outputs:
    keys: list[str]
    tokens: torch.Tensor


class _FakeContext:
    """Features are the path keys; an explanation names the image's background (and its object when the
    foreground is there): a faithful explainer, so the suite's selection decides what it reports."""

    def __init__(self, truth, tmp_path):
        self.truth = truth
        self.config = SimpleNamespace(seed=0, models=SimpleNamespace(classifier="fake"))
        self.progress = False
        self.cache_root = tmp_path / "cache"
        self.workers = SimpleNamespace(main_first=lambda: __import__("contextlib").nullcontext())

    def extract(self, paths):
        keys = [f"{p.parent.parent.parent.name}/{p.stem}" for p in paths]
        return _Outputs(keys, torch.zeros(len(paths), 1, 1))

    def explain(self, image_ids, tokens, samples_path, description=""):
        sentences = {}
        for image_id in image_ids:
            variation, class_name, stem = image_id.split("/")
            _, background = self.truth[f"{variation}/{stem}"]
            seen = f"a {class_name} " if variation == "original" else "a thing "
            sentences[image_id] = [f"{seen}on the {background} near a tree", f"the {background} looks nice today", "a picture of a tree"]
        return sentences


def _classifier(name, truth, relies_on: str) -> ScoringClassifier:
    by_background = {b: CLASSES.index(c) for c, b in PLANTED.items()}

    def predict(outputs):
        labels = []
        for key in outputs.keys:
            variation = key.split("/")[0]
            class_name, background = truth[key]
            if relies_on == "background":
                labels.append(by_background[background])
            elif variation == "original" or variation.startswith("mixed"):
                labels.append(CLASSES.index(class_name))  # sees the object
            else:
                labels.append((CLASSES.index(class_name) + 1) % len(CLASSES))  # no object: a wrong guess
        return np.array(labels)

    return ScoringClassifier(name, predict, f"constructed to rely on the {relies_on}")


def test_background_reliant_classifier_gets_full_recall_and_object_reliant_none(tmp_path):
    truth = _tree(tmp_path / "bg")
    val = read_backgrounds_challenge(tmp_path / "bg", "val")
    assert val.variations == ("original", "only_bg_t", "mixed_same", "mixed_rand")
    context = _FakeContext(truth, tmp_path)
    suite = OnlyBGSuite(OnlyBGConfig(num_classes=3, val_per_class=PER_CLASS, original_per_class=2, top_k=2))
    classifiers = [_classifier("shortcut", truth, "background"), _classifier("balanced", truth, "object")]
    out = tmp_path / "suite"
    out.mkdir()
    suite.run = lambda ctx, work_dir: suite.evaluate(ctx, val, classifiers, PLANTED, work_dir)
    summary = suite.execute(context, out)
    metrics = summary["metrics"]

    # The background classifier is right on original only where the background is the planted one (1/3),
    # and then keeps its label on only_bg_t; the object classifier never does.
    assert metrics["acc.original"] == pytest.approx(1 / 3)
    assert metrics["acc.only_bg_t"] == pytest.approx(1 / 3)
    assert metrics["keep_rate"] == 1.0 and metrics["kept"] == pytest.approx(1 / 3)
    assert metrics["balanced.acc.original"] == 1.0 and metrics["balanced.keep_rate"] == 0.0
    assert metrics["recall_at_k.shortcut"] == 1.0
    assert metrics["recall_at_k.balanced"] == 0.0
    assert metrics["recall_at_k.difference"] == 1.0
    # mixed_same/mixed_rand keep the object here and the background classifier reads the background:
    assert metrics["bg_gap"] == pytest.approx(metrics["acc.mixed_same"] - metrics["acc.mixed_rand"])
    words = summary["details"]["shortcut_words"]["shortcut"]
    assert [w for w, _ in words["boat"]][0] == "water" and [w for w, _ in words["car"]][0] == "grass"
    assert summary["details"]["shortcut_words"]["balanced"]["boat"] == []  # nothing kept, nothing claimed
    assert summary["stand_in"] is not None and summary["higher_is_better"]["recall_at_k.shortcut"] is True
    assert sorted(summary["figures"]) == sorted(
        f"suites/only_bg/cloud_{v}_{c}.png" for v in ("original", "only_bg_t") for c in CLASSES
    )
    records = [json.loads(line) for line in (out / "records.jsonl").read_text().splitlines()]
    assert len(records) == len(CLASSES) * PER_CLASS
    assert all(set(r["per_image_metrics"]) == {"acc.original", "acc.only_bg_t", "acc.mixed_same", "acc.mixed_rand", "kept"} for r in records)
    assert np.mean([r["per_image_metrics"]["kept"] for r in records]) == pytest.approx(metrics["kept"])

    # aggregate reads only the records: a brand-new instance (as in a fresh process) that never ran
    # gives the same metrics from the saved records.jsonl, recall@k included (it needs the planted truth).
    fresh = OnlyBGSuite(OnlyBGConfig(num_classes=3, val_per_class=PER_CLASS, original_per_class=2, top_k=2))
    assert fresh.aggregate(records) == metrics
    assert all(r["planted_background"] == PLANTED[r["class"]] and r["val_classes"] == list(CLASSES) for r in records)
    # Every record names its image in each variation, and the files are there.
    assert all(set(r["images"]) == {"original", "only_bg_t", "mixed_same", "mixed_rand"} for r in records)
    assert all(Path(path).is_file() and r["class"] in path for r in records for path in r["images"].values())
    details, _ = fresh.summarize(records, context, tmp_path / "again")
    assert details["planted_background"] == PLANTED and details["classifiers"]["shortcut"] == "constructed to rely on the background"


def test_shortcut_words_rank_by_excess_over_other_classes():
    kept = {"a": [word_stats(["water tree", "water sky"])], "b": []}
    every = {"a": kept["a"], "b": [word_stats(["tree grass", "tree sky"])]}
    ranked = shortcut_words(kept, every)
    assert ranked["a"][0] == ("water", 1.0)
    # "tree" is rarer in a's kept explanations than in b's and "sky" equally common: neither is a shortcut.
    assert ranked["a"] == [("water", 1.0)] and ranked["b"] == []


def test_a_tree_without_only_bg_t_is_refused(tmp_path):
    folder = tmp_path / "bg" / "original" / "val" / "boat"
    folder.mkdir(parents=True)
    Image.new("RGB", (8, 8)).save(folder / "x.png")
    val = read_backgrounds_challenge(tmp_path / "bg", "val")
    suite = OnlyBGSuite(OnlyBGConfig())
    with pytest.raises(Exception, match="needs original and only_bg_t"):
        list(suite.evaluate(_FakeContext({}, tmp_path), val, [], None, tmp_path))


def test_imagenet_predictions_are_mapped_to_in9_by_summed_probability():
    mapping_file = Path(__file__).parent / "data" / "backgrounds_challenge" / "in_to_in9.json"
    suite = OnlyBGSuite(OnlyBGConfig(dataset="/somewhere", in9_mapping=str(mapping_file)))
    context = SimpleNamespace(config=SimpleNamespace(models=SimpleNamespace(classifier="fake")))
    classifier = suite._imagenet_classifier(context, None)
    logits = torch.full((2, 1000), -20.0)
    logits[0, 151] = 5.0  # Chihuahua -> dog (IN-9 index 0)
    # Image 1: the single most likely ImageNet class is a fish (tench, 0), but three dog classes together hold more mass.
    logits[1, 0] = 5.0
    logits[1, [151, 152, 153]] = 4.5
    predicted = classifier.predict(SimpleNamespace(logits=logits))
    assert predicted.tolist() == [0, 0]
    with pytest.raises(Exception, match="maps 1000 ImageNet classes"):
        classifier.predict(SimpleNamespace(logits=torch.zeros(1, 10)))


def test_a_tree_with_an_unpaired_only_bg_t_image_is_refused(tmp_path):
    # Without the check the suite would pair original with only_bg_t one image short, silently.
    from harness.datasets.problems import Problem
    from texplain.errors import DatasetError

    truth = _tree(tmp_path / "bg")
    missing = tmp_path / "bg" / "only_bg_t" / "val" / "car" / "car_3.png"
    missing.unlink()
    suite = OnlyBGSuite(OnlyBGConfig(dataset=str(tmp_path / "bg")))
    with pytest.raises(DatasetError) as info:
        list(suite.run(_FakeContext(truth, tmp_path), tmp_path / "work"))
    assert [p.file for p in info.value.problems] == [missing]
    assert isinstance(info.value.problems[0], Problem)
    assert "stem 'car_3' of class 'car' exists in original" in str(info.value)
