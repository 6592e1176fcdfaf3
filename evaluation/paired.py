"""Per-item scores of several embeddings on the same benchmark items; the paired bootstrap of a difference.

A benchmark's items (pairs, triplets, analogy questions) are scored once per embeddings; the comparison then
uses only the items every embeddings covers, so all models are judged on the same items. The interval of a
difference (model X minus model Y, each averaged over its seeds) resamples the items with replacement and
recomputes both sides on the same resample: the paired percentile bootstrap.

    from evaluation.paired import item_scores, paired_difference
    x = [item_scores(emb, "similarity", pairs) for emb in x_runs]; y = [...]
    diff, low, high = paired_difference("similarity", x, y, human=pairs.scores)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from evaluation.analogy import analogy_predictions
from evaluation.datasets import AnalogySet, PairSet, TripletSet
from evaluation.phrases import PhraseEncoder
from evaluation.similarity import pair_similarities
from evaluation.stats import spearman
from evaluation.triplets import triplet_scores
from index.artifacts import Embeddings


@dataclass(frozen=True)
class ItemScores:
    """values[i]: cosine of pair i (similarity) or 1.0/0.0 for a correct item (triplets, analogy)."""

    values: NDArray[np.float64]
    covered: NDArray[np.bool_]


def item_scores(embeddings: Embeddings, kind: str, data: PairSet | TripletSet | AnalogySet) -> ItemScores:
    """Score every item of one benchmark with one embeddings."""
    if kind == "similarity" and isinstance(data, PairSet):
        sims, covered = pair_similarities(PhraseEncoder(embeddings), data)
        return ItemScores(sims.astype(np.float64), covered)
    if kind == "triplets" and isinstance(data, TripletSet):
        t = triplet_scores(PhraseEncoder(embeddings), data, threads=1)
        return ItemScores(t.correct.astype(np.float64), t.covered)
    if kind == "analogy" and isinstance(data, AnalogySet):
        correct, covered = analogy_predictions(embeddings, data, restrict_vocab=30000)
        return ItemScores(correct.astype(np.float64), covered)
    raise ValueError(f"kind {kind!r} does not match the data {type(data).__name__}")


def metric(kind: str, values: NDArray[np.float64], human: NDArray[np.float64] | None) -> float:
    """Spearman rho against the human scores (similarity) or the mean of 0/1 outcomes (accuracy)."""
    if kind == "similarity":
        assert human is not None
        rho = spearman(human, values)
        return float("nan") if rho is None else rho
    return float(values.mean()) if values.size else float("nan")


def common_items(groups: Sequence[Sequence[ItemScores]]) -> NDArray[np.bool_]:
    """Items covered by every run of every group."""
    mask: NDArray[np.bool_] | None = None
    for runs in groups:
        for r in runs:
            mask = r.covered.copy() if mask is None else mask & r.covered
    if mask is None:
        raise ValueError("no runs")
    return mask


def group_metrics(
    kind: str, runs: Sequence[ItemScores], items: NDArray[np.bool_], human: NDArray[np.float64] | None
) -> list[float]:
    """The metric of each run (seed) on the selected items."""
    h = None if human is None else human[items]
    return [metric(kind, r.values[items], h) for r in runs]


def paired_difference(
    kind: str,
    x: Sequence[ItemScores],
    y: Sequence[ItemScores],
    *,
    items: NDArray[np.bool_],
    human: NDArray[np.float64] | None = None,
    resamples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> tuple[float, float, float]:
    """(mean over x's runs - mean over y's runs, low, high): the percentile bootstrap over the same items."""
    idx = np.flatnonzero(items)
    h = None if human is None else human[idx]
    xv = [r.values[idx] for r in x]
    yv = [r.values[idx] for r in y]

    def diff(take: NDArray[np.int64] | slice) -> float:
        hh = None if h is None else h[take]
        a = np.mean([metric(kind, v[take], hh) for v in xv])
        b = np.mean([metric(kind, v[take], hh) for v in yv])
        return float(a - b)

    point = diff(slice(None))
    rng = np.random.default_rng(seed)
    draws = np.array([diff(rng.integers(0, idx.size, idx.size)) for _ in range(resamples)])
    draws = draws[np.isfinite(draws)]
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(draws, [alpha, 1.0 - alpha]) if draws.size else (np.nan, np.nan)
    return point, float(low), float(high)
