"""Phrase vectors: the bulk tokeniser agrees with index.text.tokenize; means, OOV rule, zero vectors."""

from __future__ import annotations

import numpy as np
import pytest

from evaluation import PhraseEncoder
from index.text import tokenize
from tests.evaluation.conftest import TOY, MakeEmbeddings

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


def _dict_token_ids(encoder: PhraseEncoder, phrases: list[str]) -> tuple[list[int], list[int]]:
    tokens = [tokenize(p) for p in phrases]
    return [encoder.word_index.get(t, -1) for toks in tokens for t in toks], [len(t) for t in tokens]


def test_ascii_token_lookup_equals_the_dict(make_embeddings: MakeEmbeddings) -> None:
    vocab = ["cat", "dog", "a", "abcdefgh", "abcdefghi", "x" * 16, "x" * 17, "y" * 30, "Cat", "ünï", "hot"]
    encoder = PhraseEncoder(make_embeddings({w: [1.0, float(i)] for i, w in enumerate(vocab)}))
    phrases = [
        "Cat DOG", "abcdefgh abcdefghi abcdefghij", "x" * 16, "x" * 17 + " " + "x" * 18, "y" * 30, "y" * 31,
        "", "--", "hot-dog!", "a_b", "zebra cat", "  a  ", "123 cat9 9",
    ]  # fmt: skip
    flat, lengths, known = encoder.token_ids(phrases)
    expected_flat, expected_lengths = _dict_token_ids(encoder, phrases)
    assert flat.tolist() == expected_flat and lengths.tolist() == expected_lengths
    offsets = np.cumsum([0, *expected_lengths])
    found = [expected_flat[a:b] for a, b in zip(offsets[:-1], offsets[1:], strict=True)]
    assert known.tolist() == [bool(rows) and -1 not in rows for rows in found]
    assert known.sum() == 5  # "Cat DOG", "x"*16, "y"*30, "hot-dog!" (hot, dog), "  a  "


def _position_wise_reference(encoder: PhraseEncoder, phrases: list[str]) -> np.ndarray:
    """The encoder's float32 arithmetic written plainly: word sums left to right, then one division."""
    flat, lengths, known = encoder.token_ids(phrases)
    vectors = np.asarray(encoder.embeddings.vectors)
    out = np.zeros((len(phrases), encoder.dim), dtype=np.float32)
    starts = np.cumsum(lengths) - lengths
    for i in np.flatnonzero(known):
        row = vectors[flat[starts[i]]].copy()
        for k in range(1, int(lengths[i])):
            row += vectors[flat[starts[i] + k]]
        out[i] = row
    norms = np.sqrt(np.einsum("ij,ij->i", out, out))
    nonzero = norms > 0
    out[nonzero] /= norms[nonzero, None]
    return out


@pytest.mark.parametrize("threads", [1, 2])
def test_block_encoding_is_bit_identical_to_plain_sums(make_embeddings: MakeEmbeddings, threads: int) -> None:
    rng = np.random.default_rng(0)
    vocab = [f"w{i}" for i in range(500)]
    encoder = PhraseEncoder(make_embeddings({w: rng.normal(size=16).tolist() for w in vocab}))
    phrases = [" ".join(rng.choice(vocab, size=int(rng.integers(1, 6)))) for _ in range(5000)]
    phrases[10:20] = ["unknownword w1"] * 10  # OOV phrases in the middle of a block
    unit, known = encoder.encode(phrases, threads=threads)
    assert unit.dtype == np.float32 and unit.shape == (5000, 16)
    assert np.array_equal(unit.view(np.uint32), _position_wise_reference(encoder, phrases).view(np.uint32))
    assert known.sum() == 4990 and not unit[10:20].any()
