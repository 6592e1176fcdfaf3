"""Phrase vectors: the bulk tokeniser agrees with index.text.tokenize; means, OOV rule, zero vectors."""

from __future__ import annotations

import numpy as np
import pytest

from index.evaluation import PhraseEncoder
from index.text import tokenize
from tests.index.evaluation.conftest import TOY, MakeEmbeddings

TRICKY = [
    "A Hot-Dog, please!",
    "snake_case word",
    "ΟΔΟΣ ΣΟΦΟΣ",
    "İstanbul",
    "  ",
    "--",
    "Ünïcode 123",
    "",
    "a\tb",
]


@pytest.mark.parametrize("with_newline", [False, True])
def test_bulk_tokenisation_equals_tokenize(make_embeddings: MakeEmbeddings, with_newline: bool) -> None:
    phrases = [*TRICKY, "multi\nline"] if with_newline else TRICKY
    vocab = sorted({t for p in phrases for t in tokenize(p)})
    encoder = PhraseEncoder(make_embeddings({w: [1.0, float(i)] for i, w in enumerate(vocab)}))
    flat, lengths, known = encoder.token_ids(phrases)
    expected = [tokenize(p) for p in phrases]
    assert lengths.tolist() == [len(t) for t in expected]
    assert [encoder.embeddings.words[i] for i in flat] == [t for toks in expected for t in toks]
    assert known.tolist() == [bool(t) for t in expected]


def test_mean_vectors_and_oov(make_embeddings: MakeEmbeddings) -> None:
    encoder = PhraseEncoder(make_embeddings({**TOY, "minus": [-1.0, -1.0]}))
    unit, known = encoder.encode(["Red car", "cat", "red zebra", "", "red minus", "cat cat dog"])
    assert known.tolist() == [True, True, False, False, True, True]
    np.testing.assert_allclose(unit[0], np.array([0.5, 1.0]) / np.sqrt(1.25), rtol=1e-6)
    np.testing.assert_allclose(unit[1], [1.0, 0.0])
    assert not unit[2].any() and not unit[3].any()  # OOV: zero vectors
    assert not unit[4].any()  # (1,1) + (-1,-1) = 0: known, but a zero vector (every cosine is 0)
    np.testing.assert_allclose(unit[5], np.array([2.8, 0.6]) / np.hypot(2.8, 0.6), rtol=1e-6)
