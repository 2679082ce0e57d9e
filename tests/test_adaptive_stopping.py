"""Adaptive stopping: a prefix of the fixed-N sentences, stopped once the top-k words are predicted to be final."""

import dataclasses

import pytest
import torch

import numpy as np

from texplain.sampling.stopping import AdaptiveStopping, _DrawnWords, predicted_agreement, predicted_agreement_path
from texplain.sampling import SamplingConfig, sample_sentences, sample_sentences_batch
from tiny_models import tiny_prefix_decoder


def _drawn(sentences):
    drawn = _DrawnWords()
    drawn.add(sentences)
    return drawn


def test_agreement_is_high_when_the_top_k_is_clear_and_low_when_it_is_a_coin_flip():
    clear = ["boat water"] * 80 + ["boat"] * 20  # boat, water far ahead of nothing: top-2 settled
    agreement, top = predicted_agreement(_drawn(clear), k=2, total=1000, seed=1)
    assert agreement == 1.0 and top == ["boat", "water"]
    # water and grass tie for rank 2 after 40 sentences: drawing 960 more decides it, either way.
    close = ["boat water", "boat grass"] * 20
    agreement, top = predicted_agreement(_drawn(close), k=2, total=1000, seed=1)
    assert top[0] == "boat" and 0.5 <= agreement < 0.9
    # The same tie with all sentences drawn: nothing can change any more.
    assert predicted_agreement(_drawn(close), k=2, total=40, seed=1)[0] == 1.0


def test_agreement_grows_as_the_gap_at_rank_k_becomes_clear():
    rng = np.random.default_rng(0)
    sentences = [" ".join(w for w, p in (("boat", 0.9), ("water", 0.5), ("grass", 0.4), ("sky", 0.1)) if rng.random() < p) or "tree" for _ in range(1000)]
    early = predicted_agreement(_drawn(sentences[:60]), k=2, total=1000, seed=3)[0]
    late = predicted_agreement(_drawn(sentences[:600]), k=2, total=1000, seed=3)[0]
    assert early < late
    # Replayed on the fixed run, the rule stops before the end and keeps the final top-2.
    config = SamplingConfig(num_sentences=1000, stopping="adaptive", stop_top_k=2, stop_chunk=50)
    used = AdaptiveStopping.from_config(config).replay(sentences, seed=3).sentences
    assert 100 <= used < 1000
    assert _drawn(sentences[:used]).top_words(2) == _drawn(sentences).top_words(2) == ["boat", "water"]


def _until_stable(decoder, conditionings, seeds, config):
    """Adaptive sentences and stop records through the public entry point."""
    stops = []
    sentences = sample_sentences_batch(decoder, conditionings, seeds, config, stops=stops)
    return sentences, stops


def test_adaptive_sentences_are_a_prefix_of_the_fixed_run_and_stop_early():
    decoder = tiny_prefix_decoder()
    conditioning = torch.randn(3, decoder.conditioning_dim, generator=torch.Generator().manual_seed(0))
    fixed = SamplingConfig(num_sentences=400, min_words=3, max_words=6, batch_size=100)
    adaptive = dataclasses.replace(fixed, stopping="adaptive", stop_top_k=3, stop_chunk=40)
    (sentences,), (record,) = _until_stable(decoder, conditioning[None], [5], adaptive)
    reference = sample_sentences(decoder, conditioning, 5, fixed)
    assert sentences == reference[: len(sentences)]
    assert record.sentences == len(sentences) and record.chunks >= 2
    # Through the one-image entry point too.
    assert sample_sentences(decoder, conditioning, 5, adaptive) == sentences
    # Several images in one call: each gets exactly what it gets alone, and its own record.
    other = torch.randn(3, decoder.conditioning_dim, generator=torch.Generator().manual_seed(1))
    both, records = _until_stable(decoder, torch.stack([conditioning, other]), [5, 6], adaptive)
    assert both[0] == sentences and records[0] == record
    alone, (other_record,) = _until_stable(decoder, other[None], [6], adaptive)
    assert both[1] == alone[0] and records[1] == other_record


