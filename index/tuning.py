"""Recall measurement and search-parameter tuning for approximate indexes.

Recall@k is measured against exact inner-product search on held-out queries: phrase vectors sampled from
the indexed set (and kept out of IVF/PQ training). As in the service, the query phrase itself is excluded from
both result lists, so a query cannot score by finding itself. `tune` walks the efSearch / nprobe ladder
upwards and stops at the first value whose recall reaches the target.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import faiss
import numpy as np

from index.ann import nlist_of, param_name, search_parameters

EF_LADDER = (16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024)


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


def recall_at_k(found: np.ndarray, truth: np.ndarray) -> float:
    """Mean over queries of |found ∩ truth| / |truth| (rows of ids; -1 never matches)."""
    k = truth.shape[1]
    hits = [len(np.intersect1d(f[f >= 0], t[t >= 0])) for f, t in zip(found, truth, strict=True)]
    return float(np.mean(hits)) / k if hits else 1.0


def measure(
    index: Any,
    queries: np.ndarray,
    truth: np.ndarray,
    k: int,
    self_ids: np.ndarray | None,
    params: dict[str, int] | None = None,
) -> float:
    extra = 0 if self_ids is None else 1
    sp, _keep = search_parameters(index, params)
    _, ids = index.search(np.ascontiguousarray(queries, np.float32), k + extra, params=sp)
    return recall_at_k(drop_self(ids, self_ids, k), truth)


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


Knn = Callable[[np.ndarray, np.ndarray, int], np.ndarray]


def tune(
    index: Any, vectors: np.ndarray, query_rows: np.ndarray, k: int, target: float, *, knn: Knn | None = None
) -> tuple[TuneResult, np.ndarray]:
    """Smallest efSearch / nprobe reaching `target` recall@k on vectors[query_rows]; also the true ids.

    `knn(queries, vectors, k)` computes the exact neighbours (default: FAISS brute force on the CPU).
    """
    queries = np.ascontiguousarray(vectors[query_rows], np.float32)
    truth = drop_self((knn or exact_neighbours)(queries, vectors, k + 1), query_rows, k)
    name = param_name(index)
    if name is None:
        return TuneResult({}, measure(index, queries, truth, k, query_rows), True), truth
    curve: list[dict[str, float]] = []
    best = TuneResult({}, -1.0, False)
    for value in ladder(index):
        r = measure(index, queries, truth, k, query_rows, {name: value})
        curve.append({name: value, "recall": round(r, 4)})
        if r > best.recall:
            best = TuneResult({name: value}, r, r >= target)
        if r >= target:
            break
    best.curve = curve
    return best, truth
