"""Simulated raters for the rating-study tests (human_eval/): deterministic answers to exported tasks,
and the expected statistics computed by hand from the same design, independently of human_eval.

Design, over the non-check tasks of each study in export order (index i):
- study (a): a careful rater ticks the first i % 4 words ("none of these" when 0); the rater named
  "off-by-one" ticks one word more on every third task (i % 3 == 0);
- study (b): a careful rater answers Yes when i % 3 != 0; "off-by-one" answers Yes on every task;
- every careful rater answers the attention checks as expected; the "careless" rater ticks five
  words on every check of (a) and answers the opposite of the expected on checks of (b), and answers
  the ordinary tasks like a careful rater (so that dropping them changes no statistic but the counts).
"""

from __future__ import annotations

from human_eval.label_configs import NO, NONE_OF_THESE, YES

CAREFUL, OFF_BY_ONE, CARELESS = "careful", "off-by-one", "careless"


def answer(study: str, data: dict, index: int, kind: str) -> list[str]:
    """The choices a rater of `kind` gives on a task (index: its place among the study's non-check tasks)."""
    if data["attention_check"]:
        if kind == CARELESS:
            return list(data["word_list"][:5]) if study == "a" else [NO if data["expected"] == YES else YES]
        return [NONE_OF_THESE] if study == "a" else [data["expected"]]
    if study == "a":
        count = index % 4 + (1 if kind == OFF_BY_ONE and index % 3 == 0 else 0)
        return list(data["word_list"][:count]) or [NONE_OF_THESE]
    if kind == OFF_BY_ONE:
        return [YES]
    return [YES] if index % 3 != 0 else [NO]


def result(study: str, choices: list[str]) -> list[dict]:
    control, target = ("words", "image") if study == "a" else ("related", "pair")
    return [{"from_name": control, "to_name": target, "type": "choices", "value": {"choices": choices}}]


def rated(index: int, skip_every: int = 0, limit: int | None = None) -> bool:
    """Whether the non-check task at `index` gets ratings: with skip_every = k every k-th stays unrated;
    with limit = n only the first n are rated (the rest stay as tasks nobody rated yet)."""
    if limit is not None and index >= limit:
        return False
    return not (skip_every and index % skip_every == skip_every - 1)


def simulated_export(tasks: list[dict], study: str, raters: dict[str, str], skip_every: int = 0) -> list[dict]:
    """A Label Studio JSON export of `tasks` rated by `raters` (name -> kind); some tasks unrated (`rated`)."""
    out, index = [], 0
    for number, task in enumerate(tasks):
        data = task["data"]
        annotations = []
        if data["attention_check"] or rated(index, skip_every):
            for rater_number, (name, kind) in enumerate(sorted(raters.items())):
                annotations.append({"id": number * 10 + rater_number, "completed_by": {"id": rater_number + 1, "email": name},
                                    "was_cancelled": False, "result": result(study, answer(study, data, index, kind)),
                                    "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z"})
        out.append({"id": number + 1, "data": data, "annotations": annotations})
        if not data["attention_check"]:
            index += 1
    return out


# ---------------------------------------------------------------- statistics by hand


def nominal_alpha(units: list[list[int]]) -> float:
    """Krippendorff's alpha, nominal, from its coincidence matrix (Krippendorff 2011, section C):
    units = the values each item received (missing ratings simply absent)."""
    from collections import Counter

    o = Counter()
    for values in units:
        m = len(values)
        if m < 2:
            continue
        for i, c in enumerate(values):
            for j, k in enumerate(values):
                if i != j:
                    o[(c, k)] += 1 / (m - 1)
    n_c = Counter()
    for (c, _), v in o.items():
        n_c[c] += v
    n = sum(n_c.values())
    observed = sum(v for (c, k), v in o.items() if c != k) / n
    expected = sum(n_c[c] * n_c[k] for c in n_c for k in n_c if c != k) / (n * (n - 1))
    return 1 - observed / expected


def fleiss(units: list[list[int]]) -> float:
    """Fleiss' kappa (Fleiss 1971) for items that all have the same number of ratings."""
    from collections import Counter

    n = len(units[0])
    categories = sorted({v for values in units for v in values})
    counts = [Counter(values) for values in units]
    p = [sum(c[k] for c in counts) / (n * len(units)) for k in categories]
    agreement = [(sum(c[k] ** 2 for k in categories) - n) / (n * (n - 1)) for c in counts]
    p_bar, p_e = sum(agreement) / len(units), sum(x * x for x in p)
    return (p_bar - p_e) / (1 - p_e)


def interval_alpha(units: list[list[float]]) -> float:
    """Krippendorff's alpha, interval metric (c - k)^2, from the coincidence matrix (as nominal_alpha)."""
    from collections import Counter

    o = Counter()
    for values in units:
        m = len(values)
        if m < 2:
            continue
        for i, c in enumerate(values):
            for j, k in enumerate(values):
                if i != j:
                    o[(c, k)] += 1 / (m - 1)
    n_c = Counter()
    for (c, _), v in o.items():
        n_c[c] += v
    n = sum(n_c.values())
    observed = sum(v * (c - k) ** 2 for (c, k), v in o.items()) / n
    expected = sum(n_c[c] * n_c[k] * (c - k) ** 2 for c in n_c for k in n_c) / (n * (n - 1))
    return 1 - observed / expected


def expected_statistics(tasks: dict[str, list[dict]], kinds: list[str], skip_every: int = 0, limit: int | None = None) -> dict:
    """What the analysis must find for the simulated raters `kinds` (the careless one dropped), by hand."""
    from collections import Counter

    counts: dict[str, list[int]] = {}
    yes: dict[str, list[int]] = {}
    words: dict[str, int] = {}
    for study in ("a", "b"):
        index = 0
        for task in tasks[study]:
            data = task["data"]
            if data["attention_check"]:
                continue
            if rated(index, skip_every, limit):
                answers = [answer(study, data, index, kind) for kind in kinds]
                if study == "a":
                    counts[data["task_id"]] = [0 if a == [NONE_OF_THESE] else len(a) for a in answers]
                    words[data["task_id"]] = len(data["word_list"])
                else:
                    yes[data["task_id"]] = [int(a == [YES]) for a in answers]
            index += 1
    flat = [c for values in counts.values() for c in values]
    answers_b = [v for values in yes.values() for v in values]
    per_word = [[int(w < c) for c in counts[t]] for t in counts for w in range(words[t])]
    return {
        "a_ratings": len(flat),
        "a_distribution": Counter(flat),
        "a_mean_count": sum(sum(v) / len(v) for v in counts.values()) / len(counts),
        "a_alpha_interval": interval_alpha([list(map(float, v)) for v in counts.values()]),
        "a_per_word_alpha": nominal_alpha(per_word),
        "a_per_word_kappa": fleiss(per_word),
        "b_ratings": len(answers_b),
        "b_share_yes": sum(answers_b) / len(answers_b),
        "b_alpha": nominal_alpha(list(yes.values())),
        "b_kappa": fleiss(list(yes.values())),
        "a_items_rated": len(counts),
        "b_items_rated": len(yes),
    }
