from __future__ import annotations

import math

import numpy as np
import pytest

from evaluation.stats import bootstrap_accuracy_ci, pearson, rankdata, spearman


def test_rankdata_averages_ties() -> None:
    assert rankdata([10, 20, 20, 5]).tolist() == [2.0, 3.5, 3.5, 1.0]
    assert rankdata([3, 3, 3]).tolist() == [2.0, 2.0, 2.0]
    assert rankdata([]).tolist() == []


def test_pearson_hand_computed() -> None:
    # x mean 2, y mean 4: dx = [-1, 0, 1], dy = [-2, -1, 3] -> r = 5 / sqrt(2 * 14)
    assert pearson([1, 2, 3], [2, 3, 7]) == pytest.approx(5 / math.sqrt(28))
    assert pearson([1, 2, 3], [6, 4, 2]) == pytest.approx(-1.0)


def test_spearman_hand_computed_with_ties() -> None:
    # ranks x = [1, 2, 3, 4]; y = [1, 2.5, 2.5, 4]: dx = [-1.5, -.5, .5, 1.5], dy = [-1.5, 0, 0, 1.5]
    # r = 4.5 / sqrt(5 * 4.5)
    assert spearman([1, 2, 3, 4], [10, 20, 20, 30]) == pytest.approx(4.5 / math.sqrt(22.5))


def test_undefined_correlations_are_none() -> None:
    assert pearson([1], [2]) is None
    assert pearson([1, 1, 1], [1, 2, 3]) is None
    assert spearman([], []) is None
    with pytest.raises(ValueError):
        pearson([1, 2], [1, 2, 3])


def test_matches_scipy_on_random_data() -> None:
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(3)
    x = rng.integers(0, 5, 200).astype(float)  # many ties
    y = x + rng.normal(size=200)
    assert spearman(x, y) == pytest.approx(stats.spearmanr(x, y).statistic, abs=1e-12)
    assert pearson(x, y) == pytest.approx(stats.pearsonr(x, y).statistic, abs=1e-12)


def test_bootstrap_ci_is_deterministic_and_matches_resampling() -> None:
    low, high = bootstrap_accuracy_ci(700, 1000, resamples=2000, seed=1)  # type: ignore[misc]
    assert (low, high) == bootstrap_accuracy_ci(700, 1000, resamples=2000, seed=1)
    assert low < 0.7 < high
    # the normal approximation: 0.7 +- 1.96 * sqrt(0.7 * 0.3 / 1000) = +- 0.0284
    assert high - low == pytest.approx(2 * 0.0284, abs=0.006)
    # the textbook bootstrap (resampling the 0/1 outcomes) gives the same interval up to Monte-Carlo noise
    rng = np.random.default_rng(5)
    outcomes = np.r_[np.ones(700), np.zeros(300)]
    means = outcomes[rng.integers(0, 1000, (2000, 1000))].mean(axis=1)
    naive = np.quantile(means, [0.025, 0.975])
    assert low == pytest.approx(naive[0], abs=0.006) and high == pytest.approx(naive[1], abs=0.006)


def test_bootstrap_ci_edge_cases() -> None:
    assert bootstrap_accuracy_ci(5, 5) == (1.0, 1.0)
    assert bootstrap_accuracy_ci(0, 0) is None
    assert bootstrap_accuracy_ci(1, 2, resamples=0) is None