def test_stop_records_say_how_each_image_stopped():
    decoder = tiny_prefix_decoder()
    conditioning = torch.randn(3, decoder.conditioning_dim, generator=torch.Generator().manual_seed(0))
    adaptive = SamplingConfig(num_sentences=400, min_words=3, max_words=6, batch_size=100, stopping="adaptive", stop_top_k=2, stop_chunk=40)
    (sentences,), (record,) = _until_stable(decoder, conditioning[None], [5], adaptive)
    # This image settles before the cap: the record holds the check that stopped it.
    assert record.stopped_early and len(sentences) < 400
    assert record.sentences == len(sentences) == 40 * record.chunks
    assert record.agreement >= adaptive.stop_agreement
    assert record.top_k == _drawn(sentences).top_words(2)
    # Replaying the rule on the fixed run's sentences stops at the same place with the same record.
    fixed = dataclasses.replace(adaptive, stopping="fixed")
    assert AdaptiveStopping.from_config(adaptive).replay(sample_sentences(decoder, conditioning, 5, fixed), 5) == record
    # At an agreement no image can reach, every image draws all N and says so.
    strict = dataclasses.replace(adaptive, num_sentences=120, stop_agreement=1.0)
    (_, _), records = _until_stable(decoder, torch.stack([conditioning, conditioning.flip(0)]), [5, 6], strict)
    for capped in records:
        assert not capped.stopped_early and capped.sentences == 120 and capped.chunks == 3
    # Fixed N has no stop to record: one None per image.
    stops = []
    sample_sentences_batch(decoder, conditioning[None], [5], fixed, stops=stops)
    assert stops == [None]
    assert record.to_json() == {"sentences": record.sentences, "chunks": record.chunks, "agreement": record.agreement,
                                "stopped_early": True, "top_k": record.top_k, "reason": "agreement"}


def test_the_policy_knows_only_its_draw_function():
    # No decoder: a draw function that numbers sentences is enough, and a wrong answer is an error.
    policy = AdaptiveStopping(top_k=1, chunk=10, agreement=0.9, max_sentences=50)
    asked = []

    def draw(images, first, count):
        asked.append((list(images), first, count))
        return [["boat water"] * count for _ in images]

    sentences, records = policy.sample(draw, [1, 2])
    assert asked == [([0, 1], 0, 10), ([0, 1], 10, 10)]  # one call per chunk for all unsettled images
    assert [len(s) for s in sentences] == [20, 20] and all(r.stopped_early and r.agreement == 1.0 for r in records)
    with pytest.raises(ValueError, match="must return 10 sentences"):
        policy.sample(lambda images, first, count: [["boat"]] * len(images), [1])
    with pytest.raises(ValueError, match="replay needs the 50 sentences"):
        policy.replay(["boat"] * 49, seed=1)


def test_fixed_is_the_default_and_bad_options_are_refused():
    assert SamplingConfig().stopping == "fixed"
    with pytest.raises(ValueError, match="stopping"):
        SamplingConfig(stopping="sometimes")
    with pytest.raises(ValueError, match="stop_top_k"):
        SamplingConfig(stop_chunk=0)
    with pytest.raises(ValueError, match="stop_agreement"):
        SamplingConfig(stop_agreement=1.5)


def test_the_predicted_path_starts_at_the_current_agreement_and_ends_at_one():
    rng = np.random.default_rng(0)
    sentences = [" ".join(w for w, p in (("boat", 0.9), ("water", 0.5), ("grass", 0.45), ("sky", 0.4)) if rng.random() < p) or "tree" for _ in range(1000)]
    drawn = _drawn(sentences[:100])
    points, path = predicted_agreement_path(drawn, k=2, total=1000, seed=1, step=50)
    assert points[0] == 100 and points[-1] == 1000 and list(np.diff(points)) == [50] * 18
    assert path[-1] == 1.0 and 0.5 < path[0] < 1.0  # water and grass within 5% of each other: not settled
    # The first point is the current top-k's agreement: the same estimate as predicted_agreement (other replicates).
    assert abs(path[0] - predicted_agreement(drawn, k=2, total=1000, seed=1)[0]) < 0.1
    settled = _drawn(["boat water"] * 100)
    assert list(predicted_agreement_path(settled, k=2, total=1000, seed=1, step=50)[1]) == [1.0] * 19


def test_the_gain_rule_stops_a_near_tie_that_the_agreement_rule_draws_to_the_end():
    # water and grass in exactly half the sentences each, never together: a coin flip no number of sentences settles early.
    sentences = ["boat water" if i % 2 else "boat grass" for i in range(1000)]
    agreement_only = AdaptiveStopping(top_k=2, chunk=50, agreement=0.95, max_sentences=1000)
    assert agreement_only.replay(sentences, seed=2).reason == "cap"
    with_gain = dataclasses.replace(agreement_only, gain=0.5)
    record = with_gain.replay(sentences, seed=2)
    assert record.reason == "gain" and record.stopped_early and record.sentences < 1000
    assert record.agreement < 0.95
    # A clear top-k still stops on the agreement, whatever the gain.
    assert with_gain.replay(["boat water"] * 1000, seed=2).reason == "agreement"
    with pytest.raises(ValueError, match="stop_gain"):
        SamplingConfig(stop_gain=-1.0)
