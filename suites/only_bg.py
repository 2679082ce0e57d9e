"""Only-BG shortcut suite (TExplain, section "Only-BG": the Background Challenge / ImageNet-9 of Xiao et
al., "Noise or Signal: The Role of Image Backgrounds in Object Recognition", ICLR 2021).

Does the classifier keep its label when the foreground is hidden, and do the explanations of those
images name the background cues it keeps using? On any Background-Challenge-format tree
(harness/datasets/backgrounds_challenge.py) the suite reports

- accuracy per variation present, and BG-gap = acc(mixed_same) - acc(mixed_rand) when both are there;
- keep rate: of the images classified correctly on original, the share still classified correctly on
  only_bg_t (the label is kept with the foreground hidden);
- per-class word clouds of the explanations of original and of only_bg_t images;
- shortcut words of class c: words in the explanations of only_bg_t images of c that kept their label,
  ranked by how much more often they occur there (mean share of sentences) than in the explanations
  of the only_bg_t images of all other classes.

A 1000-class ImageNet classifier is scored on IN-9 through the ImageNet -> IN-9 mapping file: the softmax
mass of the ImageNet classes of each IN-9 class is summed and the largest of the nine is the prediction,
as the release's README prescribes.

On a synthetic world (dataset "synthetic") the truth is known, so the suite scores itself. It renders
one world whose train split plants a class-background correlation (train_correlation, 0.95 as in
Waterbirds) and one whose train split is balanced, trains a linear probe on the frozen classifier's
pooled features for each (the "shortcut" and the "balanced" classifier; the translator reads the same
frozen features, so one trained translator explains both), and evaluates both on the same val split,
whose backgrounds are uniform. Because val backgrounds are independent of the class, an only_bg_t
image keeps its label for the shortcut classifier mostly when its background is the class's planted
one, and at chance for the balanced classifier. recall@k asks, per class, whether the planted
background word is among the top-k shortcut words; a faithful explanation gives a clearly higher
recall for the shortcut classifier than for the balanced one. The numbers are reported whichever way
they fall.

Its verdict (contracts/verdicts.py) says what that difference can and cannot show. Both probes read the same
frozen features, and the translator reads them too, so every only_bg_t image gets ONE explanation for both:
the difference reflects only which images each probe keeps, never an explanation that tells the probes
apart. The suite therefore computes the same recall@k difference with ``truth_captions``, each explained
image's true background word (from the world's scene graph) standing in for its explanation, which an
explainer blind to the classifier reaches; TExplain must beat it, paired over classes, by ``MIN_EFFECT``.
recall@k is one hit or miss per class and a synthetic world has at most six classes, fewer than the
``MIN_IMAGES`` units a verdict needs, so the verdict is inconclusive today and says so; the row shows what
truth_captions scores beside TExplain.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch

from contracts.suite import SUITES, Suite
from contracts.verdicts import MIN_IMAGES, Gate, VerdictRule, decide
from harness.datasets.backgrounds_challenge import load_in9_mapping, read_backgrounds_challenge
from harness.worlds.backgrounds_world import BackgroundsWorldSpec, make_backgrounds_world
from harness.worlds.vocabulary import BACKGROUNDS, OBJECT_CLASSES
from texplain.errors import TExplainError
from texplain.hashing import hash_json
from texplain.wordcloud_render import empty_cloud_reason, render_wordcloud
from texplain.words import WordStats, merge_stats, word_stats

log = logging.getLogger(__name__)

SHORTCUT = "shortcut"
BALANCED = "balanced"
# recall_at_k.difference's smallest difference that matters: a share of classes, so one class in five.
MIN_EFFECT = 0.2
VERDICT_RULE = VerdictRule(("truth_captions",), MIN_EFFECT, (), "classifier")


@dataclass(frozen=True)
class OnlyBGConfig:
    """The Only-BG shortcut suite's settings: the run config's ``suites.only_bg`` section.

    dataset 'synthetic' renders a Background-Challenge-format world (harness/worlds) with a train split
    whose class-background correlation is planted (train_correlation) and a balanced val split, and
    scores the suite against that truth; otherwise it is the root of a Background-Challenge tree.
    """

    enabled: bool = True
    dataset: str = "synthetic"
    # ImageNet index -> IN-9 index JSON, for a 1000-class classifier on a real IN-9 tree.
    in9_mapping: str | None = None
    num_classes: int = 4  # synthetic: the first classes of the world, each with its own preferred background
    val_per_class: int = 8  # only_bg_t images explained per class
    original_per_class: int = 3  # original images explained per class (for the per-class clouds)
    train_per_class: int = 60  # synthetic: training images per class for the two stand-in classifiers
    train_correlation: float = 0.95  # synthetic: planted class-background correlation of the shortcut classifier
    image_size: int = 224
    world_seed: int = 1
    top_k: int = 5  # the k of recall@k over shortcut words

    def __post_init__(self) -> None:
        if not 0.0 <= self.train_correlation <= 1.0:
            raise ValueError(f"suites.only_bg.train_correlation must be in [0, 1], got {self.train_correlation}")
        for name in ("num_classes", "val_per_class", "top_k"):
            if getattr(self, name) < 1:
                raise ValueError(f"suites.only_bg.{name} must be >= 1, got {getattr(self, name)}")
        if self.num_classes < 2:
            raise ValueError("suites.only_bg.num_classes must be >= 2 (a shortcut needs classes to confuse)")


@dataclass(frozen=True)
class ScoringClassifier:
    """A classifier as this suite sees it: features -> labels in the dataset's class order."""

    name: str
    predict: Callable[[object], np.ndarray]  # ClassifierOutput -> (N,) int labels, -1 = outside the classes
    description: str


