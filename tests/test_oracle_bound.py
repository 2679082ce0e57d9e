"""The oracle bound of benchmarks/eval_adaptive_stopping.py: the most any stopping rule can save."""

import importlib.util
from pathlib import Path

import pytest

_SCRIPT = Path(__file__).parents[1] / "benchmarks" / "eval_adaptive_stopping.py"
_spec = importlib.util.spec_from_file_location("eval_adaptive_stopping", _SCRIPT)
eval_adaptive_stopping = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(eval_adaptive_stopping)
oracle_bound = eval_adaptive_stopping.oracle_bound


def test_the_bound_spends_sentences_where_they_buy_the_most_agreement():
    # Image A settles at 100 sentences; image B only at 1000 and is at 0.5 before that.
    curves = [[(100, 1.0), (1000, 1.0)], [(100, 0.5), (500, 0.5), (1000, 1.0)]]
    assert oracle_bound(curves, 0.75) == (200, [100, 100])  # (1.0 + 0.5) / 2 = 0.75
    assert oracle_bound(curves, 0.9) == (1100, [100, 1000])
    assert oracle_bound(curves, 1.0) == (1100, [100, 1000])


def test_the_bound_beats_every_brute_force_choice():
    import itertools

    curves = [[(50, 0.6), (100, 0.82), (150, 1.0)], [(50, 0.82), (100, 0.82), (150, 1.0)], [(50, 0.4), (100, 1.0), (150, 1.0)]]
    for target in (0.6, 0.8, 0.9):
        feasible = [sum(n for n, _ in pick) for pick in itertools.product(*curves) if sum(j for _, j in pick) / 3 >= target - 1e-9]
        assert oracle_bound(curves, target)[0] == min(feasible)


def test_the_bound_needs_images_and_a_full_run_point():
    with pytest.raises(ValueError, match="at least one image"):
        oracle_bound([], 0.9)
    with pytest.raises(ValueError, match="full run"):
        oracle_bound([[(50, 0.5)]], 0.9)
