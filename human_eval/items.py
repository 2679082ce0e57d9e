"""The explained images that the rating studies are built from (TExplain, Section 4.2, Figure 3).

An item is one explained image: its picture, its most frequent explanation words (records' top words,
most frequent first), the classifier's top prediction and, where known, its true class. Two sources:

- "main": the run's records.jsonl (harness/reporting/run_reader.py), the image in the run's world;
- "only_bg": the Only-BG suite's records (suites/only_bg.py), foreground-hidden images of the
  Background Challenge, as in the paper's studies. Their records name the image by class and stem, not
  by path, so the image is looked up: in the Background-Challenge tree of ``suites.only_bg.dataset``, or,
  for the synthetic world, in the world under ``$TEXPLAIN_CACHE/worlds`` whose scene records hold the
  record's scene. Items whose image cannot be found are left out, and the export says how many.

`select_items` picks the images (per class, at random or stratified by whether the prediction is
right), in a random order from a seed.
"""

from __future__ import annotations

import json
import random
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from harness.reporting.run_reader import FinishedRun
from human_eval.settings import StudySettings
from texplain.errors import TExplainError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".JPEG", ".JPG")


@dataclass(frozen=True)
class StudyItem:
    source: str  # "main" or "only_bg"
    image_id: str  # the record's image_id
    image_path: Path
    words: tuple[str, ...]  # most frequent first
    prediction: str  # the classifier's top-1 name
    true_class: str | None
    correct: bool | None  # prediction == true class, where both are known

    @property
    def key(self) -> str:
        return f"{self.source}:{self.image_id}"


def _main_items(run: FinishedRun, top: int) -> list[StudyItem]:
    items = []
    for record in run.records:
        words = tuple(w for w, _ in (record.get("top_words") or [])[:top])
        path = run.image_path(record)
        if not words or path is None or not path.is_file():
            continue
        truth = record.get("truth") or {}
        prediction = (record.get("classifier_top1") or {}).get("name")
        if prediction is None:
            continue
        true_class = truth.get("object")
        correct = None if true_class is None else prediction.strip().lower() == str(true_class).strip().lower()
        items.append(StudyItem("main", record["image_id"], path, words, prediction, true_class, correct))
    return items


def _world_roots(cache: Path) -> list[Path]:
    return sorted(p.parent for p in (cache / "worlds").glob("backgrounds-*/scenes_val.jsonl"))


def _find_synthetic_root(truth: dict, roots: list[Path], scenes_by_root: dict[Path, dict]) -> Path | None:
    """The world whose val scene of this stem is the record's scene (render seeds tell worlds apart)."""
    for root in roots:
        if root not in scenes_by_root:
            scenes = {}
            for line in (root / "scenes_val.jsonl").read_text().splitlines():
                if line.strip():
                    row = json.loads(line)
                    scenes[row.get("stem")] = row
            scenes_by_root[root] = scenes
        scene = scenes_by_root[root].get(truth.get("stem"))
        if scene is not None and scene.get("render_seed") == truth.get("render_seed"):
            return root
    return None


def _bg_image(root: Path, variation: str, class_name: str, stem: str) -> Path | None:
    for suffix in IMAGE_SUFFIXES:
        path = root / variation / "val" / class_name / f"{stem}{suffix}"
        if path.is_file():
            return path
    return None


def _only_bg_items(run: FinishedRun, top: int, variation: str, cache: Path) -> tuple[list[StudyItem], int]:
    suite = run.suites.get("only_bg")
    if suite is None:
        return [], 0
    dataset = str(((run.config.get("suites") or {}).get("only_bg") or {}).get("dataset", "synthetic"))
    roots = _world_roots(cache) if dataset == "synthetic" else [Path(dataset)]
    scenes_by_root: dict[Path, dict] = {}
    items, missing = [], 0
    for record in suite.records:
        words = tuple(w for w, _ in (record.get(f"top_words_{variation}") or [])[:top])
        if not words:
            continue  # this image was not explained in that variation
        class_name, classes = record.get("class"), record.get("val_classes") or []
        truth = record.get("truth") or {}
        stem = truth.get("stem") or str(record["image_id"]).split("/")[-1]
        root = _find_synthetic_root(truth, roots, scenes_by_root) if dataset == "synthetic" else roots[0]
        path = _bg_image(root, variation, class_name, stem) if root is not None and class_name else None
        # The first classifier is the one the suite's headline describes (suites/only_bg.py).
        scored = (record.get("classifiers") or [{}])[0].get("name")
        label = ((record.get("predictions") or {}).get(scored) or {}).get(variation)
        if path is None or label is None or not 0 <= int(label) < len(classes):
            missing += 1
            continue
        prediction = classes[int(label)]
        items.append(StudyItem("only_bg", record["image_id"], path, words, prediction, class_name, prediction == class_name))
    return items, missing


def collect_items(run: FinishedRun, settings: StudySettings, cache: Path) -> tuple[list[StudyItem], dict[str, int]]:
    """Every usable item of the chosen sources, and per source how many records had no findable image."""
    items: list[StudyItem] = []
    skipped: dict[str, int] = {}
    if "main" in settings.sources:
        main = _main_items(run, settings.words)
        skipped["main"] = len(run.records) - len(main)
        items += main
    if "only_bg" in settings.sources:
        only_bg, missing = _only_bg_items(run, settings.words, settings.only_bg_variation, cache)
        skipped["only_bg"] = missing
        items += only_bg
    return items, skipped


def select_items(items: list[StudyItem], settings: StudySettings) -> list[StudyItem]:
    """The items rated, in a random order drawn from settings.seed (one order for both studies)."""
    rng = random.Random(settings.seed)
    by_class: dict[tuple[str, str], list[StudyItem]] = defaultdict(list)
    for item in items:
        cls = item.true_class if item.true_class is not None else item.prediction
        if settings.classes is None or cls in settings.classes:
            by_class[(item.source, cls)].append(item)
    if settings.classes is not None and not by_class:
        raise TExplainError(f"ratings: none of the classes {list(settings.classes)} occurs in the run's records; fix --classes")
    chosen: list[StudyItem] = []
    if settings.selection == "random":
        pool = [item for key in sorted(by_class) for item in by_class[key]]
        chosen = rng.sample(pool, min(len(pool), settings.per_class * len(by_class)))
    else:
        for key in sorted(by_class):
            group = list(by_class[key])
            rng.shuffle(group)
            if settings.selection == "per_class":
                chosen += group[: settings.per_class]
                continue
            # stratified: as many right as wrong predictions, topped up from the other stratum when one runs short.
            if any(item.correct is None for item in group):
                raise TExplainError(f"ratings: selection 'stratified' needs the true class of every image, and source {key[0]!r} "
                                    "has records without it; use --selection per_class or random")
            right = [i for i in group if i.correct]
            wrong = [i for i in group if not i.correct]
            half = settings.per_class // 2
            take_wrong = wrong[: max(half, settings.per_class - len(right))]
            take_right = right[: settings.per_class - len(take_wrong)]
            chosen += take_right + take_wrong
    rng.shuffle(chosen)
    return chosen
