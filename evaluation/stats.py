"""Correlation and confidence-interval statistics in plain numpy (no scipy on the serving path).

`spearman` equals `scipy.stats.spearmanr(x, y).statistic` (ranks with average ties), `pearson` equals
`scipy.stats.pearsonr(x, y).statistic`; both return None when undefined (fewer than 2 points or a constant
input) so results stay JSON-serialisable.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray


def rankdata(values: ArrayLike) -> NDArray[np.float64]:
    """1-based ranks; tied values share the mean of the ranks they span (scipy's method='average').

    >>> rankdata([10, 20, 20, 5]).tolist()
    [2.0, 3.5, 3.5, 1.0]
    """
    x = np.asarray(values, dtype=np.float64).ravel()
    n = x.size
    if n == 0:
        return np.zeros(0, dtype=np.float64)
    order = np.argsort(x, kind="mergesort")
    xs = x[order]
    # A new group starts where the sorted value changes; each group gets the mean of its 1-based positions.
    starts = np.flatnonzero(np.r_[True, xs[1:] != xs[:-1]])
    ends = np.r_[starts[1:], n]  # exclusive
    group_rank = (starts + 1 + ends) / 2.0  # mean of starts+1 .. ends
    sizes = ends - starts
    ranks = np.empty(n, dtype=np.float64)
    ranks[order] = np.repeat(group_rank, sizes)
    return ranks


def pearson(x: ArrayLike, y: ArrayLike) -> float | None:
    """Pearson's r, or None when it is undefined."""
    a = np.asarray(x, dtype=np.float64).ravel()
    b = np.asarray(y, dtype=np.float64).ravel()
    if a.shape != b.shape:
        raise ValueError(f"pearson: inputs differ in length ({a.size} vs {b.size})")
    if a.size < 2:
        return None
    a = a - a.mean()
    b = b - b.mean()
    denom = float(np.sqrt(np.dot(a, a) * np.dot(b, b)))
    if denom == 0.0 or not np.isfinite(denom):
        return None
    r = float(np.dot(a, b) / denom)
    return max(-1.0, min(1.0, r))


def spearman(x: ArrayLike, y: ArrayLike) -> float | None:
    """Spearman's rho: Pearson's r of the average-tie ranks, or None when undefined."""
    return pearson(rankdata(x), rankdata(y))


def bootstrap_accuracy_ci(
    correct: int, total: int, *, resamples: int = 1000, confidence: float = 0.95, seed: int = 0
) -> tuple[float, float] | None:
    """Percentile bootstrap interval for an accuracy of `correct`/`total`.

    Resampling `total` 0/1 outcomes with replacement and counting the ones is exactly a draw from
    Binomial(total, correct/total), so the bootstrap is done by drawing those counts directly: the same
    distribution as resampling the outcome vector, in O(resamples) instead of O(resamples * total).
    Deterministic for a given seed. None when total is 0 or resamples is 0.
    """
    if total <= 0 or resamples <= 0:
        return None
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    rng = np.random.default_rng(seed)
    draws = rng.binomial(total, correct / total, size=resamples) / total
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(draws, [alpha, 1.0 - alpha])
    return float(low), float(high)
