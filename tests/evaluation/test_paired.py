"""Paired bootstrap of a difference between two groups of runs over the same benchmark items."""

from __future__ import annotations

import numpy as np

from evaluation.paired import ItemScores, common_items, group_metrics, paired_difference


def runs(values: list[np.ndarray], covered: np.ndarray | None = None) -> list[ItemScores]:
    mask = np.ones(values[0].size, dtype=bool) if covered is None else covered
    return [ItemScores(v.astype(np.float64), mask) for v in values]


def test_accuracy_difference_and_interval() -> None:
    rng = np.random.default_rng(0)
    better = runs([(rng.random(2000) < 0.8).astype(float) for _ in range(3)])
    worse = runs([(rng.random(2000) < 0.6).astype(float) for _ in range(3)])
    items = common_items([better, worse])
    point, low, high = paired_difference("triplets", better, worse, items=items, resamples=300)
    means = [np.mean(group_metrics("triplets", g, items, None)) for g in (better, worse)]
    assert point == means[0] - means[1]
    assert low < point < high and low > 0.15 and high < 0.25  # about 0.2, clearly above zero
    same = paired_difference("triplets", better, better, items=items, resamples=100)
    assert same == (0.0, 0.0, 0.0)  # identical runs: paired resamples always give 0


def test_similarity_uses_spearman_on_the_common_items() -> None:
    human = np.arange(10, dtype=np.float64)
    covered = np.ones(10, dtype=bool)
    covered[0] = False  # one pair OOV for one model: left out for both
    good = runs([human + 0.1], covered)
    noisy = runs([human[::-1].copy()])
    items = common_items([good, noisy])
    assert items.sum() == 9
    assert group_metrics("similarity", good, items, human) == [1.0]
    point, low, high = paired_difference("similarity", good, noisy, items=items, human=human, resamples=50)
    assert point == 2.0 and low <= point <= high
