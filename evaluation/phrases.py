"""Phrase vectors for evaluation: the paper's rule, vectorised over many phrases at once.

A phrase's vector is the mean of its words' vectors (words from `index.text.tokenize`); cosine similarity only
needs its direction, so the vectors returned here are L2-normalised. A phrase is out of vocabulary (OOV) when
it has no token or any of its words is missing from the embeddings' vocabulary (the same rule the phrase index
uses); an OOV phrase gets a zero vector and `known=False`. A phrase whose mean is the zero vector keeps a zero
vector, so every cosine with it is 0.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from numpy.typing import NDArray

from evaluation.field_table import SLACK_BYTES
from evaluation.vocab_lookup import VocabLookup
from index.artifacts import Embeddings
from index.text import tokenize

# index.text's rule ([\W_]+ -> one space) except that newlines survive, to split the joined phrases again.
_NON_ALNUM_KEEP_NEWLINE = re.compile(r"(?:[^\w\n]|_)+", re.UNICODE)
# Phrases per block when summing word vectors: the block's rows (1 MB at 128-d) stay in cache.
_BLOCK = 2048


# ASCII fast path: every character but [a-z0-9] and newline becomes a space (text is lowercased first).
_ASCII_TABLE = {c: (None if chr(c).isalnum() or c == 10 else 32) for c in range(128)}
_ASCII_TABLE = {c: v for c, v in _ASCII_TABLE.items() if v is not None}


def _ascii_tokens(
    joined: str,
) -> tuple[str, NDArray[np.uint8], NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]]:
    """Tokens of newline-joined lowercase ASCII phrases: (text, buf, starts, lengths, tokens per phrase).

    `text` is `joined` with every character but [a-z0-9] and newline turned into a space, `buf` its bytes
    with SLACK_BYTES spare bytes; token i is text[starts[i]:starts[i] + lengths[i]] (the same tokens as
    `tokenize` gives per phrase)."""
    text = joined.translate(_ASCII_TABLE)
    buf = np.zeros(len(text) + SLACK_BYTES, dtype=np.uint8)
    raw = buf[: len(text)]
    raw[:] = np.frombuffer(text.encode("ascii"), dtype=np.uint8)
    edges = np.diff(((raw != 32) & (raw != 10)).view(np.int8), prepend=np.int8(0), append=np.int8(0))
    starts = np.flatnonzero(edges == 1)
    lengths = np.flatnonzero(edges == -1) - starts
    before = np.searchsorted(starts, np.flatnonzero(raw == 10))  # [phrases - 1]: tokens before each newline
    per_phrase = np.diff(before, prepend=0, append=starts.size)
    return text, buf, starts, lengths, per_phrase


def _regex_tokens(joined: str, count: int) -> tuple[list[str], NDArray[np.int64]]:
    """Tokens of `count` newline-joined lowercase phrases, concatenated, and the token count of each phrase:
    the same regex as `tokenize`, applied once to all phrases."""
    token_lists = [line.split() for line in _NON_ALNUM_KEEP_NEWLINE.sub(" ", joined).split("\n")]
    return list(itertools.chain.from_iterable(token_lists)), np.fromiter(
        map(len, token_lists), dtype=np.int64, count=count
    )


def _sum_block(
    vectors: NDArray[np.float32],
    flat: NDArray[np.int64],
    starts: NDArray[np.int64],
    lengths: NDArray[np.int64],
    known: NDArray[np.bool_],
    out: NDArray[np.float32],
) -> None:
    """Unit phrase vectors of one block of phrases into `out` (zero rows for unknown phrases).

    The known phrases are put in a buffer longest first, so that pass k adds the k-th word of every phrase
    that has one to a prefix of the buffer (few passes, since phrases are short; much faster than
    np.add.reduceat over rows). The mean has the same direction as the sum. The block is written out with one
    gather from the buffer.
    """
    rows = np.flatnonzero(known)
    rows = rows[np.argsort(-lengths[rows], kind="stable")]
    first, count = starts[rows], lengths[rows]
    buf = np.empty((rows.size + 1, out.shape[1]), dtype=np.float32)  # the last row stays zero
    buf[-1] = 0
    sums = buf[:-1]
    sums[:] = vectors[flat[first]]
    k = 1
    while (n := int(np.count_nonzero(count > k))) > 0:
        sums[:n] += vectors[flat[first[:n] + k]]
        k += 1
    norms = np.sqrt(np.einsum("ij,ij->i", sums, sums))[:, None]  # [rows, 1]
    np.divide(sums, norms, out=sums, where=norms > 0)
    position = np.full(out.shape[0], rows.size)  # [block]: each phrase's row in the buffer
    position[rows] = np.arange(rows.size)
    out[:] = buf[position]


class PhraseEncoder:
    """Maps phrases to unit vectors with one embeddings' vocabulary; build once, encode many phrase lists."""

    def __init__(self, embeddings: Embeddings) -> None:
        self.embeddings = embeddings
        self.word_index: dict[str, int] = embeddings.word_index()
        self.dim = embeddings.dim
        self._lookup: VocabLookup | None = None

    def token_ids(
        self, phrases: Sequence[str]
    ) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.bool_]]:
        """(flat_ids, lengths, known): the word rows of all phrases' tokens concatenated (-1 for an OOV word),
        the number of tokens of each phrase, and whether each phrase is known (has tokens, none OOV).

        Tokenises all phrases in one pass over their concatenation (the same tokens as `tokenize` per phrase,
        several times faster); ASCII text is tokenised and looked up with numpy (`VocabLookup`). Phrases
        containing a newline are tokenised one by one.
        """
        joined = "\n".join(phrases)
        lengths: NDArray[np.int64]
        if not phrases:
            flat, lengths = np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        elif joined.count("\n") != len(phrases) - 1:  # a phrase has a newline
            token_lists = [tokenize(p) for p in phrases]
            lengths = np.fromiter(map(len, token_lists), dtype=np.int64, count=len(phrases))
            flat = self._dict_rows(itertools.chain.from_iterable(token_lists), int(lengths.sum()))
        else:
            joined = joined.lower()
            if joined.isascii():
                text, buf, starts, token_lengths, lengths = _ascii_tokens(joined)
                flat = self._vocab_lookup().rows(text, buf, starts, token_lengths)
            else:
                tokens, lengths = _regex_tokens(joined, len(phrases))
                flat = self._dict_rows(tokens, len(tokens))
        owner = np.repeat(np.arange(len(phrases)), lengths)  # [tokens]: the phrase of each token
        oov_words = np.bincount(owner[flat < 0], minlength=len(phrases))  # [P]
        known: NDArray[np.bool_] = (lengths > 0) & (oov_words == 0)
        return flat, lengths, known

    def _dict_rows(self, tokens: Iterable[str], count: int) -> NDArray[np.int64]:
        return np.fromiter(
            map(self.word_index.get, tokens, itertools.repeat(-1)), dtype=np.int64, count=count
        )

    def _vocab_lookup(self) -> VocabLookup:
        if self._lookup is None:  # built on first use; two threads may both build it, harmlessly
            self._lookup = VocabLookup(self.embeddings.words, self.word_index)
        return self._lookup

    def encode(
        self, phrases: Sequence[str], *, threads: int = 2
    ) -> tuple[NDArray[np.float32], NDArray[np.bool_]]:
        """Unit vectors float32 [len(phrases), dim] (zero rows for OOV phrases) and the known mask; blocks of
        `_BLOCK` phrases are summed and normalised in cache, on `threads` threads."""
        flat, lengths, known = self.token_ids(phrases)
        out = np.empty((len(phrases), self.dim), dtype=np.float32)
        vectors = np.asarray(self.embeddings.vectors, dtype=np.float32)
        starts = np.cumsum(lengths) - lengths  # [P]: offset of each phrase's first token in `flat`

        def run(start: int) -> None:
            end = start + _BLOCK
            _sum_block(vectors, flat, starts[start:end], lengths[start:end], known[start:end], out[start:end])

        if threads <= 1 or len(phrases) <= _BLOCK:
            list(map(run, range(0, len(phrases), _BLOCK)))
        else:
            with ThreadPoolExecutor(max_workers=threads) as pool:
                list(pool.map(run, range(0, len(phrases), _BLOCK)))
        return out, known
