"""Cascading model randomization (Adebayo et al., "Sanity Checks for Saliency Maps", NeurIPS 2018): the
classifier with its top blocks re-initialised (texplain/random_weights.py's randomize_top_blocks,
FrozenClassifier.from_spec(random_top_blocks=L)), the controls that train on its features
(explainers/cascading_randomization.py), and how the verdicts and the report treat them."""

from __future__ import annotations

import json

import pytest
import timm
import torch
from fake_runs import make_run

from contracts.explainers import EXPLAINERS
from contracts.plugins import load_plugins
from contracts.verdicts import CONTENT_CONTROLS
from harness.metrics.explain import explainer_verdicts
from harness.pipeline.preflight import _controls_problems
from harness.reporting.report import cascade_parts, write_report
from texplain.classifier import FrozenClassifier
from texplain.errors import TExplainError
from texplain.random_weights import randomize_top_blocks, seeded_weights

load_plugins()

CASCADE = ("random_top_blocks_1", "random_top_blocks_3", "random_top_blocks_5")
# timm's tiny test architectures: an EfficientNet with 5 stages of blocks, a ViT with 6 blocks.
STEMS = {"test_efficientnet": ("conv_stem.", "bn1."), "test_vit": ("patch_embed.", "cls_token", "pos_embed")}


def _trained_and_random(name: str) -> tuple[torch.nn.Module, torch.nn.Module]:
    """A stand-in for trained weights (every float tensor drawn from another seed, so any tensor taken from
    the random model differs from it) and the seeded random model of the same architecture."""
    trained = timm.create_model(name, pretrained=False)
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for tensor in trained.state_dict().values():
            if tensor.is_floating_point():
                tensor.copy_(torch.randn(tensor.shape, generator=generator))
    with seeded_weights():
        random_model = timm.create_model(name, pretrained=False)
    return trained, random_model


def _taken_from_random(result: torch.nn.Module, trained: torch.nn.Module, random_model: torch.nn.Module) -> set[str]:
    """The float tensors of `result` that are the random model's; every other one must be the trained one's, bit for bit."""
    trained_state, random_state = trained.state_dict(), random_model.state_dict()
    taken = set()
    for key, tensor in result.state_dict().items():
        if not tensor.is_floating_point():
            continue
        if torch.equal(tensor, random_state[key]):
            assert not torch.equal(tensor, trained_state[key]), key
            taken.add(key)
        else:
            assert torch.equal(tensor, trained_state[key]), f"{key} is neither the trained nor the random tensor"
    return taken


def _float_keys(model: torch.nn.Module) -> set[str]:
    return {key for key, tensor in model.state_dict().items() if tensor.is_floating_point()}


@pytest.mark.parametrize("name", sorted(STEMS))
def test_the_top_block_and_everything_after_it_are_randomized_and_nothing_below(name):
    trained, random_model = _trained_and_random(name)
    before = {key: tensor.clone() for key, tensor in trained.state_dict().items()}
    last = len(trained.blocks) - 1
    taken = _taken_from_random(randomize_top_blocks(trained, random_model, 1), trained, random_model)
    children = [child for child, _ in trained.named_children()]
    after = tuple(f"{child}." for child in children[children.index("blocks") + 1:])
    expected = {key for key in _float_keys(trained) if key.startswith((f"blocks.{last}.", *after))}
    assert taken == expected and any(key.startswith(f"blocks.{last}.") for key in taken)
    assert any(key.startswith(("classifier.", "head.")) for key in taken)  # the head is above the blocks
    # The trained model itself is left as it was.
    assert all(torch.equal(tensor, before[key]) for key, tensor in trained.state_dict().items())


@pytest.mark.parametrize("name", sorted(STEMS))
def test_randomizing_every_block_leaves_only_the_stem_trained(name):
    trained, random_model = _trained_and_random(name)
    taken = _taken_from_random(randomize_top_blocks(trained, random_model, len(trained.blocks)), trained, random_model)
    stem = {key for key in _float_keys(trained) if key.startswith(STEMS[name])}
    assert stem and taken == _float_keys(trained) - stem


