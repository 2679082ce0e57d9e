"""Random weights for dry runs: a model built at its real shapes with seeded random weights instead of its
trained ones (``models.random_weights`` in a run config).

A dry run proves the code path a user with a GPU and the weights will take (shapes, memory, seconds per
step) on a machine that has neither. Its sentences and words mean nothing, so everything built this way
says so: the classifier's and the decoder's identities carry ``"random_weights": true`` (and so do the
translator checkpoint, the feature cache key and the run's metrics), and a translator trained on random
weights is never mistaken for one trained on the real ones (their weights hashes differ).

The weights are drawn from a fixed seed inside a forked random state: the same model gets the same
weights in every process (so reruns reuse their cached stages), and the caller's random stream is not
moved (a run's seeds stay what they are without the dry run).

The same seeded weights serve the cascading model-randomization control (Adebayo et al., "Sanity Checks
for Saliency Maps", NeurIPS 2018, its "cascading randomization"): ``randomize_top_blocks`` keeps
a trained model's lower blocks and puts the seeded random model's weights in its top ones, so a report
can show how an explanation's metrics fall as more of the network is randomized, from the top down.
"""

from __future__ import annotations

import contextlib
import copy
from typing import Iterator

import torch

from texplain.errors import TExplainError

RANDOM_WEIGHTS_SEED = 0
# What reports and logs say about a run on random weights.
RANDOM_WEIGHTS_NOTE = "random weights (a dry run of the code path at the real shapes): the sentences and words mean nothing"


@contextlib.contextmanager
def seeded_weights(seed: int = RANDOM_WEIGHTS_SEED) -> Iterator[None]:
    """Build models inside this block to draw their initial weights from `seed`, leaving the global
    random state as it was before the block."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def randomize_top_blocks(model: torch.nn.Module, random_model: torch.nn.Module, levels: int, model_name: str = "the model") -> torch.nn.Module:
    """A copy of the trained `model` whose top `levels` stages of ``model.blocks``, and everything after
    them, carry `random_model`'s weights (the same architecture built inside ``seeded_weights()``, so that
    every rerun randomizes to the same weights): one level of the cascading randomization of Adebayo et al.,
    "Sanity Checks for Saliency Maps", NeurIPS 2018, which re-initialises a network from its top layer down.

    timm's EfficientNets and ViTs both keep their stages in a ``blocks`` Sequential. "After the blocks" is
    every submodule registered after ``blocks`` (conv_head, bn2, classifier; norm, fc_norm, head): timm
    registers them in forward order, so this follows the model rather than a list of names that another
    architecture would miss. The stem (conv_stem, bn1; patch_embed, cls_token, pos_embed, norm_pre) and the
    lower blocks stay bit for bit the trained ones. Buffers (batch-norm statistics) go with their layer.

    model_name: how errors name the model (the classifier spec). `model` itself is left as it was."""
    blocks = getattr(model, "blocks", None)
    if not isinstance(blocks, torch.nn.Sequential) or len(blocks) == 0:
        raise TExplainError(
            f"{model_name} has no `blocks` stack of stages (a timm EfficientNet or ViT has one), so it cannot be randomized "
            "block by block from the top; use such a classifier (e.g. packaged:efficientnet_lite0), or the random_classifier "
            "control, which re-initialises every weight"
        )
    count = len(blocks)
    if isinstance(levels, bool) or not isinstance(levels, int) or not 1 <= levels <= count:
        raise TExplainError(
            f"{model_name}: cannot randomize the top {levels!r} blocks; it has {count}, so choose 1 to {count} "
            "(all of them and the stem is the random_classifier control)"
        )
    children = [name for name, _ in model.named_children()]
    after_blocks = children[children.index("blocks") + 1:]
    randomized = tuple(f"blocks.{index}." for index in range(count - levels, count)) + tuple(f"{name}." for name in after_blocks)
    trained_state, random_state = model.state_dict(), random_model.state_dict()
    if list(trained_state) != list(random_state):
        only_trained = sorted(set(trained_state) - set(random_state))[:3]
        only_random = sorted(set(random_state) - set(trained_state))[:3]
        raise TExplainError(f"{model_name}: the random model is not the same architecture (only in the trained one: {only_trained}; "
                            f"only in the random one: {only_random}); build it from the same timm name")
    merged = {}
    for key, tensor in trained_state.items():
        if key.startswith(randomized):
            if random_state[key].shape != tensor.shape:
                raise TExplainError(f"{model_name}: {key} is {tuple(tensor.shape)} in the trained model and {tuple(random_state[key].shape)} "
                                    "in the random one; build the random model with the trained one's head size (num_classes)")
            tensor = random_state[key]
        merged[key] = tensor
    result = copy.deepcopy(model)
    result.load_state_dict(merged)
    return result
