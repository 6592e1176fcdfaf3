"""Numbering the distinct fields of a triplet file, vectorised: 64-bit field keys and a table of them.

`field_keys` hashes fields of a byte buffer 8 bytes at a time (an unaligned uint64 view, splitmix64's mixer
per word) and also returns each field's first and last 8 bytes. `FieldTable` gives equal fields equal dense
ids with an open-addressing, linear-probing hash table, one whole batch of fields at a time. A field matches
an entry when its key and length are equal and, checked exactly, its first and last 8 bytes too: fields of up
to 16 bytes are compared in full, and a longer field is merged with a different one only through a 64-bit
collision between equally long fields that agree on both ends. A key match that fails the exact check makes
`FieldTable.lookup` return None (the caller then parses exactly instead).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

_K1 = np.uint64(0x9E3779B97F4A7C15)
_K2 = np.uint64(0xBF58476D1CE4E5B9)
_K3 = np.uint64(0x94D049BB133111EB)
_S31, _S30, _S27 = np.uint64(31), np.uint64(30), np.uint64(27)
# _MASKS[i]: the low i bytes of a little-endian uint64 word
_MASKS = np.array([(1 << (8 * i)) - 1 for i in range(8)] + [(1 << 64) - 1], dtype=np.uint64)
_ONE = np.uint64(1)
_LEN_BITS = np.uint64(16)
_LEN_MASK = np.uint64(0xFFFF)
SLACK_BYTES = 8  # readable bytes `field_keys` needs after the end of the last field
_NewFields = tuple[NDArray[np.uint64], NDArray[np.uint64], NDArray[np.int64]]  # first, last words, starts


def _mix(h: NDArray[np.uint64]) -> NDArray[np.uint64]:
    """splitmix64's finaliser (a bijection of uint64), in place."""
    h ^= h >> _S30
    h *= _K2
    h ^= h >> _S27
    h *= _K3
    h ^= h >> _S31
    return h


def field_keys(
    view: NDArray[np.uint64], starts: NDArray[np.int64], lengths: NDArray[np.int64]
) -> tuple[NDArray[np.uint64], NDArray[np.uint64], NDArray[np.uint64]]:
    """(key, first word, last word) of each field (all lengths >= 1).

    `view[i]` is the little-endian uint64 at byte i of the buffer (any alignment), with SLACK_BYTES readable
    bytes after each field; bytes past a field's end are masked off. The key mixes, in this order, the length
    with the first word, the last word (0 for a one-word field), then the middle words (fields over 16 bytes).
    """
    n_words = (lengths + 7) >> 3
    first = view[starts]
    first &= _MASKS[np.minimum(lengths, 8)]
    last_offset = (n_words - 1) << 3
    last = view[starts + last_offset]
    last &= _MASKS[lengths - last_offset]
    with np.errstate(over="ignore"):
        h = lengths.astype(np.uint64)
        h *= _K1
        h ^= first
        _mix(h)
        h += _K1
        h ^= last * (n_words > 1)
        _mix(h)
        most = int(n_words.max(initial=1))
        if most > 2:
            long_fields = np.flatnonzero(n_words > 2)
            starts_long, words_long = starts[long_fields], n_words[long_fields]
            middle = _mix(view[starts_long + 8])
            for j in range(2, most - 1):  # word j is a middle word of the fields with more than j + 1 words
                sub = np.flatnonzero(words_long > j + 1)
                m = middle[sub]
                m += _K1
                m ^= view[starts_long[sub] + 8 * j]
                middle[sub] = _mix(m)
            h_long = h[long_fields]
            h_long += _K1
            h_long ^= middle
            h[long_fields] = _mix(h_long)
    return h, first, last


