"""Triplet accuracy, the paper's metric: a triplet (base, positive, negative) is correct when
cos(base, positive) > cos(base, negative), phrase vectors being means of word vectors (`phrases.py`).

A tie counts as wrong. OOV policy: a triplet with an OOV phrase is either left out (`skip`, the accuracy is
over the covered triplets) or counted as wrong (`wrong`, the accuracy is over all triplets). Both accuracies
are reported; `accuracy` is the one of the chosen policy, with its bootstrap 95% interval.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from evaluation.datasets import TripletSet
from evaluation.phrases import PhraseEncoder
from evaluation.stats import bootstrap_accuracy_ci

OovPolicy = Literal["skip", "wrong"]
OOV_POLICIES: tuple[str, ...] = ("skip", "wrong")
_CHUNK = 2048  # triplets per gather + dot block: the three gathered blocks (3 MB at 128-d) stay in cache
_BLOCKS_PER_TASK = 64


@dataclass(frozen=True)
class TripletScores:
    """Per-triplet outcome: correct[i] (False for OOV triplets) and covered[i] (all three phrases known)."""

    correct: NDArray[np.bool_]
    covered: NDArray[np.bool_]


def score_triplets(
    unit: NDArray[np.float32], ids: NDArray[np.int64], *, threads: int = 2, chunk: int = _CHUNK
) -> NDArray[np.bool_]:
    """correct[i] = cos(base, pos) > cos(base, neg) for unit phrase vectors `unit` and `ids` [n, 3].

    Each task is a span of `_BLOCKS_PER_TASK` blocks of `chunk` triplets (few tasks for the thread pool, small
    enough to balance the threads when other jobs slow one down); a block gathers its base rows once."""
    n = int(ids.shape[0])
    correct = np.zeros(n, dtype=np.bool_)

    def run(span_start: int) -> None:
        for start in range(span_start, min(span_start + chunk * _BLOCKS_PER_TASK, n), chunk):
            block = ids[start : start + chunk]
            base = unit[block[:, 0]]  # [c, dim]
            pos_sim = np.einsum("ij,ij->i", base, unit[block[:, 1]])  # [c]
            neg_sim = np.einsum("ij,ij->i", base, unit[block[:, 2]])  # [c]
            np.greater(pos_sim, neg_sim, out=correct[start : start + block.shape[0]])  # a tie is wrong

    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        list(pool.map(run, range(0, n, chunk * _BLOCKS_PER_TASK)))
    return correct


def triplet_scores(encoder: PhraseEncoder, triplets: TripletSet, *, threads: int = 2) -> TripletScores:
    unit, known = encoder.encode(triplets.phrases, threads=threads)
    covered: NDArray[np.bool_] = np.asarray(known[triplets.ids].all(axis=1), dtype=np.bool_)
    correct = score_triplets(unit, triplets.ids, threads=threads) & covered
    return TripletScores(correct=correct, covered=covered)


def evaluate_triplets(
    encoder: PhraseEncoder,
    triplets: TripletSet,
    *,
    oov_policy: str = "skip",
    bootstrap: int = 1000,
    seed: int = 0,
    threads: int = 2,
) -> tuple[dict[str, float | None], dict[str, int]]:
    """Metrics and counts of one triplet benchmark (see the module docstring)."""
    if oov_policy not in OOV_POLICIES:
        raise ValueError(f"oov_policy must be one of {OOV_POLICIES}, got {oov_policy!r}")
    scores = triplet_scores(encoder, triplets, threads=threads)
    total = int(scores.covered.size)
    covered = int(scores.covered.sum())
    correct = int(scores.correct.sum())
    acc_skip = correct / covered if covered else None
    acc_wrong = correct / total if total else None
    denominator = covered if oov_policy == "skip" else total
    ci = bootstrap_accuracy_ci(correct, denominator, resamples=bootstrap, seed=seed)
    metrics: dict[str, float | None] = {
        "accuracy": acc_skip if oov_policy == "skip" else acc_wrong,
        "ci95_low": ci[0] if ci else None,
        "ci95_high": ci[1] if ci else None,
        "accuracy_skip_oov": acc_skip,
        "accuracy_oov_wrong": acc_wrong,
        "coverage": covered / total if total else None,
    }
    counts = {
        "triplets": total,
        "evaluated": denominator,
        "correct": correct,
        "oov_triplets": total - covered,
    }
    return metrics, counts
