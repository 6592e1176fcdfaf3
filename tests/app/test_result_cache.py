"""The related-query result cache: LRU per loaded index, keyed by every search input, counted in /metrics."""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from app.result_cache import ResultCache
from app.serving import SearchPool
from index.ranking import Denylist, Ranking
from index.search import PhraseSearcher, Related
from tests.app.conftest import Artifacts, make_settings


def related(name: str) -> Related:
    return Related(query=name, normalized=name, hits=[], oov=[])


class Loaded:
    """Stands in for a loaded index as a cache key (weak-referenceable, hashed by identity)."""


def test_lru_evicts_the_least_recently_used_per_index() -> None:
    cache = ResultCache(2)
    a, b = Loaded(), Loaded()
    cache.put(a, "x", related("x"))  # type: ignore[arg-type]
    cache.put(a, "y", related("y"))  # type: ignore[arg-type]
    assert cache.get(a, "x") is not None  # type: ignore[arg-type]  # x is now the most recent
    cache.put(a, "z", related("z"))  # type: ignore[arg-type]  # evicts y
    assert cache.get(a, "y") is None  # type: ignore[arg-type]
    assert [cache.get(a, k).query for k in ("x", "z")] == ["x", "z"]  # type: ignore[arg-type,union-attr]
    assert cache.get(b, "x") is None  # type: ignore[arg-type]  # another index shares nothing
    cache.put(b, "x", related("bx"))  # type: ignore[arg-type]
    assert cache.get(b, "x").query == "bx"  # type: ignore[arg-type,union-attr]
    assert cache.size(a) == 2  # type: ignore[arg-type]


def test_entries_go_with_their_index() -> None:
    cache = ResultCache(4)
    index = Loaded()
    cache.put(index, "x", related("x"))  # type: ignore[arg-type]
    assert len(cache._per_index) == 1
    del index
    gc.collect()
    assert len(cache._per_index) == 0  # a swapped-out index is not kept alive by its answers


def test_capacity_zero_keeps_nothing() -> None:
    cache = ResultCache(0)
    index = Loaded()
    assert not cache.enabled
    cache.put(index, "x", related("x"))  # type: ignore[arg-type]
    assert cache.get(index, "x") is None  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        ResultCache(-1)


@pytest.fixture
def searcher(artifacts: Artifacts) -> PhraseSearcher:
    return PhraseSearcher.load(artifacts.index)


@pytest.fixture
def pool() -> Iterator[SearchPool]:
    p = SearchPool(2, 1, cache=ResultCache(64))
    yield p
    p.close()


def count_searches(searcher: PhraseSearcher, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []
    for name in ("related", "related_first"):
        original = getattr(searcher, name)

        def spy(*args: Any, _name: str = name, _original: Any = original, **kwargs: Any) -> Any:
            calls.append(_name)
            return _original(*args, **kwargs)

        monkeypatch.setattr(searcher, name, spy)
    return calls


def test_the_pool_answers_a_repeated_query_from_the_cache(
    pool: SearchPool, searcher: PhraseSearcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = count_searches(searcher, monkeypatch)

    def ask(q: str, k: int = 5, ranking: Ranking | None = None, exact: bool = False) -> Related:
        return asyncio.run(pool.related(searcher, q, k, ranking=ranking or Ranking(), exact=exact))

    first = ask("dog")
    assert calls and ask("dog") is first  # the same answer object, no search
    searched = len(calls)
    ask("dog", k=6)
    ask("Dog")  # the query as sent is part of the key (`query` echoes it)
    ask("dog", ranking=Ranking(min_count=0))
    ask("dog", exact=True)
    deny = Denylist(words=frozenset({"puppy"}), phrases=(), source="test")
    denied = ask("dog", ranking=dataclasses.replace(Ranking(), denylist=deny))  # equal Rankings otherwise
    assert len(calls) == searched + 5
    assert "puppy" not in [h.phrase for h in denied.hits]


def test_the_api_counts_hits_and_misses_and_can_turn_it_off(artifacts: Artifacts, sqlite_url: str) -> None:
    def lookups(client: TestClient) -> dict[str, float]:
        text = client.get("/metrics").text
        pattern = r'^mmwe_related_cache_lookups_total\{outcome="(hit|miss)"\} ([0-9.e+]+)$'
        return {k: float(v) for k, v in re.findall(pattern, text, re.M)}

    params = {"q": "dog", "k": 4, "min_count": 0}
    with TestClient(create_app(make_settings(artifacts, sqlite_url))) as client:
        start = lookups(client)
        one, two = client.get("/v1/related", params=params), client.get("/v1/related", params=params)
        assert one.status_code == two.status_code == 200 and one.content == two.content
        end = lookups(client)
        assert end.get("hit", 0) - start.get("hit", 0) == 1
        assert end.get("miss", 0) - start.get("miss", 0) == 1
    off = make_settings(artifacts, sqlite_url, result_cache=0)
    with TestClient(create_app(off)) as client:
        start = lookups(client)
        assert client.get("/v1/related", params=params).content == one.content
        assert client.get("/v1/related", params=params).content == one.content
        assert lookups(client) == start  # no lookup at all without a cache
