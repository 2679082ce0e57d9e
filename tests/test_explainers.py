"""The explainer registry (contracts/explainers.py, the explainers package) and how every registered
explainer is scored by the same per-image metrics (harness/metrics/explain.py's score_explainers)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

from contracts.explainers import EXPLAINERS, ExplainerInputs, ExplainerUnavailable, TrainingData, WordExplainer
from contracts.plugins import load_plugins
from contracts.run_context import CaptionedFeatures
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


TRAINED = [name for name in EXPLAINERS.names() if EXPLAINERS.get(name).trained]


@pytest.mark.parametrize("name", EXPLAINERS.names())
def test_every_explainer_explains_every_image_or_says_it_cannot(name):
    try:
        stats = EXPLAINERS.get(name)().explain(_inputs(FAITHFUL))
    except ExplainerUnavailable as error:  # e.g. it needs the run's training data, which these inputs lack
        assert str(error).strip()
        return
    assert stats is None or set(stats) == set(TRUTH)


def test_the_trained_controls_are_registered():
    assert {"shuffled_captions", "random_classifier"} <= set(TRAINED)
    assert not any(EXPLAINERS.get(name).trained for name in ("texplain", "image_blind", "permuted", "truth_captions", "class_prior"))


@pytest.mark.parametrize("name", TRAINED)
def test_a_trained_control_cannot_explain_without_the_run(name):
    with pytest.raises(ExplainerUnavailable, match="RunContext"):
        EXPLAINERS.get(name)().explain(_inputs(FAITHFUL))
    # Its training data alone is not enough either: it trains through the run's context.
    with pytest.raises(ExplainerUnavailable, match="RunContext"):
        EXPLAINERS.get(name)().explain(dataclasses.replace(_inputs(FAITHFUL), training=_training()))


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


# ---- controls that read the run's training data -------------------------------------------------------

# Eight items of a run: five train, two validation, one held out (the explained image "h"), each with
# captions of its own, and the classifier's top-1 class of each.
CAPTIONS = [
    ["a bird on water", "a bird in the lake"],  # 0 train, predicted bird
    ["a bird in the forest"],  # 1 train, predicted bird
    ["a car on the road"],  # 2 train, predicted car
    ["a dog on grass"],  # 3 train, predicted car (a mistake of the classifier)
    ["a boat on water"],  # 4 train, predicted boat
    ["a horse in snow"],  # 5 val, predicted bird: not training captions of the class prior
    ["a cat on a sofa"],  # 6 val, predicted dog
    ["a bird near the sea"],  # 7 held out
]
PREDICTED = ("bird", "bird", "car", "car", "boat", "bird", "dog", "bird")


def _training(held_out_predicted: str = "bird") -> TrainingData:
    source = CaptionedFeatures(torch.zeros(len(CAPTIONS), 1, 4), [list(c) for c in CAPTIONS], {"classifier": "toy"}, {"dataset": "toy"})
    return TrainingData(
        source=source,
        image_paths=tuple(Path(f"/nonexistent/{i}.png") for i in range(len(CAPTIONS))),
        train_items=(0, 1, 2, 3, 4),
        val_items=(5, 6),
        held_out_items=(7,),
        predicted=PREDICTED[:-1] + (held_out_predicted,),
    )


def _trained_inputs(predicted: dict[str, str], seed: int = 0) -> ExplainerInputs:
    ids = tuple(predicted)
    return ExplainerInputs(
        image_ids=ids,
        texplain={i: word_stats(["a bird near the sea"], DEFAULT_FILTER) for i in ids},
        captions={i: ("a bird near the sea",) for i in ids},
        predicted=predicted,
        word_filter=DEFAULT_FILTER,
        seed=seed,
        training=_training(),
    )


def test_class_prior_gives_the_training_captions_of_the_predicted_class():
    inputs = _trained_inputs({"h_bird": "bird", "h_car": "car", "h_boat": "boat"})
    stats = EXPLAINERS.get("class_prior")().explain(inputs)
    assert set(stats) == set(inputs.image_ids)
    # Training items only (item 5, a validation image predicted "bird", is left out).
    assert stats["h_bird"] == word_stats(CAPTIONS[0] + CAPTIONS[1], DEFAULT_FILTER)
    assert stats["h_bird"].num_sentences == 3 and stats["h_bird"].doc_freq("bird") == 1.0 and stats["h_bird"].doc_freq("horse") == 0.0
    # By the prediction, not the truth: item 3 shows a dog but is predicted "car".
    assert stats["h_car"] == word_stats(CAPTIONS[2] + CAPTIONS[3], DEFAULT_FILTER)
    assert stats["h_car"].doc_freq("dog") == 0.5
    assert stats["h_boat"] == word_stats(CAPTIONS[4], DEFAULT_FILTER)


def test_class_prior_falls_back_to_every_training_caption_for_a_class_without_training_images():
    # "dog" is predicted only for a validation item, "zebra" for none.
    inputs = _trained_inputs({"h_dog": "dog", "h_zebra": "zebra"})
    stats = EXPLAINERS.get("class_prior")().explain(inputs)
    everything = word_stats([c for item in (0, 1, 2, 3, 4) for c in CAPTIONS[item]], DEFAULT_FILTER)
    assert stats["h_dog"] == stats["h_zebra"] == everything
    assert everything.num_sentences == 6 and everything.doc_freq("horse") == 0.0 and everything.doc_freq("cat") == 0.0


def test_class_prior_needs_the_training_data():
    with pytest.raises(ExplainerUnavailable, match="training captions"):
        EXPLAINERS.get("class_prior")().explain(_inputs(FAITHFUL))
    table = score_explainers(TRUTH, _inputs(FAITHFUL), top_k=2, min_doc_freq=0.0)
    assert table["class_prior"]["metrics"] is None and "training captions" in table["class_prior"]["reason"]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_shuffled_captions_gives_every_training_item_another_items_captions(seed):
    inputs = _trained_inputs({"h": "bird"}, seed=seed)
    original = inputs.training.source
    before = [list(c) for c in original.captions]
    source = EXPLAINERS.get("shuffled_captions")().feature_source(inputs)
    shuffled = list(inputs.training.train_items) + list(inputs.training.val_items)
    taken_from = []
    for item in shuffled:
        (other,) = [j for j in shuffled if CAPTIONS[j] == source.captions[item]]  # every item's captions are distinct
        assert other != item  # a derangement: no item keeps its own captions
        taken_from.append(other)
    assert sorted(taken_from) == sorted(shuffled)  # each item's captions go to exactly one other item
    for item in inputs.training.held_out_items:
        assert source.captions[item] == CAPTIONS[item]  # the explained images keep theirs
    assert source.tokens is original.tokens  # the same features, only the captions move
    assert source.source == {"classifier": "toy", "control": "shuffled_captions"}
    assert source.data["dataset"] == "toy" and source.data["captions_shuffled"] == {"seed": seed}
    assert [list(c) for c in original.captions] == before  # the run's own source is left as it was


def test_score_explainers_leaves_out_the_trained_controls_the_config_does_not_name():
    table = score_explainers(TRUTH, _inputs(FAITHFUL), top_k=2, min_doc_freq=0.0, trained=())
    for name in TRAINED:
        entry = table[name]
        assert entry["trained"] is True
        assert entry["metrics"] is None and entry["per_image"] == {} and entry["n"] == 0
        assert "controls.trained" in entry["reason"]
    assert table["texplain"]["trained"] is False
    assert table["texplain"]["per_image"]["explain.object_in_top_k_rate"] == [1.0] * len(TRUTH)
    # Named by the config but without the run to train in: not run either, and the reason says why.
    named = score_explainers(TRUTH, _inputs(FAITHFUL), top_k=2, min_doc_freq=0.0, trained=tuple(TRAINED))
    for name in TRAINED:
        assert named[name]["metrics"] is None and "RunContext" in named[name]["reason"]