def linear_probe(pooled: torch.Tensor, labels: np.ndarray, seed: int):
    """A logistic-regression probe on frozen pooled features (deterministic: lbfgs, fixed seed)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, C=0.1, random_state=seed))
    probe.fit(pooled.float().numpy(), labels)
    return probe


def class_word(folder_name: str) -> str:
    """The word a class folder stands for: the release names IN-9's folders '00_dog' ... '08_fish'."""
    prefix, _, rest = folder_name.partition("_")
    return rest if prefix.isdigit() and rest else folder_name


def shortcut_words(
    kept: dict[str, list[WordStats]], all_by_class: dict[str, list[WordStats]], top: int = 10
) -> dict[str, list[tuple[str, float]]]:
    """Per class: words ranked by mean doc-frequency in kept only_bg_t explanations of the class minus
    that in the only_bg_t explanations of every other class. A class with no kept image has none."""
    result = {}
    for name, stats in kept.items():
        if not stats:
            result[name] = []
            continue
        others = [s for other, group in all_by_class.items() if other != name for s in group]
        vocabulary = set().union(*(s.doc_counts for s in stats))
        scored = []
        for word in vocabulary:
            inside = float(np.mean([s.doc_freq(word) for s in stats]))
            outside = float(np.mean([s.doc_freq(word) for s in others])) if others else 0.0
            if inside - outside > 0:
                scored.append((word, round(inside - outside, 4)))
        scored.sort(key=lambda pair: (-pair[1], pair[0]))  # ties by word: the ranking is deterministic
        result[name] = scored[:top]
    return result


