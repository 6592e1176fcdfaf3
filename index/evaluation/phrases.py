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
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from index.artifacts import Embeddings
from index.text import tokenize

# index.text's rule ([\W_]+ -> one space) except that newlines survive, to split the joined phrases again.
_NON_ALNUM_KEEP_NEWLINE = re.compile(r"(?:[^\w\n]|_)+", re.UNICODE)
# Phrases per block when summing word vectors, to bound the temporary [words, dim] gather.
_BLOCK = 65536


# ASCII fast path: every character but [a-z0-9] and newline becomes a space (text is lowercased first).
_ASCII_TABLE = {c: (None if chr(c).isalnum() or c == 10 else 32) for c in range(128)}
_ASCII_TABLE = {c: v for c, v in _ASCII_TABLE.items() if v is not None}


def _bulk_tokenize(phrases: Sequence[str]) -> tuple[list[str], NDArray[np.int64]]:
    """All tokens of all phrases (no newline inside any), concatenated, and the token count of each phrase.

    Same tokens as `tokenize` per phrase: ASCII text goes through str.translate and numpy, other text through
    the same regex as `tokenize` applied once to the joined phrases.
    """
    if not phrases:
        return [], np.zeros(0, dtype=np.int64)
    joined = "\n".join(phrases).lower()
    if joined.isascii():
        text = joined.translate(_ASCII_TABLE)
        raw = np.frombuffer(text.encode("ascii"), dtype=np.uint8)
        in_token = (raw != 32) & (raw != 10)
        token_start = in_token.copy()
        token_start[1:] &= ~in_token[:-1]
        line = np.cumsum(raw == 10)  # [chars]: the phrase each character belongs to
        lengths = np.bincount(line[token_start], minlength=len(phrases)).astype(np.int64)
        return text.split(), lengths
    text = _NON_ALNUM_KEEP_NEWLINE.sub(" ", joined)
    token_lists = [line.split() for line in text.split("\n")]
    return list(itertools.chain.from_iterable(token_lists)), np.fromiter(
        map(len, token_lists), dtype=np.int64, count=len(phrases)
    )


class PhraseEncoder:
    """Maps phrases to unit vectors with one embeddings' vocabulary; build once, encode many phrase lists."""

    def __init__(self, embeddings: Embeddings) -> None:
        self.embeddings = embeddings
        self.word_index: dict[str, int] = embeddings.word_index()
        self.dim = embeddings.dim

    def token_ids(
        self, phrases: Sequence[str]
    ) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.bool_]]:
        """(flat_ids, lengths, known): the word rows of all phrases' tokens concatenated (-1 for an OOV word),
        the number of tokens of each phrase, and whether each phrase is known (has tokens, none OOV).

        Tokenises all phrases in one pass over their concatenation (the same result as `tokenize` per phrase,
        several times faster, see `_bulk_tokenize`); phrases containing a newline are tokenised one by one.
        """
        if any("\n" in p for p in phrases):
            token_lists = [tokenize(p) for p in phrases]
            lengths = np.fromiter(map(len, token_lists), dtype=np.int64, count=len(phrases))
            tokens: list[str] = list(itertools.chain.from_iterable(token_lists))
        else:
            tokens, lengths = _bulk_tokenize(phrases)
        flat = np.array(list(map(self.word_index.get, tokens, itertools.repeat(-1))), dtype=np.int64)
        owner = np.repeat(np.arange(len(phrases)), lengths)  # [tokens]: the phrase of each token
        oov_words = np.bincount(owner[flat < 0], minlength=len(phrases))  # [P]
        known: NDArray[np.bool_] = (lengths > 0) & (oov_words == 0)
        return flat, lengths, known

    def encode(self, phrases: Sequence[str]) -> tuple[NDArray[np.float32], NDArray[np.bool_]]:
        """Unit vectors float32 [len(phrases), dim] (zero rows for OOV phrases) and the known mask."""
        flat, lengths, known = self.token_ids(phrases)
        out = np.zeros((len(phrases), self.dim), dtype=np.float32)
        vectors = self.embeddings.vectors
        starts = np.cumsum(lengths) - lengths  # [P]: offset of each phrase's first token in `flat`
        # Sum position by position: pass k adds the k-th word of every phrase that has one (few passes, since
        # phrases are short; much faster than np.add.reduceat over rows). The mean has the same direction.
        rows = np.flatnonzero(known)
        k = 0
        while rows.size:
            for block in range(0, rows.size, _BLOCK):
                sel = rows[block : block + _BLOCK]
                words = np.asarray(vectors[flat[starts[sel] + k]], dtype=np.float32)  # [block, dim]
                if k == 0:
                    out[sel] = words
                else:
                    out[sel] += words
            k += 1
            rows = rows[lengths[rows] > k]
        norms = np.sqrt(np.einsum("ij,ij->i", out, out))  # [P]
        nonzero = np.flatnonzero(norms > 0)
        out[nonzero] /= norms[nonzero, None]
        return out, known