def test_more_levels_randomize_more_blocks():
    trained, random_model = _trained_and_random("test_efficientnet")
    taken = [_taken_from_random(randomize_top_blocks(trained, random_model, levels), trained, random_model) for levels in (1, 3, 5)]
    assert taken[0] < taken[1] < taken[2]
    assert not any(key.startswith("blocks.1.") for key in taken[1]) and any(key.startswith("blocks.2.") for key in taken[1])


def test_a_model_without_blocks_is_refused_with_the_fix():
    model = timm.create_model("test_resnet", pretrained=False)
    with pytest.raises(TExplainError, match=r"timm:test_resnet has no `blocks`.*random_classifier"):
        randomize_top_blocks(model, model, 1, model_name="timm:test_resnet")


@pytest.mark.parametrize("levels", [0, 6, -1, True, 1.0])
def test_levels_out_of_range_are_refused(levels):
    trained, random_model = _trained_and_random("test_efficientnet")
    with pytest.raises(TExplainError, match="choose 1 to 5"):
        randomize_top_blocks(trained, random_model, levels, model_name="timm:test_efficientnet")


def test_another_architecture_is_refused():
    trained, _ = _trained_and_random("test_efficientnet")
    with pytest.raises(TExplainError, match="not the same architecture"):
        randomize_top_blocks(trained, timm.create_model("test_vit", pretrained=False), 1)


def test_the_cascade_controls_are_registered_trained_controls_and_not_ones_a_verdict_needs():
    for levels, name in zip((1, 3, 5), CASCADE):
        explainer = EXPLAINERS.get(name)
        assert explainer.name == name and explainer.levels == levels and explainer.definition.strip()
        assert explainer.trained and explainer.reads_image and explainer.reads_classifier
        assert name not in CONTENT_CONTROLS
    assert _controls_problems(CASCADE) == []  # controls.trained accepts them


@pytest.fixture(scope="module")
def checkpoint_spec(tmp_path_factory) -> str:
    """A timm spec that builds offline: a tiny EfficientNet's architecture and a local checkpoint of it."""
    path = tmp_path_factory.mktemp("classifier") / "test_efficientnet.pth"
    trained, _ = _trained_and_random("test_efficientnet")
    torch.save(trained.state_dict(), path)
    return f"timm:test_efficientnet@{path}"


def test_each_level_has_an_identity_of_its_own(checkpoint_spec):
    trained = FrozenClassifier.from_spec(checkpoint_spec)
    levels = {levels: FrozenClassifier.from_spec(checkpoint_spec, random_top_blocks=levels) for levels in (1, 3, 5)}
    assert "random_top_blocks" not in trained.identity()  # the cache keys of real classifiers are unchanged
    identities = [trained.identity()] + [classifier.identity() for classifier in levels.values()]
    assert all(identities.count(identity) == 1 for identity in identities)
    assert {levels: c.identity()["random_top_blocks"] for levels, c in levels.items()} == {1: 1, 3: 3, 5: 5}
    # Seeded: a rerun builds the same weights, so it reuses its cached features.
    assert FrozenClassifier.from_spec(checkpoint_spec, random_top_blocks=3).identity() == levels[3].identity()
    # The stem is still the trained classifier's.
    assert torch.equal(levels[5].model.conv_stem.weight, trained.model.conv_stem.weight)


def test_what_cannot_be_randomized_by_blocks_is_refused(checkpoint_spec):
    with pytest.raises(TExplainError, match="python: factory decides its own weights"):
        FrozenClassifier.from_spec("python:own_models:build@layer4", random_top_blocks=1)  # refused before any import
    with pytest.raises(TExplainError, match="ask for one"):
        FrozenClassifier.from_spec(checkpoint_spec, random_weights=True, random_top_blocks=1)
    with pytest.raises(TExplainError, match="choose 1 to 5"):
        FrozenClassifier.from_spec(checkpoint_spec, random_top_blocks=7)


