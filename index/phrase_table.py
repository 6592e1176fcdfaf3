"""The ranking's per-phrase facts as arrays, so a query filters its candidates in numpy, not per phrase.

    table = PhraseTable.build(searcher.phrases)     # once per loaded index (~1 s per million phrases)
    match = table.match(query_tokens)                # once per query
    keep = table.select(match, ids, k, ranking)      # positions in `ids` (ranking order) that are hits

`select` gives exactly what `index.ranking.select` gives for the same candidates (checked on random data by
tests/index/test_phrase_table.py): the filters are the same (the query and its spellings, the denylist,
near-duplicate collapse, the compound cap and the final fill), but tested on integers: numpy masks over the
candidates' rows of folded word ids, then a short walk over positions (`PhraseTable.select`):

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
    key: object  # the key of a phrase equal to the query up to order and plural; None: no phrase is
    content: frozenset[int]  # folded ids of the query's content words (a phrase holding one is a compound)


class PhraseTable:
    def __init__(self, phrases: list[str], rows: np.ndarray, folded_ids: dict[str, int]) -> None:
        self.phrases = phrases
        self.rows = rows  # int32 [N, L] sorted folded word ids, PAD-padded
        self.folded_ids = folded_ids  # folded word -> id
        width = rows.shape[1]
        base = len(folded_ids) + 1  # rows pack as base-`base` digits (PAD -> 0) when they fit in 62 bits
        self._weights = (base ** np.arange(width, dtype=np.int64)) if width * np.log2(base) < 62 else None
        self._weight_list = self._weights.tolist() if self._weights is not None else []
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
        folded = [singular(t) for t in normalized.split(" ")]
        ids, width = self.folded_ids, self.rows.shape[1]
        key: object = None
        if len(folded) <= width and all(w in ids for w in folded):
            row = [PAD] * (width - len(folded)) + sorted(ids[w] for w in folded)  # sorted, as rows are
            if self._weights is not None:
                key = sum((i + 1) * w for i, w in zip(row, self._weight_list, strict=True))
            else:
                key = np.array(row, np.int32).tobytes()
        words = set(folded)
        content = words - EDGE_STOPWORDS or words  # "of" in "peace of mind" makes no compound
        return QueryMatch(normalized, key, frozenset(ids[w] for w in content if w in ids))

    def select(
        self, match: QueryMatch, ids: np.ndarray, k: int, ranking: Ranking, fill: bool = False
    ) -> list[int]:
        """Positions in `ids` (phrase ids in ranking order, `min_count` applied) of the hits, in order.

        The masks (the query and its spellings, the denylist, compounds) are numpy tests on the candidates'
        rows and keys; what depends on order is read from two streams of positions: compounds and the rest.
        Spellings of one phrase share their words, so near-duplicates fall in the same stream: the hits are
        the first k of the merge of the unique non-compounds and the first `compound_cap` unique compounds.
        """
        keys_arr = self.keys[ids] if self.keys is not None else self._keys(self.rows[ids])  # [C]
        eligible = np.ones(len(ids), bool)
        if ranking.denylist is not None:
            eligible &= ~self.blocked(ranking.denylist)[ids]
        if match.key is not None:
            key = match.key if self.keys is not None else np.frombuffer(match.key, keys_arr.dtype)  # type: ignore[call-overload]
            same = keys_arr == key  # the query, up to order and plural
            if not ranking.collapse:  # only the query phrase itself, not its other spellings
                for j in np.flatnonzero(same).tolist():
                    same[j] = self.phrases[int(ids[j])] == match.normalized
            eligible &= ~same
        compound = np.zeros(len(ids), bool)
        if match.content:
            rows = self.rows[ids]  # [C, L]
            for word in match.content:
                compound |= (rows == word).any(axis=1)
        keys = keys_arr.tolist()
        collapse = ranking.collapse

        def unique(positions: np.ndarray, limit: int, rest: bool) -> tuple[list[int], list[int]]:
            """The first `limit` positions whose keys come first (every position without collapse), and with
            `rest` the others after them."""
            if not collapse:
                listed = positions.tolist()
                return listed[:limit], listed[limit:]
            seen: set[object] = set()
            first: list[int] = []
            for j in positions.tolist():
                if keys[j] not in seen:
                    seen.add(keys[j])
                    first.append(j)
                    if len(first) == limit and not rest:
                        break
            return first[:limit], first[limit:]

        plain, _ = unique(np.flatnonzero(eligible & ~compound), k, False)
        cap = 0 if ranking.compounds == "exclude" else min(k, ranking.compound_cap(k))
        capped, over = unique(np.flatnonzero(eligible & compound), cap, fill) if cap else ([], [])
        hits = sorted(plain + capped)[:k]
        if fill and len(hits) < k:  # the last widening: compounds beyond the cap fill the list
            hits = sorted(hits + over[: k - len(hits)])
        return hits
