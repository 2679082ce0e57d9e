"""The explainer registry (contracts/explainers.py, the explainers package) and how every registered
explainer is scored by the same per-image metrics (harness/metrics/explain.py's score_explainers)."""

from __future__ import annotations

import pytest

from contracts.explainers import EXPLAINERS, ExplainerInputs, WordExplainer
from contracts.plugins import load_plugins
from explainers.permuted import derangement
from harness.metrics.explain import score_explainers
from texplain.words import DEFAULT_FILTER, word_stats

load_plugins()

# Four images whose run explanations name their own object and background (a planted-faithful run).
TRUTH = {
    "a": {"object": "bird", "background": "water"},
    "b": {"object": "car", "background": "road"},
    "c": {"object": "boat", "background": "water"},
    "d": {"object": "dog", "background": "grass"},
}


def _inputs(explanations: dict[str, list[str]], captions: dict[str, tuple[str, ...]] | None = None) -> ExplainerInputs:
    return ExplainerInputs(
        image_ids=tuple(TRUTH),
        texplain={i: word_stats(s, DEFAULT_FILTER) for i, s in explanations.items()},
        captions=captions if captions is not None else {i: (f"a {t['object']} on {t['background']}",) for i, t in TRUTH.items()},
        predicted={i: t["object"] for i, t in TRUTH.items()},
        word_filter=DEFAULT_FILTER,
        seed=0,
    )


FAITHFUL = {i: [f"a {t['object']} near the {t['background']}"] * 3 for i, t in TRUTH.items()}


def test_the_controls_are_registered_with_definitions():
    assert {"texplain", "image_blind", "permuted", "truth_captions"} <= set(EXPLAINERS.names())
    for name in EXPLAINERS.names():
        explainer = EXPLAINERS.get(name)
        assert explainer.name == name and explainer.definition.strip()


@pytest.mark.parametrize("name", EXPLAINERS.names())
def test_every_explainer_explains_every_image_or_says_it_cannot(name):
    stats = EXPLAINERS.get(name)().explain(_inputs(FAITHFUL))
    assert stats is None or set(stats) == set(TRUTH)


def test_a_planted_faithful_run_beats_the_image_blind_and_permuted_controls():
    table = score_explainers(TRUTH, _inputs(FAITHFUL), top_k=2, min_doc_freq=0.0)
    rate = {name: entry["metrics"]["explain.object_in_top_k_rate"] for name, entry in table.items() if entry["metrics"]}
    assert rate["texplain"] == 1.0 and rate["truth_captions"] == 1.0
    assert rate["permuted"] == 0.0  # another image's explanation never names this image's object
    assert rate["image_blind"] <= 0.5  # one list of two words for four different objects
    assert table["texplain"]["n"] == 4 and "explain.object_in_top_k_rate" in table["texplain"]["intervals"]


def test_an_image_blind_run_scores_no_better_than_its_control():
    # A planted-unfaithful run: the same sentences for every image.
    blind = {i: ["a bird near the water"] * 3 for i in TRUTH}
    table = score_explainers(TRUTH, _inputs(blind), top_k=2, min_doc_freq=0.0)
    assert table["texplain"]["metrics"] == table["image_blind"]["metrics"]


def test_truth_captions_cannot_explain_images_without_captions():
    table = score_explainers(TRUTH, _inputs(FAITHFUL, captions={}), top_k=2, min_doc_freq=0.0)
    assert table["truth_captions"]["metrics"] is None and table["truth_captions"]["reason"]


def test_derangement_moves_every_image():
    for count in (2, 3, 10):
        order = derangement(count, seed=count)
        assert sorted(order) == list(range(count)) and all(i != j for i, j in enumerate(order))


def test_a_new_explainer_is_one_class_the_table_picks_up():
    class EchoPrediction(WordExplainer):
        name = "echo_prediction_for_test"
        definition = "the predicted class name, for every sentence"
        reads_image = False

        def explain(self, inputs):
            return {i: word_stats([inputs.predicted[i]], inputs.word_filter) for i in inputs.image_ids}

    with EXPLAINERS.registered(EchoPrediction.name, EchoPrediction):
        table = score_explainers(TRUTH, _inputs(FAITHFUL), top_k=2, min_doc_freq=0.0)
    assert table["echo_prediction_for_test"]["metrics"]["explain.object_in_top_k_rate"] == 1.0
    assert "echo_prediction_for_test" not in EXPLAINERS


def test_a_registration_without_a_definition_is_refused():
    class Nameless(WordExplainer):
        name = "nameless_for_test"

        def explain(self, inputs):
            return None

    with pytest.raises(ValueError, match="definition"):
        EXPLAINERS.add(Nameless)
