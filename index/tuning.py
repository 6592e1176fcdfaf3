"""Recall measurement and search-parameter tuning for approximate indexes.

Recall@k is measured against exact inner-product search on held-out queries: phrase vectors sampled from
the indexed set (and kept out of IVF/PQ training). As in the service, the query phrase itself is excluded from
both result lists, so a query cannot score by finding itself. Recall is tie-aware (`recall_at_k`). `tune`
walks the efSearch / nprobe ladder upwards and stops at the first value whose recall reaches the target.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import faiss
import numpy as np

from index.ann import nlist_of, param_name, search_parameters

EF_LADDER = (16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024)


Knn = Callable[[np.ndarray, np.ndarray, int], np.ndarray]


def exact_neighbours(queries: np.ndarray, vectors: np.ndarray, k: int) -> np.ndarray:
    """int64 [Q, k] ids of the exact top-k by inner product (brute force)."""
    xq = np.ascontiguousarray(queries, np.float32)
    _, ids = faiss.knn(xq, np.ascontiguousarray(vectors, np.float32), k, faiss.METRIC_INNER_PRODUCT)
    return np.asarray(ids, dtype=np.int64)


def drop_self(ids: np.ndarray, self_ids: np.ndarray | None, k: int) -> np.ndarray:
    """Remove each query's own id from its row (if present) and keep the first k; -1 pads."""
    if self_ids is None:
        return ids[:, :k]
    out = np.full((len(ids), k), -1, np.int64)
    for r, (row, own) in enumerate(zip(ids, self_ids, strict=True)):
        kept = row[row != own][:k]
        out[r, : len(kept)] = kept
    return out


@dataclass(frozen=True)
class GroundTruth:
    queries: np.ndarray  # float32 [Q, D]
    ids: np.ndarray  # int64 [Q, k], exact neighbours (query's own id removed)
    kth_score: np.ndarray  # float32 [Q], exact score of the k-th neighbour
    self_ids: np.ndarray | None  # int64 [Q], the queries' own ids when they are indexed vectors


def ground_truth(
    vectors: np.ndarray, queries: np.ndarray, k: int, self_ids: np.ndarray | None, knn: Knn | None = None
) -> GroundTruth:
    queries = np.ascontiguousarray(queries, np.float32)
    extra = 0 if self_ids is None else 1
    ids = drop_self((knn or exact_neighbours)(queries, vectors, k + extra), self_ids, k)
    kth = np.einsum("qd,qd->q", np.asarray(vectors[ids[:, -1]], np.float32), queries)
    return GroundTruth(queries, ids, kth, self_ids)


def recall_at_k(found: np.ndarray, truth: GroundTruth, vectors: np.ndarray) -> float:
    """Tie-aware recall@k: the share of the k true neighbours' places filled by returned ids whose exact score
    reaches the k-th true score (1e-5 tolerance). Identical vectors (e.g. "hot dog" and "dog hot") are
    interchangeable, so returning either counts; for distinct scores this is |found ∩ truth| / k."""
    k = truth.ids.shape[1]
    valid = found >= 0
    scores = np.einsum(
        "qkd,qd->qk", np.asarray(vectors[np.where(valid, found, 0)], np.float32), truth.queries
    )
    good = valid & (scores >= truth.kth_score[:, None] - 1e-5)
    return float(np.minimum(good.sum(axis=1), k).mean()) / k if len(found) else 1.0


def measure(
    index: Any, truth: GroundTruth, vectors: np.ndarray, params: dict[str, int] | None = None
) -> float:
    """Recall@k of `index` (with `params`) on the ground truth's queries."""
    k = truth.ids.shape[1]
    extra = 0 if truth.self_ids is None else 1
    sp, _keep = search_parameters(index, params)
    _, ids = index.search(truth.queries, k + extra, params=sp)
    return recall_at_k(drop_self(ids, truth.self_ids, k), truth, vectors)


@dataclass
class TuneResult:
    params: dict[str, int]
    recall: float
    target_met: bool
    curve: list[dict[str, float]] = field(default_factory=list)


def ladder(index: Any) -> list[int]:
    name = param_name(index)
    if name == "efSearch":
        return list(EF_LADDER)
    if name == "nprobe":
        nlist = nlist_of(index) or 1
        values = [1]
        while values[-1] < nlist:
            values.append(min(nlist, values[-1] * 2 if values[-1] < 8 else int(values[-1] * 1.5)))
        return values
    return []


def tune(
    index: Any, vectors: np.ndarray, query_rows: np.ndarray, k: int, target: float, *, knn: Knn | None = None
) -> tuple[TuneResult, GroundTruth]:
    """Smallest efSearch / nprobe reaching `target` recall@k on vectors[query_rows]; also the ground truth.

    `knn(queries, vectors, k)` computes the exact neighbours (default: FAISS brute force on the CPU).
    """
    truth = ground_truth(vectors, vectors[query_rows], k, query_rows, knn)
    name = param_name(index)
    if name is None:
        return TuneResult({}, measure(index, truth, vectors), True), truth
    curve: list[dict[str, float]] = []
    best = TuneResult({}, -1.0, False)
    for value in ladder(index):
        r = measure(index, truth, vectors, {name: value})
        curve.append({name: value, "recall": round(r, 4)})
        if r > best.recall:
            best = TuneResult({name: value}, r, r >= target)
        if r >= target:
            break
    best.curve = curve
    return best, truth
