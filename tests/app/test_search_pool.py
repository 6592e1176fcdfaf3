"""`SearchPool.related`: small searches on the event loop, the rest in the pool, the same answers."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app import serving
from app.serving import SearchPool
from index.ann import set_default_params
from index.build import BuildConfig, build_index
from index.ranking import Ranking
from index.search import PhraseSearcher, Related
from tests.app.conftest import Artifacts
from tests.index.conftest import filler_words, make_embeddings


@pytest.fixture
def searcher(artifacts: Artifacts) -> PhraseSearcher:
    return PhraseSearcher.load(artifacts.index_hnsw)


def ivf_searcher(tmp_path: Path) -> PhraseSearcher:
    """3,000 single-word phrases in 64 IVF lists searched one at a time (nprobe 1)."""
    emb = make_embeddings(tmp_path / "emb", filler_words(3000), dim=24, seed=1)
    config = BuildConfig(factory="IVF64,Flat", num_queries=50, progress=False)
    build_index(emb, tmp_path / "ivf", config=config)
    searcher = PhraseSearcher.load(tmp_path / "ivf")
    set_default_params(searcher.index, {"nprobe": 1})
    return searcher


@pytest.fixture
def pool() -> Iterator[SearchPool]:
    p = SearchPool(2, 1)
    yield p
    p.close()


def threads_used(searcher: PhraseSearcher, monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """Record (method, thread name) of every related/related_first call on `searcher`."""
    calls: list[tuple[str, str]] = []
    for name in ("related", "related_first"):
        original = getattr(searcher, name)

        def spy(*args: Any, _name: str = name, _original: Any = original, **kwargs: Any) -> Any:
            calls.append((_name, threading.current_thread().name))
            return _original(*args, **kwargs)

        monkeypatch.setattr(searcher, name, spy)
    return calls


def answer(pool: SearchPool, searcher: PhraseSearcher, q: str, k: int, exact: bool = False) -> Related:
    return asyncio.run(pool.related(searcher, q, k, ranking=Ranking(), exact=exact))


def test_small_search_runs_inline_and_matches_the_searcher(
    searcher: PhraseSearcher, pool: SearchPool, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = searcher.related("river", 5)
    assert searcher.search_work is not None and searcher.search_work <= serving.INLINE_MAX_WORK
    calls = threads_used(searcher, monkeypatch)
    assert answer(pool, searcher, "river", 5) == expected
    assert calls == [("related_first", threading.current_thread().name)]


@pytest.mark.parametrize("case", ["exact", "too_much_work", "must_widen"])
def test_other_searches_run_in_the_pool(
    searcher: PhraseSearcher, pool: SearchPool, monkeypatch: pytest.MonkeyPatch, case: str, tmp_path: Path
) -> None:
    k, q = 5, "river"
    if case == "must_widen":  # IVF lists that run short: `related` searches again, exhaustively
        searcher = ivf_searcher(tmp_path)
        q = "aaw0"
        k = next(k for k in range(5, searcher.num_phrases) if searcher.related_first(q, k) is None)
    expected = searcher.related(q, k, exact=case == "exact")
    if case == "too_much_work":
        monkeypatch.setattr(serving, "INLINE_MAX_WORK", searcher.search_work - 1)  # type: ignore[operator]
    calls = threads_used(searcher, monkeypatch)
    assert answer(pool, searcher, q, k, exact=case == "exact") == expected
    assert calls[-1][0] == "related" and calls[-1][1].startswith("mmwe-search")
    assert [c[0] for c in calls[:-1]] == (["related_first"] if case == "must_widen" else [])


def test_gpu_copies_never_run_inline(searcher: PhraseSearcher, pool: SearchPool) -> None:
    searcher.search_work = None  # what PhraseSearcher.load(..., device="gpu") sets
    calls: list[str] = []
    searcher.related_first = lambda *a, **kw: calls.append("inline")  # type: ignore[method-assign]
    assert answer(pool, searcher, "river", 3).hits and calls == []


def test_loaded_index_is_out_of_the_gcs_sight_and_a_swapped_out_one_is_freed(artifacts: Artifacts) -> None:
    """After a load the live heap is frozen (full collections skip the index); a reload unfreezes, so the
    previous index is still freed."""
    import gc
    import weakref

    holder = serving.IndexHolder()
    try:
        holder.load_initial(artifacts.index)
        assert holder.current is not None and gc.get_freeze_count() > 0
        phrases = holder.current.phrases
        assert not any(o is phrases for o in gc.get_objects())  # frozen: in no generation the GC walks
        first = weakref.ref(holder.current)
        holder.reload(artifacts.index_hnsw)
        gc.collect()
        assert first() is None and holder.current is not None
    finally:
        gc.unfreeze()
