"""Label Studio tasks of the two studies (TExplain, Section 4.2, Figure 3), with stable ids and
attention checks.

Every task's data carries a ``task_id`` that joins it back to the run, the image, the words shown and
the classifier's prediction: a hash of exactly those, so exporting the same run again gives the same
ids (which is what makes ``push`` idempotent) and any change to what a rater sees gives a new id. The
data also carries those fields in the open (run, source, image_id, word_list, prediction, true_class),
so a Label Studio export alone is enough to analyse the ratings.

Attention checks are tasks with a known answer, mixed in at seeded random places:

- study (a): an image shown with words taken from an image of another class (or pooled from several,
  when one has too few left), leaving out every word of the image's own list; the expected answer is
  "none of these"; a check needs at least 3 such words, else it is not built (the manifest counts the
  checks built). A generic word can still fit by chance, so a check counts as passed with at most
  ``CHECK_A_TOLERANCE`` words ticked;
- study (b): the prediction paired with itself (expected Yes), or with a word from ``UNRELATED_WORDS``,
  abstract words no image class relates to (expected No); the two alternate, so that neither always
  answering Yes nor always No passes.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass

from human_eval.items import StudyItem
from human_eval.label_configs import NO, NONE_OF_THESE, STUDY_A, STUDY_B, YES
from texplain.errors import TExplainError

CHECK_A_TOLERANCE = 1
UNRELATED_WORDS = ("algebra", "invoice", "tuesday", "mortgage", "grammar", "pension", "syllabus", "tax")


@dataclass(frozen=True)
class TaskImage:
    """Where a task's image is, for the server (url) and on disk (path, relative to the ratings folder)."""

    url: str
    file: str | None


def task_id(study: str, run: str, item: StudyItem, shown: list[str], check: str | None) -> str:
    payload = json.dumps({"study": study, "run": run, "source": item.source, "image_id": item.image_id,
                          "shown": shown, "prediction": item.prediction, "check": check}, sort_keys=True)
    return f"{study}-{hashlib.sha256(payload.encode()).hexdigest()[:16]}"


def _base(study: str, run: str, item: StudyItem, shown: list[str], check: str | None, expected) -> dict:
    return {
        "task_id": task_id(study, run, item, shown, check),
        "study": study,
        "run": run,
        "source": item.source,
        "image_id": item.image_id,
        "prediction": item.prediction,
        "true_class": item.true_class,
        "correct": item.correct,
        "attention_check": check is not None,
        "check_kind": check,
        "expected": expected,
    }


def study_a_task(run: str, item: StudyItem, image: TaskImage, words: list[str], check: str | None = None) -> dict:
    data = _base(STUDY_A, run, item, words, check, NONE_OF_THESE if check else None)
    # The rater picks among the words and an explicit "none of these" (label_configs.py).
    data.update({"image": image.url, "image_file": image.file, "word_list": list(words),
                 "words": [{"value": w} for w in words] + [{"value": NONE_OF_THESE}]})
    return {"data": data}


def study_b_task(run: str, item: StudyItem, word: str, check: str | None = None, expected: str | None = None) -> dict:
    data = _base(STUDY_B, run, item, [word], check, expected)
    data.update({"top_word": word, "pair": f"classifier's top prediction: {item.prediction}    |    most frequent explanation word: {word}"})
    return {"data": data}


def _other_class_words(item: StudyItem, items: list[StudyItem], rng: random.Random, count: int) -> list[str] | None:
    own = set(item.words)
    others = [o for o in items if (o.true_class or o.prediction) != (item.true_class or item.prediction)]
    rng.shuffle(others)
    for other in others:
        words = [w for w in other.words if w not in own]
        if len(words) >= max(3, count // 2):
            return words[:count]
    # Explanations often share generic words, so no single other image may have enough left: pool the
    # words of every other class's images, most frequent first within an image.
    pooled = list(dict.fromkeys(w for other in others for w in other.words if w not in own))
    return pooled[:count] if len(pooled) >= 3 else None


def _insert(tasks: list[dict], checks: list[dict], rng: random.Random) -> list[dict]:
    out = list(tasks)
    for check in checks:
        out.insert(rng.randrange(len(out) + 1), check)
    return out


def build_tasks(run: str, items: list[StudyItem], images: dict[str, TaskImage], words: int, checks: int, seed: int) -> dict[str, list[dict]]:
    """{study: tasks} in the order of `items`, with `checks` attention checks per study mixed in."""
    if not items:
        raise TExplainError("ratings: no image to rate: the run has no record with top words and an image on disk")
    rng = random.Random(seed + 1)
    a_tasks = [study_a_task(run, item, images[item.key], list(item.words[:words])) for item in items]
    b_tasks = [study_b_task(run, item, item.words[0]) for item in items]
    a_checks, b_checks = [], []
    for index in range(checks):
        item = items[rng.randrange(len(items))]
        shown = _other_class_words(item, items, rng, words)
        if shown is not None:
            a_checks.append(study_a_task(run, item, images[item.key], shown, check=f"other-class-words-{index}"))
        if index % 2 == 0:
            b_checks.append(study_b_task(run, item, item.prediction, check=f"same-word-{index}", expected=YES))
        else:
            b_checks.append(study_b_task(run, item, UNRELATED_WORDS[index % len(UNRELATED_WORDS)], check=f"unrelated-word-{index}", expected=NO))
    tasks = {STUDY_A: _insert(a_tasks, a_checks, rng), STUDY_B: _insert(b_tasks, b_checks, rng)}
    for study, rows in tasks.items():
        ids = [t["data"]["task_id"] for t in rows]
        if len(set(ids)) != len(ids):
            raise TExplainError(f"ratings: study ({study}) has two tasks with one id: the run has duplicate records")
    return tasks
