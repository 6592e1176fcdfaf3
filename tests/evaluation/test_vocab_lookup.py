"""Vectorised vocabulary lookup: the same word rows as a dict lookup per token, whatever the vocabulary."""

from __future__ import annotations

import numpy as np
import pytest

from evaluation.field_table import SLACK_BYTES, FieldTable
from evaluation.vocab_lookup import VocabLookup


def _tokens(tokens: list[str]) -> tuple[str, np.ndarray, np.ndarray, np.ndarray]:
    text = " ".join(tokens)
    buf = np.zeros(len(text) + SLACK_BYTES, dtype=np.uint8)
    buf[: len(text)] = np.frombuffer(text.encode("ascii"), dtype=np.uint8)
    lengths = np.array([len(t) for t in tokens], dtype=np.int64)
    starts = np.cumsum(lengths + 1) - lengths - 1
    return text, buf, starts, lengths


def _expected(words: list[str], tokens: list[str]) -> list[int]:
    index = {w: i for i, w in enumerate(words)}  # a duplicate word: the last row, as in a dict
    return [index.get(t, -1) for t in tokens]


TOKENS = ["cat", "dog", "zebra", "a", "x" * 16, "x" * 17, "y" * 40, "abcdefgh", "abcdefgi", "cat"]


@pytest.mark.parametrize(
    "words",
    [
        ["cat", "dog", "a", "x" * 16, "x" * 17, "y" * 40, "abcdefgh", "Dog", "ünï", ""],
        ["cat", "dog", "cat", "a"],  # duplicate: the dict decides
        ["only-long-words-here", "y" * 40],  # no short word: the dict decides
        [],
    ],
)
def test_rows_equal_dict_lookups(words: list[str]) -> None:
    lookup = VocabLookup(words, {w: i for i, w in enumerate(words)})
    assert lookup.rows(*_tokens(TOKENS)).tolist() == _expected(words, TOKENS)


def test_a_collision_falls_back_to_the_dict(monkeypatch: pytest.MonkeyPatch) -> None:
    words = ["cat", "dog"]
    lookup = VocabLookup(words, {w: i for i, w in enumerate(words)})
    monkeypatch.setattr(FieldTable, "find", lambda *args: None)
    assert lookup.rows(*_tokens(TOKENS)).tolist() == _expected(words, TOKENS)
