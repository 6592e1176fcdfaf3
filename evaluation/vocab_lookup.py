"""Vectorised vocabulary lookup of the tokens of a tokenised ASCII text: token -> word row, or -1.

`VocabLookup` puts the vocabulary's words of up to `SHORT_BYTES` bytes (UTF-8) into a `FieldTable` once;
`rows` then finds a whole buffer of tokens with numpy instead of a dict lookup per token (which costs a few
cache misses each: over a second for two million tokens). A token of up to 16 bytes is compared in full (its
length and its first and last 8 bytes are the whole token); longer tokens, and every token if the vocabulary
has duplicate short words or the table reports a collision, go through `word_index` as before. The result is
`word_index.get(token, -1)` for every token.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from numpy.typing import NDArray

from evaluation.field_table import SLACK_BYTES, FieldTable, field_keys

SHORT_BYTES = 16


def _word_view(buf: NDArray[np.uint8]) -> NDArray[np.uint64]:
    """view[i]: the little-endian uint64 at byte i of `buf` (which ends with SLACK_BYTES spare bytes)."""
    return np.ndarray(shape=(buf.size - 7,), dtype="<u8", buffer=buf, offset=0, strides=(1,))


class VocabLookup:
    """Word rows for tokens; build once per vocabulary (about 0.1 s for 200k words)."""

    def __init__(self, words: Sequence[str], word_index: Mapping[str, int]) -> None:
        self.word_index = word_index
        encoded = [w.encode("utf-8") for w in words]
        lengths = np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded))
        short = np.flatnonzero((lengths >= 1) & (lengths <= SHORT_BYTES))
        joined = b"".join([encoded[i] for i in short.tolist()])
        buf = np.zeros(len(joined) + SLACK_BYTES, dtype=np.uint8)
        buf[: len(joined)] = np.frombuffer(joined, dtype=np.uint8)
        short_lengths = lengths[short]
        starts = np.cumsum(short_lengths) - short_lengths
        keys, first, last = field_keys(_word_view(buf), starts, short_lengths)
        self.table: FieldTable | None = FieldTable()
        ids = self.table.lookup(keys, first, last, short_lengths, starts)
        if ids is None or self.table.count != short.size or short.size == 0:  # duplicates, a collision
            self.table = None
        self._rows = np.zeros(short.size, dtype=np.int64)  # [table id]: the word's row
        if ids is not None:
            self._rows[ids] = short

    def rows(
        self, text: str, buf: NDArray[np.uint8], starts: NDArray[np.int64], lengths: NDArray[np.int64]
    ) -> NDArray[np.int64]:
        """Word row of each token (-1: not in the vocabulary). Token i is the ASCII text
        text[starts[i]:starts[i] + lengths[i]], at the same offsets in `buf` (SLACK_BYTES spare bytes)."""
        if self.table is None:
            return self._dict_rows(text, starts, lengths)
        long_tokens = np.flatnonzero(lengths > SHORT_BYTES)
        short = np.flatnonzero(lengths <= SHORT_BYTES) if long_tokens.size else None
        s, n = (starts, lengths) if short is None else (starts[short], lengths[short])
        keys, first, last = field_keys(_word_view(buf), s, n)
        ids = self.table.find(keys, first, last, n)
        if ids is None:  # a key collision: the dict is exact
            return self._dict_rows(text, starts, lengths)
        found = np.where(ids >= 0, self._rows[np.maximum(ids, 0)], -1)
        if short is None:
            return found
        rows = np.empty(lengths.size, dtype=np.int64)
        rows[short] = found
        rows[long_tokens] = self._dict_rows(text, starts[long_tokens], lengths[long_tokens])
        return rows

    def _dict_rows(
        self, text: str, starts: NDArray[np.int64], lengths: NDArray[np.int64]
    ) -> NDArray[np.int64]:
        get = self.word_index.get
        spans = zip(starts.tolist(), (starts + lengths).tolist(), strict=True)
        return np.fromiter((get(text[a:b], -1) for a, b in spans), dtype=np.int64, count=starts.size)
