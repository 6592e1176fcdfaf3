"""The answers of recent related-phrase queries, kept per loaded index (an LRU of `Related` results).

    cache = ResultCache(capacity=8192)              # MMWE_RESULT_CACHE entries per worker; 0 turns it off
    found = cache.get(searcher, key)                # None on a miss
    cache.put(searcher, key, found)

A loaded index never changes (a reload loads a new `PhraseSearcher` and swaps), so a query's answer is a pure
function of the searcher and the request's search inputs: the query text as sent, k, the ranking (its
options and the denylist object) and `exact`. The cache is keyed by exactly those, one LRU per searcher held
through a weak reference: a swapped-out index's entries go with it, nothing is served from an index that no
longer serves, and no reload has to invalidate anything. Related-phrase traffic repeats (a few queries make
most of it), and a hit costs a dictionary lookup instead of the search and the ranking (docs/api.md,
"Result cache"). Only the event loop touches it (SearchPool.related), so it takes no lock.
"""

from __future__ import annotations

import weakref
from collections import OrderedDict
from collections.abc import Hashable

from app.metrics import RESULT_CACHE_LOOKUPS
from index.search import PhraseSearcher, Related

_HIT, _MISS = RESULT_CACHE_LOOKUPS.labels("hit"), RESULT_CACHE_LOOKUPS.labels("miss")


class ResultCache:
    """At most `capacity` answers per loaded index, least recently used evicted first."""

    def __init__(self, capacity: int) -> None:
        if capacity < 0:
            raise ValueError(f"capacity must be >= 0, got {capacity}")
        self.capacity = capacity
        self._per_index: weakref.WeakKeyDictionary[PhraseSearcher, OrderedDict[Hashable, Related]] = (
            weakref.WeakKeyDictionary()
        )

    @property
    def enabled(self) -> bool:
        return self.capacity > 0

    def get(self, searcher: PhraseSearcher, key: Hashable) -> Related | None:
        entries = self._per_index.get(searcher)
        found = entries.get(key) if entries is not None else None
        if entries is None or found is None:
            _MISS.inc()
            return None
        entries.move_to_end(key)
        _HIT.inc()
        return found

    def put(self, searcher: PhraseSearcher, key: Hashable, found: Related) -> None:
        if not self.capacity:
            return
        entries = self._per_index.get(searcher)
        if entries is None:
            entries = self._per_index[searcher] = OrderedDict()
        entries[key] = found
        entries.move_to_end(key)
        if len(entries) > self.capacity:
            entries.popitem(last=False)

    def size(self, searcher: PhraseSearcher) -> int:
        entries = self._per_index.get(searcher)
        return len(entries) if entries is not None else 0