# ---- verdicts and report: the levels are shown beside TExplain, never a control a verdict needs --------------

METRICS = ("explain.object_in_top_k_rate", "explain.background_in_top_k_rate", "explain.object_doc_freq_mean", "explain.background_doc_freq_mean")


def _entry(value: float, n: int = 12) -> dict:
    per_image = {metric: [value] * n for metric in METRICS}
    return {"definition": "d", "reads_image": True, "reads_classifier": True, "trained": True, "n": n,
            "metrics": {metric: value for metric in METRICS}, "intervals": {}, "per_image": per_image}


def test_the_verdicts_leave_the_cascade_levels_out():
    table = {"texplain": _entry(0.9), "random_top_blocks_1": _entry(0.9), "random_top_blocks_3": _entry(0.5)}
    rows = explainer_verdicts(table)["rows"]
    assert rows
    for row in rows:
        assert not any(c["control"].startswith("random_top_blocks_") for c in row["comparisons"])


def test_the_report_shows_the_cascade_when_a_level_ran(tmp_path):
    left_out = {"definition": "d", "trained": True, "metrics": None, "reason": "left out by the config's controls.trained"}
    table = {"texplain": _entry(0.9), "random_classifier": _entry(0.1), "random_top_blocks_5": _entry(0.2),
             "random_top_blocks_1": _entry(0.7), "random_top_blocks_3": left_out}
    html, markdown = cascade_parts(table, tmp_path)
    assert "Cascading randomization" in html and "Adebayo" in markdown
    order = ["texplain (0", "random_top_blocks_1 (top 1)", "random_top_blocks_5 (top 5)", "random_classifier (all"]
    positions = [markdown.index(label) for label in order]
    assert positions == sorted(positions) and "random_top_blocks_3" not in markdown
    assert (tmp_path / "cascading_randomization.svg").is_file() and "<svg" in html
    assert cascade_parts({"texplain": _entry(0.9), "random_top_blocks_1": left_out}, tmp_path) is None


def test_write_report_puts_the_cascade_under_the_controls(tmp_path):
    run = make_run(tmp_path, "cascade", 12)
    metrics = json.loads((run / "metrics.json").read_text())
    metrics["explainers"] = {"texplain": _entry(0.9), "random_top_blocks_1": _entry(0.6), "random_classifier": _entry(0.1)}
    (run / "metrics.json").write_text(json.dumps(metrics))
    paths = write_report(run)
    html, markdown = paths.html.read_text(), paths.markdown.read_text()
    assert 'id="cascading-randomization"' in html and "### Cascading randomization" in markdown
    assert html.index('id="explainers"') < html.index('id="cascading-randomization"') < html.index('id="suites"')
    assert (paths.assets / "cascading_randomization.svg").is_file()


def test_a_control_left_out_is_named_once_and_one_that_could_not_run_keeps_its_row(tmp_path):
    run = make_run(tmp_path, "left-out", 12)
    metrics = json.loads((run / "metrics.json").read_text())
    metrics["explainers"] = {
        "texplain": _entry(0.9),
        "random_top_blocks_1": {"definition": "d", "trained": True, "metrics": None,
                                "reason": "left out by the config's controls.trained (it trains a translator of its own)"},
        "random_top_blocks_3": {"definition": "d", "trained": True, "metrics": None,
                                "reason": "the classifier python:x cannot be built with its top 3 block(s) randomized"},
    }
    (run / "metrics.json").write_text(json.dumps(metrics))
    markdown = write_report(run).markdown.read_text()
    section = markdown.split("TExplain and its controls", 1)[1]
    assert "| random_top_blocks_3 |" in section  # asked for and failed: its row stays
    assert "| random_top_blocks_1 |" not in section
    assert "Trained controls not run (left out by controls.trained): random_top_blocks_1." in section
