"""Phrase vectors for evaluation: the paper's rule, vectorised over many phrases at once.

A phrase's vector is the mean of its words' vectors (words from `index.text.tokenize`); cosine similarity only
needs its direction, so the vectors returned here are L2-normalised. A phrase is out of vocabulary (OOV) when
it has no token or any of its words is missing from the embeddings' vocabulary (the same rule the phrase index
uses); an OOV phrase gets a zero vector and `known=False`. A phrase whose mean is the zero vector keeps a zero
vector, so every cosine with it is 0.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from index.artifacts import Embeddings
from index.text import tokenize

# Phrases per block when summing word vectors, to bound the temporary [words, dim] gather.
_BLOCK = 65536


class PhraseEncoder:
    """Maps phrases to unit vectors with one embeddings' vocabulary; build once, encode many phrase lists."""

    def __init__(self, embeddings: Embeddings) -> None:
        self.embeddings = embeddings
        self.word_index: dict[str, int] = embeddings.word_index()
        self.dim = embeddings.dim

    def token_ids(
        self, phrases: Sequence[str]
    ) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.bool_]]:
        """Word rows of every known phrase, concatenated: (flat_ids, lengths, known).

        `lengths[i]` is the number of words of phrase i when it is known, else 0.
        """
        lookup = self.word_index.get
        flat: list[int] = []
        lengths = np.zeros(len(phrases), dtype=np.int64)
        known = np.zeros(len(phrases), dtype=np.bool_)
        for i, phrase in enumerate(phrases):
            rows = [lookup(tok) for tok in tokenize(phrase)]
            if rows and None not in rows:
                flat.extend(rows)  # type: ignore[arg-type]  # None was excluded just above
                lengths[i] = len(rows)
                known[i] = True
        return np.asarray(flat, dtype=np.int64), lengths, known

    def encode(self, phrases: Sequence[str]) -> tuple[NDArray[np.float32], NDArray[np.bool_]]:
        """Unit vectors float32 [len(phrases), dim] (zero rows for OOV phrases) and the known mask."""
        flat, lengths, known = self.token_ids(phrases)
        out = np.zeros((len(phrases), self.dim), dtype=np.float32)
        rows = np.flatnonzero(known)
        vectors = self.embeddings.vectors
        offsets = np.concatenate([[0], np.cumsum(lengths[rows])])
        for start in range(0, rows.size, _BLOCK):
            block = rows[start : start + _BLOCK]
            lo, hi = offsets[start], offsets[start + block.size]
            words = np.asarray(vectors[flat[lo:hi]], dtype=np.float32)  # [words_in_block, dim]
            seg_starts = offsets[start : start + block.size] - lo
            out[block] = np.add.reduceat(words, seg_starts, axis=0)  # sums; the mean has the same direction
        norms = np.linalg.norm(out, axis=1)
        nonzero = norms > 0
        out[nonzero] /= norms[nonzero, None]
        return out, known
