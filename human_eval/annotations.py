"""A Label Studio JSON export read back into one row per rating (TExplain, Section 4.2, Figure 3).

The export (``projects.exports.as_json`` or the web UI's Export > JSON) is a list of tasks; each holds
its ``data`` (ours, with ``task_id``, ``study`` and, for study (a), ``word_list``) and its
``annotations``, whose ``completed_by`` is the rater (the server records the user whose token posted
it) and whose ``result`` holds the choices of our control (label_configs.py).

A rater is named by user id, "user 7", whichever form ``completed_by`` takes: the plain id of the web
UI's export, or ``{"id": 7, "email": ...}`` as a pull from the server writes it where the token may list
users. The email, where known, is kept beside the name (``ParsedExport.emails``), never instead of it,
so that the same ratings give the same rater names from a manual export and from the server.

Per study (a) rating: the words ticked and the count of matching words, derived from them ("none of
these" counts 0). A selection of "none of these" together with words contradicts itself and is set
aside (counted, not guessed at). Cancelled (skipped) annotations are left out and counted; when a rater
annotated a task twice the latest annotation is kept. A task or annotation without the fields this
needs is an error naming the task, not a crash later. Every annotation read is counted, in all and
per rater, so that the analysis can account for each one (kept, or set aside and why).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from human_eval.label_configs import NO, NONE_OF_THESE, SPECS, STUDY_A, STUDY_B, YES
from texplain.errors import TExplainError


class ExportFormatError(TExplainError):
    """A Label Studio export that lacks what the analysis needs."""


@dataclass(frozen=True)
class Rating:
    study: str
    task_id: str
    rater: str
    check: bool  # an attention-check task
    expected: str | None
    # study (a): the words ticked (without "none of these") and their count; study (b): "Yes" or "No".
    selected: tuple[str, ...] = ()
    count: int | None = None
    answer: str | None = None


@dataclass
class ParsedExport:
    ratings: list[Rating] = field(default_factory=list)
    tasks: dict[str, dict] = field(default_factory=dict)  # task_id -> its data, rated or not
    read: int = 0  # every annotation in the export, cancelled ones included
    read_by_rater: Counter = field(default_factory=Counter)
    emails: dict[str, str] = field(default_factory=dict)  # rater name -> email, where the export says
    # Set aside: read = cancelled + contradictory + unknown_words + replaced + len(ratings).
    cancelled: int = 0
    contradictory: int = 0  # study (a) only
    replaced: int = 0  # earlier annotations of a rater on a task, superseded by a later one
    unknown_words: int = 0  # study (a) only


def rater_name(user_id) -> str:
    return f"user {user_id}"


def _rater(annotation: dict, where: str, parsed: ParsedExport | None = None) -> str | None:
    """The rater's name ("user <id>"; the email only when the export gives no id); None when the
    annotation names nobody. The email, where given, is recorded in `parsed.emails`."""
    who = annotation.get("completed_by")
    email = None
    if isinstance(who, dict):
        email = who.get("email") or None
        who = who.get("id") if who.get("id") not in (None, "") else email
    if who is None or who == "":
        return None
    if isinstance(who, bool) or not isinstance(who, (int, str)):
        raise ExportFormatError(f"{where}: completed_by is {who!r}, not a user id; export JSON (not JSON-MIN) from Label Studio")
    text = str(who).strip()
    name = text if "@" in text else rater_name(int(text) if text.isdigit() else text)
    if email and parsed is not None:
        parsed.emails[name] = str(email)
    return name


def _choices(annotation: dict, study: str, where: str) -> list[str] | None:
    result = annotation.get("result")
    if not isinstance(result, list):
        raise ExportFormatError(f"{where}: the annotation has no 'result' list; export JSON (not JSON-MIN or CSV) from Label Studio")
    control = SPECS[study].control
    for region in result:
        if not isinstance(region, dict) or region.get("from_name") != control:
            continue
        choices = (region.get("value") or {}).get("choices")
        if not isinstance(choices, list):
            raise ExportFormatError(f"{where}: result of '{control}' has no value.choices list")
        return [str(c) for c in choices]
    return None


def parse_export(study: str, tasks: list[dict], source: str) -> ParsedExport:
    """Ratings of one study from its exported tasks; `source` (a file or server) names where in errors."""
    parsed = ParsedExport()
    latest: dict[tuple[str, str], tuple[tuple, Rating]] = {}
    for number, task in enumerate(tasks):
        data = task.get("data") if isinstance(task, dict) else None
        if not isinstance(data, dict) or "task_id" not in data:
            raise ExportFormatError(f"{source}: task {number} has no data.task_id; it was not made by `texplain ratings export`")
        task_id = data["task_id"]
        where = f"{source}: task {task_id}"
        if data.get("study") != study:
            raise ExportFormatError(f"{where}: data.study is {data.get('study')!r}, expected {study!r}; this export belongs to the other study")
        if study == STUDY_A and not isinstance(data.get("word_list"), list):
            raise ExportFormatError(f"{where}: data.word_list is missing; the task was not made by `texplain ratings export`")
        parsed.tasks[task_id] = data
        annotations = task.get("annotations")
        if annotations is None:
            raise ExportFormatError(f"{where}: no 'annotations' field; export JSON from Label Studio (it lists every task's annotations)")
        for annotation in annotations:
            if not isinstance(annotation, dict):
                raise ExportFormatError(f"{where}: an annotation is {type(annotation).__name__}, not an object; export JSON from Label Studio")
            parsed.read += 1
            rater = _rater(annotation, where, parsed)
            if rater is not None:
                parsed.read_by_rater[rater] += 1
            if annotation.get("was_cancelled"):
                parsed.cancelled += 1
                continue
            if rater is None:
                raise ExportFormatError(f"{where}: the annotation has no completed_by (the rater); export JSON (not JSON-MIN) from Label Studio")
            choices = _choices(annotation, study, where)
            if choices is None or not choices:
                parsed.cancelled += 1  # submitted without an answer to our question: nothing to rate
                continue
            rating = _rating(study, task_id, data, rater, choices, parsed, where)
            if rating is None:
                continue
            order = (str(annotation.get("updated_at") or annotation.get("created_at") or ""), int(annotation.get("id") or 0))
            key = (task_id, rater)
            if key in latest:
                parsed.replaced += 1
                if latest[key][0] > order:
                    continue
            latest[key] = (order, rating)
    parsed.ratings = [rating for _, rating in latest.values()]
    return parsed


def _rating(study: str, task_id: str, data: dict, rater: str, choices: list[str], parsed: ParsedExport, where: str) -> Rating | None:
    check, expected = bool(data.get("attention_check")), data.get("expected")
    if study == STUDY_B:
        if len(choices) != 1 or choices[0] not in (YES, NO):
            raise ExportFormatError(f"{where}: answer {choices} is not one of {YES!r} or {NO!r}; the project's labeling config was changed")
        return Rating(study, task_id, rater, check, expected, answer=choices[0])
    words = set(data["word_list"])
    chosen = [c for c in choices if c != NONE_OF_THESE]
    if NONE_OF_THESE in choices and chosen:
        parsed.contradictory += 1
        return None
    if any(c not in words for c in chosen):
        parsed.unknown_words += 1  # a choice that the task did not offer: the task data was edited
        return None
    return Rating(study, task_id, rater, check, expected, selected=tuple(sorted(chosen)), count=len(chosen))


def raters(ratings: list[Rating]) -> list[str]:
    return sorted({r.rater for r in ratings})


def counts_by_rater(ratings: list[Rating]) -> Counter:
    return Counter(r.rater for r in ratings)
