"""Field keys and the field table: equal fields <-> equal ids, probing, growth, the exact check, find."""

from __future__ import annotations

import numpy as np
import pytest

from evaluation.field_table import SLACK_BYTES, FieldTable, field_keys


def _buffer(fields: list[bytes], junk: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(buf, view, starts, lengths) of the fields laid out back to back, each followed by a junk byte."""
    filler = bytes([junk])
    data = b"".join(f + filler for f in fields)
    buf = np.zeros(len(data) + SLACK_BYTES, dtype=np.uint8)
    buf[: len(data)] = np.frombuffer(data, dtype=np.uint8)
    view = np.ndarray(shape=(buf.size - 7,), dtype="<u8", buffer=buf, offset=0, strides=(1,))
    lengths = np.array([len(f) for f in fields], dtype=np.int64)
    starts = np.cumsum(lengths + 1) - lengths - 1
    return buf, view, starts, lengths


FIELDS = [b"a", b"ab", b"abcdefgh", b"abcdefghi", b"x" * 16, b"x" * 17, b"y" * 24, b"y" * 25, b"z" * 300]


def test_keys_ignore_the_bytes_after_a_field_and_words_are_the_ends() -> None:
    _, view, starts, lengths = _buffer(FIELDS, junk=0)
    keys, first, last = field_keys(view, starts, lengths)
    _, view2, starts2, lengths2 = _buffer(FIELDS, junk=0xFF)
    keys2, first2, last2 = field_keys(view2, starts2, lengths2)
    assert np.array_equal(keys, keys2) and np.array_equal(first, first2) and np.array_equal(last, last2)
    assert len(set(keys.tolist())) == len(FIELDS)
    for field, f, la in zip(FIELDS, first.tolist(), last.tolist(), strict=True):
        assert f == int.from_bytes(field[:8], "little")
        assert la == int.from_bytes(field[8 * ((len(field) - 1) // 8) :], "little")


def test_keys_depend_on_every_middle_word() -> None:
    base = bytearray(b"m" * 40)
    variants = [bytes(base)]
    for position in (8, 15, 16, 23, 24, 31):  # bytes of the middle words (first word 0-7, last 32-39)
        changed = bytearray(base)
        changed[position] = ord("n")
        variants.append(bytes(changed))
    _, view, starts, lengths = _buffer(variants)
    keys, first, last = field_keys(view, starts, lengths)
    assert len(set(keys.tolist())) == len(variants)
    assert len(set(first.tolist())) == 1 and len(set(last.tolist())) == 1


def _lookup(table: FieldTable, fields: list[bytes]) -> np.ndarray | None:
    _, view, starts, lengths = _buffer(fields)
    return table.lookup(*field_keys(view, starts, lengths), lengths, starts)


def test_equal_fields_get_equal_dense_ids_across_batches_and_growth() -> None:
    rng = np.random.default_rng(0)
    pool = [f"phrase {i}".encode() * int(rng.integers(1, 4)) for i in range(3000)]
    table = FieldTable(size=2)  # grows many times
    seen: dict[bytes, int] = {}
    for _ in range(5):
        batch = [pool[i] for i in rng.integers(0, len(pool), 2000)]
        ids = _lookup(table, batch)
        assert ids is not None
        for field, i in zip(batch, ids.tolist(), strict=True):
            assert seen.setdefault(field, i) == i
    assert sorted(seen.values()) == list(range(len(seen))) == list(range(table.count))
    assert table.count / table.size <= table.max_load


def test_probing_and_racing_claims_with_one_home_slot() -> None:
    table = FieldTable(size=1024, max_load=0.5)
    n = 300
    keys = np.full(n, 12345, dtype=np.uint64)  # all at the same home slot
    first = np.arange(n, dtype=np.uint64) % np.uint64(100)  # 100 distinct fields, each 3 times
    lengths = np.full(n, 5, dtype=np.int64)
    ids = table.lookup(keys + first * np.uint64(2), first, first, lengths, np.arange(n))
    assert ids is not None and table.count == 100
    assert np.array_equal(ids[:100], ids[100:200]) and np.array_equal(ids[:100], ids[200:])
    starts, lens = table.representatives()  # here "starts" are batch positions: one field of each id
    assert np.array_equal(first[starts][ids], first) and (lens == 5).all()


def test_a_key_match_with_different_ends_is_reported() -> None:
    keys = np.array([7, 7], dtype=np.uint64)
    first, last = np.array([1, 2], dtype=np.uint64), np.array([3, 3], dtype=np.uint64)
    starts = np.array([0, 10])
    assert FieldTable().lookup(keys, first, last, np.array([9, 9]), starts) is None
    other_lengths = FieldTable().lookup(keys, first, last, np.array([9, 10]), starts)
    assert other_lengths is not None and sorted(other_lengths.tolist()) == [0, 1]  # different fields


def test_find_does_not_insert() -> None:
    table = FieldTable(size=4)
    assert _lookup(table, FIELDS) is not None
    _, view, starts, lengths = _buffer([b"abcdefghi", b"nope", b"z" * 300, b"a"])
    ids = table.find(*field_keys(view, starts, lengths), lengths)
    assert ids is not None and ids.tolist() == [3, -1, 8, 0]
    assert table.count == len(FIELDS)
    keys, first, last = field_keys(view, starts, lengths)
    assert table.find(keys, first ^ np.uint64(1), last, lengths) is None  # same key, different first word


def test_size_must_be_a_power_of_two() -> None:
    with pytest.raises(ValueError, match="power of two"):
        FieldTable(size=100)
