"""FAISS index construction and search parameters, for every index type the phrase index supports.

Index types are FAISS factory strings with the inner-product metric on L2-normalised vectors (so scores are
cosines): `Flat` (exact), `HNSW<M>` / `HNSW<M>,Flat`, `IVF<nlist>,Flat`, `IVF<nlist>,SQ8`, `IVF<nlist>,PQ<m>`,
also behind an `OPQ`/`PCA` transform. The search-time knob is `efSearch` for HNSW and `nprobe` for IVF; it is
stored in the manifest as the index's default and can be overridden per query with a FAISS `SearchParameters`
object, which leaves the shared index untouched (safe for concurrent searches).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import faiss
import numpy as np

from index.errors import QueryError

PARAM_NAMES = ("efSearch", "nprobe")
SINGLE_THREAD_BELOW = 8  # searches of fewer queries run on one OpenMP thread (measured: docs/index.md)


@contextlib.contextmanager
def omp_threads(n: int | None) -> Iterator[None]:
    """Run the body with `n` OpenMP threads in the calling thread (OpenMP's setting is per thread)."""
    if n is None:
        yield
        return
    previous = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(n)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(previous)


def threads_for(num_queries: int) -> int | None:
    """1 for small searches (a parallel region costs more than it saves, and much more on a busy machine)."""
    return 1 if num_queries < SINGLE_THREAD_BELOW else None


def create_index(factory: str, dim: int) -> Any:
    """A fresh, empty FAISS index for `factory` with the inner-product metric."""
    try:
        return faiss.index_factory(dim, factory, faiss.METRIC_INNER_PRODUCT)
    except RuntimeError as exc:
        raise ValueError(f"invalid FAISS factory string {factory!r}: {str(exc).splitlines()[0]}") from exc


def inner_index(index: Any) -> Any:
    """The index under a pre-transform (OPQ, PCA), or the index itself."""
    if isinstance(index, faiss.IndexPreTransform):
        return faiss.downcast_index(index.index)
    return index


def param_name(index: Any) -> str | None:
    """'efSearch' for HNSW, 'nprobe' for IVF, None for indexes without a search knob (Flat)."""
    inner = inner_index(index)
    if isinstance(inner, faiss.IndexHNSW):
        return "efSearch"
    if isinstance(inner, faiss.IndexIVF):
        return "nprobe"
    return None


def is_exact(index: Any) -> bool:
    return isinstance(index, faiss.IndexFlat)


def search_work(index: Any) -> int:
    """Estimated multiply-adds of one single-query search with the index's default parameters.

    IVF: the coarse quantizer (all `nlist` centroids when it is flat) plus `nprobe` average lists; HNSW:
    `efSearch` candidates times their level-0 neighbours; anything else (Flat, ...): every stored vector.
    Codes (SQ, PQ) are counted as full vectors, so compressed indexes are overestimated.
    """
    inner = inner_index(index)
    transform = index.d * inner.d if inner is not index else 0  # an OPQ/PCA matrix, roughly
    if isinstance(inner, faiss.IndexIVF):
        quantizer = faiss.downcast_index(inner.quantizer)
        coarse = inner.nlist * inner.d if isinstance(quantizer, faiss.IndexFlat) else search_work(quantizer)
        lists = -(-inner.nprobe * inner.ntotal // max(1, inner.nlist))  # ceil
        return int(transform + coarse + lists * inner.d)
    if isinstance(inner, faiss.IndexHNSW):
        level0 = inner.hnsw.cum_nneighbor_per_level.at(1)  # neighbours per node on the base level (2M)
        return int(transform + inner.hnsw.efSearch * level0 * inner.d)
    return int(transform + inner.ntotal * inner.d)


def set_ef_construction(index: Any, ef_construction: int) -> None:
    inner = inner_index(index)
    if isinstance(inner, faiss.IndexHNSW):
        inner.hnsw.efConstruction = ef_construction


def set_default_params(index: Any, params: dict[str, int]) -> None:
    """Make `params` the index's own defaults (done once, at build or load, before any concurrent search)."""
    inner = inner_index(index)
    for name, value in params.items():
        if name == "efSearch" and isinstance(inner, faiss.IndexHNSW):
            inner.hnsw.efSearch = int(value)
        elif name == "nprobe" and isinstance(inner, faiss.IndexIVF):
            inner.nprobe = int(value)
        else:
            raise ValueError(
                f"search parameter {name!r} does not apply to this index ({type(inner).__name__})"
            )


def search_parameters(index: Any, params: dict[str, int] | None) -> tuple[Any, list[Any]]:
    """(SearchParameters or None, objects to keep alive during the search) for a per-query override."""
    return parameters_for(param_name(index), params, isinstance(index, faiss.IndexPreTransform))


def parameters_for(
    name: str | None, params: dict[str, int] | None, pretransform: bool = False
) -> tuple[Any, list[Any]]:
    """As `search_parameters`, for an index whose knob `name` is known (e.g. a GPU copy of a CPU index)."""
    if not params:
        return None, []
    unknown = set(params) - ({name} if name else set())
    if unknown or name is None:
        applies = f"only {name!r} applies" if name else "this index takes none"
        raise QueryError(f"unknown search parameter(s) {sorted(unknown)}: {applies}")
    value = int(params[name])
    if value < 1:
        raise QueryError(f"{name} must be >= 1, got {value}")
    inner: Any
    if name == "efSearch":
        inner = faiss.SearchParametersHNSW()  # type: ignore[attr-defined]
        inner.efSearch = value
    else:
        inner = faiss.SearchParametersIVF()
        inner.nprobe = value
    if pretransform:
        outer = faiss.SearchParametersPreTransform()
        outer.index_params = inner
        return outer, [outer, inner]
    return inner, [inner]


def nlist_of(index: Any) -> int | None:
    inner = inner_index(index)
    return int(inner.nlist) if isinstance(inner, faiss.IndexIVF) else None


def train_and_add(
    index: Any,
    vectors: np.ndarray,
    train_rows: np.ndarray,
    *,
    batch: int = 100_000,
    progress: Callable[[int], None] | None = None,
) -> float:
    """Train (if needed) on vectors[train_rows], then add all vectors in order; return train seconds."""
    import time

    t0 = time.perf_counter()
    if not index.is_trained:
        index.train(np.ascontiguousarray(vectors[np.sort(train_rows)], dtype=np.float32))
    train_seconds = time.perf_counter() - t0
    for lo in range(0, len(vectors), batch):
        block = np.ascontiguousarray(vectors[lo : lo + batch], dtype=np.float32)
        index.add(block)
        if progress is not None:
            progress(len(block))
    return train_seconds


def train_size(index: Any, n: int, override: int | None = None) -> int:
    """How many vectors to train on: at least 100k (or all), and 64 per IVF list."""
    if override is not None:
        return min(n, override)
    if index.is_trained:
        return 0
    nlist = nlist_of(index) or 0
    return min(n, max(100_000, 64 * nlist))
