"""A 2-D map of the most frequent phrases of the served index: PCA of their vectors (the paper's Figure 5).

    points = compute_map(searcher, n=200, min_words=1)   # PhraseMap: phrase, count, x, y per point

Phrases are taken by corpus frequency (ties by index order); those made only of function words ("of the")
are skipped unless asked, since they dominate any frequency list and carry little meaning. A phrase's vector
is the index's own (the L2-normalised mean of its word vectors). The projection is exact PCA with numpy
(eigenvectors of the D x D scatter matrix of the centred vectors), made deterministic by giving each
component's largest loading a positive sign.
`MapCache` keeps results per loaded index, so a reload never serves a stale map.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from index.search import PhraseSearcher

# Function words of English (closed classes): articles, pronouns, prepositions, conjunctions, auxiliaries.
_STOPWORDS_TEXT = """
    a about above after again against all am an and any are as at be because been before being below
    between both but by can could did do does doing down during each few for from further had has have
    having he her here hers herself him himself his how i if in into is it its itself just me more most my
    myself no nor not now of off on once only or other our ours ourselves out over own same she should so
    some such than that the their theirs them themselves then there these they this those through to too
    under until up very was we were what when where which while who whom why will with would you your yours
    yourself yourselves s t
"""
STOPWORDS = frozenset(_STOPWORDS_TEXT.split())


@dataclass(frozen=True)
class MapPoint:
    phrase: str
    count: int
    x: float
    y: float


@dataclass(frozen=True)
class PhraseMap:
    points: list[MapPoint]
    explained_variance_ratio: tuple[float, float]  # share of the variance along each axis
    considered: int  # phrases scanned (by frequency) to find the points


def top_phrase_ids(
    searcher: PhraseSearcher, n: int, min_words: int, include_stopwords: bool
) -> tuple[list[int], int]:
    """Ids of the n most frequent phrases of at least `min_words` words, and how many phrases were scanned."""
    counts = np.asarray(searcher.counts, dtype=np.int64)
    order = np.argsort(-counts, kind="stable")  # most frequent first, ties in index order
    chosen: list[int] = []
    scanned = 0
    for i in order.tolist():
        scanned += 1
        words = searcher.phrases[i].split(" ")
        if len(words) >= min_words and (include_stopwords or not STOPWORDS.issuperset(words)):
            chosen.append(i)
            if len(chosen) == n:
                break
    return chosen, scanned


def phrase_vectors(searcher: PhraseSearcher, ids: list[int]) -> np.ndarray:
    """float32 [len(ids), D]: the indexed vectors if the index keeps them, else recomputed from the words."""
    stored = getattr(searcher, "vectors", None)
    if stored is not None:
        return np.asarray(stored[np.asarray(ids, dtype=np.int64)], dtype=np.float32)
    return np.stack([searcher.embed(searcher.phrases[i]).vector for i in ids]).astype(np.float32)


def pca_2d(x: np.ndarray) -> tuple[np.ndarray, tuple[float, float]]:
    """Project [n, D] rows onto their first two principal components: ([n, 2], explained variance ratios).

    Uses the eigenvectors of the D x D scatter matrix (D is small, ~128-300): an order of magnitude faster
    than an SVD of the [n, D] matrix, and exact up to floating point."""
    if x.ndim != 2 or x.shape[0] < 2:
        raise ValueError(f"PCA needs at least 2 rows, got shape {x.shape}")
    centred = x.astype(np.float64) - x.mean(axis=0, dtype=np.float64)
    eigvals, eigvecs = np.linalg.eigh(centred.T @ centred)  # ascending; eigvecs: [D, D], one per column
    variance = np.clip(eigvals[::-1], 0.0, None)
    components = eigvecs[:, ::-1][:, :2].T  # [<=2, D], largest variance first
    if components.shape[0] < 2:  # D == 1: a flat second axis
        components = np.vstack([components, np.zeros_like(components)])
    signs = np.sign(components[np.arange(2), np.abs(components).argmax(axis=1)])
    components = components * np.where(signs == 0, 1.0, signs)[:, None]
    coords = centred @ components.T  # [n, 2]
    total = float(variance.sum())
    ratios = [float(v / total) if total > 0 else 0.0 for v in variance[:2]]
    ratios += [0.0] * (2 - len(ratios))
    if total > 0 and len(variance) > 1 and variance[1] <= 1e-12 * total:
        coords[:, 1] = 0.0  # no variance left: avoid an arbitrary axis of rounding noise
    return coords, (ratios[0], ratios[1])


def compute_map(
    searcher: PhraseSearcher, n: int, min_words: int = 1, include_stopwords: bool = False
) -> PhraseMap:
    ids, scanned = top_phrase_ids(searcher, n, min_words, include_stopwords)
    if len(ids) < 2:
        return PhraseMap(points=[], explained_variance_ratio=(0.0, 0.0), considered=scanned)
    coords, ratios = pca_2d(phrase_vectors(searcher, ids))
    points = [
        MapPoint(phrase=searcher.phrases[i], count=int(searcher.counts[i]), x=float(x), y=float(y))
        for i, (x, y) in zip(ids, coords.tolist(), strict=True)
    ]
    return PhraseMap(points=points, explained_variance_ratio=ratios, considered=scanned)


class MapCache:
    """Maps of the currently served index, by parameters; a different searcher object clears the cache."""

    def __init__(self, max_entries: int = 32) -> None:
        self.max_entries = max_entries
        self._lock = threading.Lock()
        self._searcher: PhraseSearcher | None = None
        self._maps: OrderedDict[tuple[int, int, bool], PhraseMap] = OrderedDict()

    def get(self, searcher: PhraseSearcher, n: int, min_words: int, include_stopwords: bool) -> PhraseMap:
        key = (n, min_words, include_stopwords)
        with self._lock:
            if self._searcher is not searcher:
                self._searcher, self._maps = searcher, OrderedDict()
            cached = self._maps.get(key)
            if cached is not None:
                self._maps.move_to_end(key)
                return cached
        result = compute_map(searcher, n, min_words, include_stopwords)  # outside the lock: may take a while
        with self._lock:
            if self._searcher is searcher:
                self._maps[key] = result
                while len(self._maps) > self.max_entries:
                    self._maps.popitem(last=False)
        return result