@SUITES.register("only_bg")
class OnlyBGSuite(Suite):
    name = "only_bg"
    # 2: every record carries the val classes, its class's planted background and the scored classifiers
    # in order, so aggregate and summarize read only the records and a saved records.jsonl re-aggregates
    # to the same metrics (before, its sorted keys made 'balanced' the headline classifier on re-reading).
    # A run's metrics do not change.
    version = 4  # 4: verdict rows in metrics.json; 3: function words only and the lexicon filter (texplain/words.py)
    config_class = OnlyBGConfig
    headline = ("recall_at_k.*", "keep_rate", "acc.original", "acc.only_bg_t", "bg_gap")
    # Two classes, two explained only_bg_t images each, small images: seconds on tiny models.
    tiny_options = {"num_classes": 2, "val_per_class": 2, "original_per_class": 1, "train_per_class": 6, "image_size": 64}
    definitions = {
        "acc.<variation>": "accuracy of the scored classifier on that variation (synthetic: the shortcut probe)",
        "keep_rate": "of the val images classified correctly on original, the share still classified correctly on only_bg_t",
        "kept": "share of all val images classified correctly on both original and only_bg_t (the per-image mean of the kept flag)",
        "bg_gap": "acc(mixed_same) - acc(mixed_rand) (Xiao et al. 2021)",
        "recall_at_k.shortcut": "synthetic only: share of classes whose planted background word is among the top-k shortcut words, shortcut classifier",
        "recall_at_k.balanced": "the same for the classifier trained on balanced data",
        "recall_at_k.difference": "recall_at_k.shortcut - recall_at_k.balanced; both probes share one explanation per image, so it "
                                  "reflects which images each keeps; its verdict: above the same difference with each image's true "
                                  f"background word as its explanation (truth_captions), paired over classes, min effect {MIN_EFFECT:g}",
        "balanced.keep_rate": "keep rate of the balanced classifier",
        "balanced.kept": "kept share of the balanced classifier",
        "balanced.bg_gap": "BG-gap of the balanced classifier",
        "num_images": "val images scored (every variation present)",
        "num_explained_only_bg_t": "only_bg_t images explained (the shortcut words come from these)",
        "balanced.acc.<variation>": "accuracy of the balanced classifier on that variation",
    }
    paper = {
        "acc.original": "0.956 (ResNet-50 on IN-9, Xiao et al. 2021)",
        "acc.mixed_same": "0.862 (ResNet-50, Xiao et al. 2021)",
        "acc.mixed_rand": "0.789 (ResNet-50, Xiao et al. 2021)",
        "bg_gap": "0.073 (ResNet-50, Xiao et al. 2021)",
    }

    @property
    def higher_is_better(self) -> dict[str, bool]:  # type: ignore[override]
        # Accuracy is better high; keep rate and BG-gap measure reliance on backgrounds (lower is better);
        # recall of the planted background measures the explanation's faithfulness (higher is better).
        table = {"keep_rate": False, "kept": False, "bg_gap": False, "balanced.keep_rate": False, "balanced.kept": False, "balanced.bg_gap": False,
                 "recall_at_k.shortcut": True, "recall_at_k.difference": True, "recall_at_k.balanced": False}
        for variation in VARIATIONS:
            table[f"acc.{variation}"] = True
            table[f"balanced.acc.{variation}"] = True
        return table

    @classmethod
    def preflight(cls, config: OnlyBGConfig) -> list[str]:
        """A real Background-Challenge tree must be there, and so must the ImageNet -> IN-9 mapping."""
        problems = []
        if config.dataset != "synthetic":
            if not Path(config.dataset).is_dir():
                problems.append(f"suites.only_bg.dataset: {config.dataset} is not a folder (a Background Challenge tree); fix the path or --set suites.only_bg.dataset=synthetic")
            if config.in9_mapping is None:
                problems.append("suites.only_bg.in9_mapping: a real IN-9 tree with a 1000-class classifier needs the ImageNet->IN-9 mapping file (in_to_in9.json)")
            elif not Path(config.in9_mapping).is_file():
                problems.append(f"suites.only_bg.in9_mapping: {config.in9_mapping} does not exist")
        return problems

    # ------------------------------------------------------------------------------------------
    # Data and classifiers
    # ------------------------------------------------------------------------------------------

    def _synthetic(self, context) -> tuple[object, object, dict[str, str]]:
        """Render (or reuse) the planted and the balanced world; returns their datasets and the planted backgrounds."""

        cfg = self.config
        classes = OBJECT_CLASSES[: cfg.num_classes]
        backgrounds = BACKGROUNDS[: cfg.num_classes]  # one planted background per class, none left over
        datasets = {}
        for name, correlation, val_per_class in ((SHORTCUT, cfg.train_correlation, cfg.val_per_class), (BALANCED, None, 1)):
            spec = BackgroundsWorldSpec(
                classes=classes, backgrounds=backgrounds, images_per_class=val_per_class,
                train_images_per_class=cfg.train_per_class, train_correlation=correlation,
                val_correlation=None, image_size=cfg.image_size, seed=cfg.world_seed,
            )
            root = context.cache_root / "worlds" / f"backgrounds-{hash_json(spec.to_json())[:16]}"
            with context.workers.main_first():  # one process renders, the others find it done
                make_backgrounds_world(spec, root, progress=context.progress)
            datasets[name] = (read_backgrounds_challenge(root, split="val"), read_backgrounds_challenge(root, split="train"))
        planted = {c: spec.preferred_background(c) for c in classes}
        return datasets, planted

    def _features(self, context, items):
        return context.extract([item.path for item in items])

    def _probe_classifier(self, context, name: str, train_set) -> ScoringClassifier:
        items = train_set.items("original")
        labels = np.array([item.label for item in items])
        probe = linear_probe(self._features(context, items).pooled, labels, context.config.seed)
        return ScoringClassifier(
            name,
            lambda out, probe=probe: probe.predict(out.pooled.float().numpy()),
            f"linear probe on frozen {context.config.models.classifier} pooled features, trained on "
            f"{len(items)} images of a synthetic train split ({'planted correlation' if name == SHORTCUT else 'balanced backgrounds'})",
        )

    def _imagenet_classifier(self, context, dataset) -> ScoringClassifier:

        mapping = load_in9_mapping(self.config.in9_mapping)
        num_logits = None

        def predict(out) -> np.ndarray:
            nonlocal num_logits
            num_logits = out.logits.shape[1]
            if num_logits != mapping.shape[0]:
                raise TExplainError(
                    f"classifier has {num_logits} outputs but {self.config.in9_mapping} maps {mapping.shape[0]} ImageNet classes; "
                    "use a 1000-class ImageNet classifier or a mapping file for its label space"
                )
            # The release's recipe: sum the softmax mass of the ImageNet classes mapped to each IN-9 class,
            # then take the largest of the nine (classes mapped to -1 count for none).
            probabilities = out.logits.float().softmax(dim=1).numpy()  # (N, 1000)
            scores = np.stack([probabilities[:, mapping == c].sum(axis=1) for c in range(int(mapping.max()) + 1)], axis=1)  # (N, 9)
            return scores.argmax(axis=1)

        return ScoringClassifier("classifier", predict, f"{context.config.models.classifier} (ImageNet-1k, mapped to IN-9 by {self.config.in9_mapping})")

    # ------------------------------------------------------------------------------------------
    # The contract
    # ------------------------------------------------------------------------------------------

    def run(self, context, work_dir: Path) -> Iterator[dict]:
        cfg = self.config
        if cfg.dataset == "synthetic":
            datasets, planted = self._synthetic(context)
            classifiers = [self._probe_classifier(context, SHORTCUT, datasets[SHORTCUT][1]),
                           self._probe_classifier(context, BALANCED, datasets[BALANCED][1])]
            val = datasets[SHORTCUT][0]
        else:

            val = read_backgrounds_challenge(Path(cfg.dataset), split="val")
            planted = None
            classifiers = [self._imagenet_classifier(context, val)]
        yield from self.evaluate(context, val, classifiers, planted, work_dir)

    def evaluate(self, context, val, classifiers: list[ScoringClassifier], planted: dict[str, str] | None, work_dir: Path) -> Iterator[dict]:
        """Records for the val split of a Background-Challenge tree, scored for each classifier (the
        first is the one the headline metrics describe). `planted` maps class -> planted background
        word when the truth is known (synthetic worlds), enabling recall@k."""
        cfg = self.config
        classes = list(val.classes)
        # A list, not a dict: records.jsonl is written with sorted keys, and the first classifier is the
        # one the headline metrics describe.
        scored = [{"name": c.name, "description": c.description} for c in classifiers]
        scenes = val.scenes() or {}
        for needed in ("original", "only_bg_t"):
            if needed not in val.variations:
                raise TExplainError(f"{val.root} has no '{needed}' variation; the Only-BG suite needs original and only_bg_t")

        # Predictions of every classifier on every variation present (features are cached per image).
        predictions: dict[str, dict[str, dict[tuple[str, str], int]]] = defaultdict(dict)
        variation_items = {}
        for variation in val.variations:
            items = val.items(variation)
            variation_items[variation] = items
            outputs = self._features(context, items)
            for classifier in classifiers:
                labels = classifier.predict(outputs)
                predictions[classifier.name][variation] = {(it.class_name, it.stem): int(y) for it, y in zip(items, labels)}

        # Explanations: the first val_per_class only_bg_t and original_per_class original images per class.
        explained = []
        for variation, per_class in (("only_bg_t", cfg.val_per_class), ("original", cfg.original_per_class)):
            counts: dict[str, int] = defaultdict(int)
            for index, item in enumerate(variation_items[variation]):
                if counts[item.class_name] < per_class:
                    counts[item.class_name] += 1
                    explained.append((variation, index, item))
        limit = getattr(context, "limit", None)
        if limit:
            # A smoke run (--limit N): explain at most N images of each variation; predictions stay complete.
            explained = [e for v in ("only_bg_t", "original") for e in [x for x in explained if x[0] == v][:limit]]
        sentences = {}
        for variation in ("only_bg_t", "original"):
            chosen = [(index, item) for v, index, item in explained if v == variation]
            if not chosen:
                continue
            tokens = self._features(context, [item for _, item in chosen]).tokens  # (n, T, D)
            ids = [f"{variation}/{item.class_name}/{item.stem}" for _, item in chosen]
            sentences.update(context.explain(ids, tokens, work_dir / "samples.jsonl", description=f"only_bg: explain {variation}"))

        paths = {(variation, it.class_name, it.stem): str(it.path) for variation, items in variation_items.items() for it in items}
        for item in variation_items["original"]:
            key = (item.class_name, item.stem)
            record = {
                "image_id": f"{item.class_name}/{item.stem}",
                # The image file of every variation, so a reviewer can open what was explained and classified.
                "images": {v: paths[(v, *key)] for v in val.variations if (v, *key) in paths},
                "class": item.class_name,
                "label": item.label,
                "truth": scenes.get(item.stem),
                "predictions": {c.name: {v: predictions[c.name][v].get(key) for v in val.variations} for c in classifiers},
                # The label is kept when the image is classified correctly with and without its foreground.
                "kept": {c.name: predictions[c.name]["original"][key] == item.label and predictions[c.name]["only_bg_t"].get(key) == item.label for c in classifiers},
                "per_image_metrics": {},
                # What aggregate and summarize need besides the per-image values, on every record, so that
                # a saved records.jsonl is enough to recompute the metrics (recall@k averages over all classes).
                "val_classes": classes,
                "planted_background": planted[item.class_name] if planted is not None else None,
                "classifiers": scored,
            }
            for variation in ("only_bg_t", "original"):
                sample_id = f"{variation}/{item.class_name}/{item.stem}"
                if sample_id in sentences:
                    stats = word_stats(sentences[sample_id])
                    record[f"words_{variation}"] = stats.to_json()
                    record[f"top_words_{variation}"] = stats.top_k(10)
            main = classifiers[0].name
            for variation in val.variations:
                record["per_image_metrics"][f"acc.{variation}"] = float(record["predictions"][main][variation] == item.label)
            record["per_image_metrics"]["kept"] = float(record["kept"][main])
            yield record

    @staticmethod
    def _facts(records: list[dict]) -> tuple[list[str], dict[str, str] | None, list[dict]]:
        """The val classes, the planted background of each class (None when the truth is unknown) and the
        scored classifiers in order (name, description), as every record carries them."""
        if not records:
            return [], None, []
        planted = None
        if records[0]["planted_background"] is not None:
            by_class = {r["class"]: r["planted_background"] for r in records}
            planted = {c: by_class[c] for c in records[0]["val_classes"] if c in by_class}
        return records[0]["val_classes"], planted, records[0]["classifiers"]

    def _kept_and_all(self, records: list[dict], classifier: str, explanation: Callable[[dict], WordStats] | None = None):
        """Per class, the only_bg_t explanations of its kept images and of all its explained images; `explanation`
        reads an explained record's words (default: TExplain's; truth_explanation for the truth_captions control)."""
        explanation = explanation or (lambda record: WordStats.from_json(record["words_only_bg_t"]))
        kept: dict[str, list[WordStats]] = {c: [] for c in self._facts(records)[0]}
        every: dict[str, list[WordStats]] = defaultdict(list)
        for record in records:
            if "words_only_bg_t" not in record:
                continue
            stats = explanation(record)
            every[record["class"]].append(stats)
            if record["kept"][classifier]:
                kept[record["class"]].append(stats)
        return kept, every

    def aggregate(self, records: list[dict]) -> dict[str, float]:
        metrics: dict[str, float] = {}
        classes, planted, scored = self._facts(records)
        classifiers = [c["name"] for c in scored]
        for classifier in classifiers:
            prefix = "" if classifier == classifiers[0] else f"{classifier}."
            variations = records[0]["predictions"][classifier]
            for variation in variations:
                correct = [r["predictions"][classifier][variation] == r["label"] for r in records]
                metrics[f"{prefix}acc.{variation}"] = float(np.mean(correct))
            correct_original = [r for r in records if r["predictions"][classifier]["original"] == r["label"]]
            metrics[f"{prefix}keep_rate"] = float(np.mean([r["kept"][classifier] for r in correct_original])) if correct_original else 0.0
            metrics[f"{prefix}kept"] = float(np.mean([r["kept"][classifier] for r in records]))
            if "mixed_same" in variations and "mixed_rand" in variations:
                metrics[f"{prefix}bg_gap"] = metrics[f"{prefix}acc.mixed_same"] - metrics[f"{prefix}acc.mixed_rand"]
            if planted is not None:
                metrics[f"recall_at_k.{classifier}"] = float(np.mean(self._class_hits(records, classifier)))
        if planted is not None and f"recall_at_k.{SHORTCUT}" in metrics:
            metrics["recall_at_k.difference"] = metrics[f"recall_at_k.{SHORTCUT}"] - metrics[f"recall_at_k.{BALANCED}"]
        metrics["num_images"] = len(records)
        metrics["num_explained_only_bg_t"] = sum("words_only_bg_t" in r for r in records)
        return metrics

    def _class_hits(self, records: list[dict], classifier: str, explanation: Callable[[dict], WordStats] | None = None) -> list[float]:
        """Per val class, in order: 1 when its planted background word is among the top-k shortcut words of the
        classifier (recall@k is their mean), else 0."""
        classes, planted, _ = self._facts(records)
        kept, every = self._kept_and_all(records, classifier, explanation)
        words = shortcut_words(kept, every, top=self.config.top_k)
        # A class without val images has no record and no planted entry here; it has no words either: a miss.
        return [float(c in planted and planted[c] in [w for w, _ in words.get(c, [])]) for c in classes]

    def verdicts(self, records: list[dict], details: dict) -> list[dict]:
        """recall_at_k.difference against truth_captions, paired over classes (see the module's docstring)."""
        classes, planted, scored = self._facts(records)
        if planted is None or {SHORTCUT, BALANCED} - {c["name"] for c in scored}:
            return []  # no planted truth (a real IN-9 tree): no recall@k, no headline to judge

        def difference(explanation=None) -> list[float]:
            return [s - b for s, b in zip(self._class_hits(records, SHORTCUT, explanation), self._class_hits(records, BALANCED, explanation))]

        explained = [r for r in records if "words_only_bg_t" in r]
        truth = None
        if explained and all((r.get("truth") or {}).get("background") for r in explained):
            truth = difference(truth_explanation)
        n, k = len(classes), self.config.top_k
        gate = Gate(f"{n} classes" if n >= MIN_IMAGES else
                    f"recall@{k} is one hit or miss per class and this run has {n} classes: a verdict needs at least {MIN_IMAGES}, "
                    f"and a synthetic world has at most {len(BACKGROUNDS)} (one planted background each). Both probes read the same "
                    "frozen features and share one explanation per image, so the difference only reflects which images each keeps; "
                    "truth_captions (each image's true background word as its explanation) shows what that alone scores",
                    met=n >= MIN_IMAGES, value=float(n))
        verdict = decide("only_bg.recall_at_k.difference", difference(), {"truth_captions": truth}, VERDICT_RULE, [gate], unit="class",
                         not_run={"truth_captions": "the records hold no scene truth of the explained images"})
        return [verdict.to_json()]

    def summarize(self, records: list[dict], context, out_dir: Path) -> tuple[dict, list[str]]:
        _, planted, scored = self._facts(records)
        details: dict = {"classifiers": {c["name"]: c["description"] for c in scored}, "top_k": self.config.top_k}
        if planted is not None:
            details["planted_background"] = planted
        classifiers = [c["name"] for c in scored]
        details["shortcut_words"] = {}
        for classifier in classifiers:
            kept, every = self._kept_and_all(records, classifier)
            details["shortcut_words"][classifier] = shortcut_words(kept, every, top=10)
            details.setdefault("kept_explained", {})[classifier] = {c: len(v) for c, v in kept.items()}
        figures = []
        for variation in ("original", "only_bg_t"):
            by_class: dict[str, list[WordStats]] = defaultdict(list)
            for record in records:
                if f"words_{variation}" in record:
                    by_class[record["class"]].append(WordStats.from_json(record[f"words_{variation}"]))
            for name, stats in sorted(by_class.items()):
                merged = merge_stats(stats)
                filename = f"cloud_{variation}_{name}.png"
                # An explanation without content words gives a placeholder saying so, not a crash.
                render_wordcloud(dict(merged.top_k(50)), {class_word(name)}, out_dir / filename, seed=context.config.seed, empty_text=empty_cloud_reason(merged))
                figures.append(filename)
        return details, figures

    def stand_in(self, context) -> str | None:
        if self.config.dataset == "synthetic":
            return (
                "synthetic Background-Challenge-format world rendered by harness/worlds; the scored classifiers are "
                "linear probes trained here on frozen packaged-classifier features, not ImageNet models on IN-9"
            )
        return None


VARIATIONS = ("original", "only_bg_b", "only_bg_t", "no_fg", "only_fg", "mixed_same", "mixed_rand", "mixed_next")


def truth_explanation(record: dict) -> WordStats:
    """The truth_captions control's explanation of an only_bg_t image: its true background word alone, which an
    explainer faithful to the image and blind to the classifier names."""
    return word_stats([record["truth"]["background"]])