class FieldTable:
    """Dense ids for fields, in the order they are first inserted; batches go through `lookup`.

    Slots hold complex128 pairs of uint64 (key | 1, id << 16 | length); 0 marks an empty slot. The table
    doubles while more than `max_load` of it would fill up. Per id it keeps the first and last word (for the
    exact check) and where the field that introduced it starts (`starts`, `lengths`: see `representatives`).
    """

    def __init__(self, size: int = 1 << 16, max_load: float = 0.25) -> None:
        if size < 2 or size & (size - 1):
            raise ValueError(f"size must be a power of two >= 2, got {size}")
        self.max_load = max_load
        self.count = 0
        self._words = np.zeros(0, dtype=np.complex128)  # [capacity]: (first, last) of each id
        self._starts = np.zeros(0, dtype=np.int64)
        self._lengths = np.zeros(0, dtype=np.int64)
        self._new_slots(size)

    def _new_slots(self, size: int) -> None:
        self.size = size
        self._shift = np.uint64(64 - (size.bit_length() - 1))  # slot = the key's top bits
        self._slots = np.zeros(size, dtype=np.complex128)
        self._view = self._slots.view(np.uint64)  # [2 * size]: key, tag, key, tag, ...

    def _home(self, keys: NDArray[np.uint64]) -> NDArray[np.int64]:
        return (keys >> self._shift).view(np.int64)

    def _reserve(self, n: int) -> bool:
        """Room for n more ids: more capacity per id, and a bigger table if it would fill up (then True)."""
        if self.count + n > self._starts.size:
            capacity = max(2 * self._starts.size, self.count + n, 1024)
            for name in ("_words", "_starts", "_lengths"):
                old = getattr(self, name)
                grown = np.zeros(capacity, dtype=old.dtype)
                grown[: self.count] = old[: self.count]
                setattr(self, name, grown)
        if self.count + n <= self.size * self.max_load:
            return False
        size = self.size
        while self.count + n > size * self.max_load:
            size *= 2
        entries = self._slots[self._view[0::2] != 0]
        self._new_slots(size)
        keys = entries.view(np.uint64)[0::2].copy()
        self._place(keys, self._home(keys), entries)
        return True

    def _place(
        self, keys: NDArray[np.uint64], slot: NDArray[np.int64], entries: NDArray[np.complex128]
    ) -> None:
        """Insert distinct entries (none already in the table), each at the first free slot from `slot`."""
        pending = np.arange(keys.size)
        mask = self.size - 1
        while pending.size:
            s = slot[pending]
            free = self._view[2 * s] == 0
            winners = self._claim(pending[free], s[free])
            self._slots[s[free][winners]] = entries[pending[free][winners]]
            done = np.zeros(pending.size, dtype=np.bool_)
            done[np.flatnonzero(free)[winners]] = True
            slot[pending[~free]] = (s[~free] + 1) & mask
            pending = pending[~done]

    def _claim(self, who: NDArray[np.int64], slots: NDArray[np.int64]) -> NDArray[np.bool_]:
        """Free `slots` claimed by distinct batch positions `who`: each writes an even marker into the key
        word (real keys are odd) and reads it back, so exactly one claimant wins each slot. The winners."""
        marker = (who.astype(np.uint64) + _ONE) << _ONE
        self._view[2 * slots] = marker
        return np.asarray(self._view[2 * slots] == marker, dtype=np.bool_)

    def _first_probe(
        self, keys: NDArray[np.uint64], lengths: NDArray[np.int64]
    ) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]]:
        """(ids, home slots, unmatched positions) after looking at every field's home slot."""
        slot = self._home(keys)
        found = np.take(self._slots, slot).view(np.uint64)
        tag = found[1::2]
        match = found[0::2] == keys
        match &= (tag & _LEN_MASK) == lengths.view(np.uint64)
        return (tag >> _LEN_BITS).view(np.int64), slot, np.flatnonzero(~match)

    def _probe(
        self,
        keys: NDArray[np.uint64],
        lengths: NDArray[np.int64],
        slot: NDArray[np.int64],
        ids: NDArray[np.int64],
        pending: NDArray[np.int64],
        new: _NewFields | None,
    ) -> None:
        """Linear probing from `slot` for the `pending` positions until their key and length match (ids set)
        or a free slot is reached: then `new` fields are inserted there, and without `new` the id is -1."""
        mask = self.size - 1
        while pending.size:
            s = slot[pending]
            found = np.take(self._slots, s).view(np.uint64)
            slot_keys, tag = found[0::2], found[1::2]
            hit = (slot_keys == keys[pending]) & ((tag & _LEN_MASK) == lengths[pending].view(np.uint64))
            ids[pending[hit]] = (tag[hit] >> _LEN_BITS).view(np.int64)
            free = slot_keys == 0
            if new is None:
                ids[pending[free]] = -1
                hit |= free
            elif free.any():
                claims = np.flatnonzero(free)
                won = claims[self._claim(pending[claims], s[claims])]
                self._insert(pending[won], s[won], keys, lengths, new, ids)
                hit[won] = True  # the losers look at the same slot again: taken now, maybe by their key
            moving = ~(hit | free)
            slot[pending[moving]] = (s[moving] + 1) & mask
            pending = pending[~hit]

    def _insert(
        self,
        who: NDArray[np.int64],
        slots: NDArray[np.int64],
        keys: NDArray[np.uint64],
        lengths: NDArray[np.int64],
        new: _NewFields,
        ids: NDArray[np.int64],
    ) -> None:
        """New ids for batch positions `who`, which won the free `slots`."""
        fresh = np.arange(self.count, self.count + who.size, dtype=np.int64)
        self.count += who.size
        self._view[2 * slots + 1] = (fresh.view(np.uint64) << _LEN_BITS) | lengths[who].view(np.uint64)
        self._view[2 * slots] = keys[who]
        first, last, starts = new
        words = self._words.view(np.uint64)
        words[2 * fresh] = first[who]
        words[2 * fresh + 1] = last[who]
        self._starts[fresh] = starts[who]
        self._lengths[fresh] = lengths[who]
        ids[who] = fresh

    def _exact(self, ids: NDArray[np.int64], first: NDArray[np.uint64], last: NDArray[np.uint64]) -> bool:
        """Whether each field's first and last words equal those of its id."""
        words = np.take(self._words, ids).view(np.uint64)
        return bool(((words[0::2] == first) & (words[1::2] == last)).all())

    def lookup(
        self,
        keys: NDArray[np.uint64],
        first: NDArray[np.uint64],
        last: NDArray[np.uint64],
        lengths: NDArray[np.int64],
        starts: NDArray[np.int64],
    ) -> NDArray[np.int64] | None:
        """Ids of a batch of fields (`field_keys` output, lengths < 65536, file offsets), inserting new ones;
        None if a field's key and length match an entry whose first or last word differs."""
        keys = keys | _ONE
        lengths = np.ascontiguousarray(lengths, dtype=np.int64)
        ids, slot, pending = self._first_probe(keys, lengths)
        if self._reserve(pending.size):  # only the unmatched fields can be new; a bigger table: new homes
            slot[pending] = self._home(keys[pending])
        self._probe(keys, lengths, slot, ids, pending, (first, last, starts))
        return ids if self._exact(ids, first, last) else None

    def find(
        self,
        keys: NDArray[np.uint64],
        first: NDArray[np.uint64],
        last: NDArray[np.uint64],
        lengths: NDArray[np.int64],
    ) -> NDArray[np.int64] | None:
        """Like `lookup` without inserting: -1 for fields not in the table."""
        keys = keys | _ONE
        lengths = np.ascontiguousarray(lengths, dtype=np.int64)
        ids, slot, pending = self._first_probe(keys, lengths)
        self._probe(keys, lengths, slot, ids, pending, None)
        found = np.flatnonzero(ids >= 0)
        return ids if self._exact(ids[found], first[found], last[found]) else None

    def representatives(self) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        """(start, length) in the file of the first inserted field of each id, by id."""
        return self._starts[: self.count], self._lengths[: self.count]
