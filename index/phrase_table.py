"""The ranking's per-phrase facts as arrays, so a query filters its candidates in numpy, not per phrase.

    table = PhraseTable.build(searcher.phrases)     # once per loaded index (~1 s per million phrases)
    match = table.match(query_tokens)                # once per query
    keep = table.select(match, ids, k, ranking)      # positions in `ids` (ranking order) that are hits

`select` gives exactly what `index.ranking.select` gives for the same candidates (checked on random data by
tests/index/test_phrase_table.py): the filters are the same (the query and its spellings, the denylist,
near-duplicate collapse, the compound cap and the final fill), but each is a vectorised test on a row of
folded word ids:

- `rows`: int32 [N, L], each phrase's words with plurals folded (`index.ranking.singular`) as ids into
  `folded_ids`, sorted ascending and padded with -1 (L = the longest phrase). Equal rows are near-duplicates;
  a row containing one of the query's content word ids is a compound.
- `keys`: each row packed into one int64 (equal keys, equal rows), when the folded vocabulary and L allow it
  (else the rows' bytes serve as keys, per query).
- the denylist's mask: bool [N], computed once per denylist on first use (words by id; multi-word entries
  checked in Python on the few phrases that contain an entry's first word).

Memory: 4 * L + 8 bytes per phrase (20 MB for a million phrases of up to 3 words), reported by the searcher.
"""

from __future__ import annotations

import operator
import threading
from collections.abc import Iterable
from typing import NamedTuple

import numpy as np

from index.mining import EDGE_STOPWORDS
from index.ranking import Denylist, Ranking, singular

PAD = -1


class QueryMatch(NamedTuple):
    """What a query's candidates are compared with, computed once per query (`PhraseTable.match`)."""

    normalized: str  # the query's words joined by spaces
    key: np.ndarray | None  # [1] key a phrase equal to the query up to order and plural has; None: none can
    content: list[int]  # folded ids of the query's content words (a phrase holding one is a compound)


class PhraseTable:
    def __init__(self, phrases: list[str], rows: np.ndarray, folded_ids: dict[str, int]) -> None:
        self.phrases = phrases
        self.rows = rows  # int32 [N, L] sorted folded word ids, PAD-padded
        self.folded_ids = folded_ids  # folded word -> id
        width = rows.shape[1]
        base = len(folded_ids) + 1  # rows pack as base-`base` digits (PAD -> 0) when they fit in 62 bits
        self._weights = (base ** np.arange(width, dtype=np.int64)) if width * np.log2(base) < 62 else None
        self.keys = self._keys(rows) if self._weights is not None else None  # int64 [N]
        self._masks: dict[int, tuple[Denylist, np.ndarray]] = {}
        self._lock = threading.Lock()

    @classmethod
    def build(cls, phrases: list[str]) -> PhraseTable:
        """The table of normalised phrases (words separated by single spaces)."""
        n = len(phrases)
        tokens = " ".join(phrases).split(" ") if n else []
        lengths = np.fromiter(map(operator.methodcaller("count", " "), phrases), np.int64, n) + 1
        words = {w: i for i, w in enumerate(dict.fromkeys(tokens))}
        word_ids = np.fromiter(map(words.__getitem__, tokens), np.int64, len(tokens))
        folded_ids: dict[str, int] = {}
        fold_of = np.fromiter(
            (folded_ids.setdefault(singular(w), len(folded_ids)) for w in words), np.int32, len(words)
        )
        width = int(lengths.max()) if n else 1
        rows = np.full((n, width), PAD, np.int32)
        if n:
            starts = np.cumsum(lengths) - lengths
            row = np.repeat(np.arange(n), lengths)
            col = np.arange(len(tokens)) - np.repeat(starts, lengths)
            rows[row, col] = fold_of[word_ids]
            rows.sort(axis=1)
        return cls(phrases, rows, folded_ids)

    @property
    def nbytes(self) -> int:
        return int(self.rows.nbytes) + (int(self.keys.nbytes) if self.keys is not None else 0)

    def _ids(self, words: Iterable[str]) -> np.ndarray:
        return np.array(sorted({self.folded_ids[w] for w in words if w in self.folded_ids}), np.int32)

    def _keys(self, rows: np.ndarray) -> np.ndarray:
        """One exact key per row: an int64 [C] where rows pack, else each row's bytes [C]."""
        if self._weights is not None:
            return (rows.astype(np.int64) + 1) @ self._weights
        rows = np.ascontiguousarray(rows)
        return rows.view(np.dtype((np.void, rows.dtype.itemsize * rows.shape[1]))).ravel()

    def blocked(self, deny: Denylist) -> np.ndarray:
        """bool [N]: phrases the denylist blocks (cached per denylist object)."""
        cached = self._masks.get(id(deny))
        if cached is not None and cached[0] is deny:
            return cached[1]
        with self._lock:
            mask: np.ndarray = np.asarray(np.isin(self.rows, self._ids(deny.words)).any(axis=1))
            if deny.phrases:
                maybe = np.isin(self.rows, self._ids(deny.starts)).any(axis=1) & ~mask
                for i in np.flatnonzero(maybe).tolist():
                    mask[i] = deny.blocks_text(self.phrases[i])
            self._masks[id(deny)] = (deny, mask)
        return mask

    def match(self, query_tokens: list[str]) -> QueryMatch:
        normalized = " ".join(query_tokens)
        folded = tuple(singular(t) for t in normalized.split(" "))
        width = self.rows.shape[1]
        key = None
        if len(folded) <= width and all(w in self.folded_ids for w in folded):
            row = np.full((1, width), PAD, np.int32)
            row[0, : len(folded)] = [self.folded_ids[w] for w in folded]
            row.sort(axis=1)
            key = self._keys(row)
        content = frozenset(folded) - EDGE_STOPWORDS or frozenset(folded)  # "of" makes no compound
        return QueryMatch(normalized, key, self._ids(content).tolist())

    def select(
        self, match: QueryMatch, ids: np.ndarray, k: int, ranking: Ranking, fill: bool = False
    ) -> np.ndarray:
        """Positions in `ids` (phrase ids in ranking order, `min_count` applied) of the hits, in order."""
        keys = self.keys[ids] if self.keys is not None else self._keys(self.rows[ids])  # [C]
        eligible = np.ones(len(ids), bool)
        if ranking.denylist is not None:
            eligible &= ~self.blocked(ranking.denylist)[ids]
        if match.key is not None:
            same = keys == match.key[0]
            if not ranking.collapse:  # only the query phrase itself, not its other spellings
                for j in np.flatnonzero(same).tolist():
                    same[j] = self.phrases[int(ids[j])] == match.normalized
            eligible &= ~same
        order = np.flatnonzero(eligible)
        if ranking.collapse and len(order) > 1:  # the first (best-ranked) spelling of each near-duplicate
            first = np.unique(keys[order], return_index=True)[1]
            order = order[np.sort(first)]
        compound = np.zeros(len(order), bool)
        if match.content and len(order):
            picked = self.rows[ids[order]]  # [C', L]
            for word in match.content:
                compound |= (picked == word).any(axis=1)
        if ranking.compounds == "exclude":
            accepted, over = order[~compound], order[:0]
        else:
            within = ~compound | (np.cumsum(compound) <= ranking.compound_cap(k))
            accepted, over = order[within], order[~within]
        hits = accepted[:k]
        if fill and len(hits) < k and len(over):
            hits = np.sort(np.concatenate([hits, over[: k - len(hits)]]))
        return hits
