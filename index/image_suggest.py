"""Words and a caption vector for an image, from Model A's image part (index.image_model), torch-free.

    words, vectors, captions = suggest(model, features, k=10)
    hits = searcher.nearest(vectors[0], k=10)            # phrases near the image's predicted caption

Words (`WORD_METHODS`, stopwords of index.mining.EDGE_STOPWORDS left out):

- `caption` (the default, chosen on Flickr8k's dev photos, docs/image.md): the words with the most probability
  summed over the steps of the greedy caption (the expected number of times each word is said there);
- `first`: the words with the highest probability as the first word of a caption, p(w_1 = w | image).

Caption vector for phrases (`VECTOR_METHODS`):

- `greedy` (the default, chosen likewise): the greedy caption's words without stopwords, embedded like a
  phrase (mean of the word vectors, L2-normalised);
- `expected`: the expected word vector under the first-step distribution, stopwords left out,
  sum_w p(w) v_w / sum_w p(w).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from index.image_model import ImageModel
from index.mining import EDGE_STOPWORDS
from index.phrases import mean_normalized_rows

WORD_METHODS = ("caption", "first")
DEFAULT_WORDS = "caption"
VECTOR_METHODS = ("greedy", "expected")
DEFAULT_VECTOR = "greedy"
CAPTION_MAX_WORDS = 16


def content_mask(words: list[str], stopwords: frozenset[str] = EDGE_STOPWORDS) -> np.ndarray:
    """bool [V]: the words that are not stopwords."""
    return np.asarray([w not in stopwords for w in words], dtype=bool)


def top_words(probs: np.ndarray, words: list[str], mask: np.ndarray, k: int) -> list[list[tuple[str, float]]]:
    """The k most probable content words per row of probs [B, V]."""
    scored = np.where(mask[None, :], probs, -1.0)
    k = min(k, int(mask.sum()))
    top = np.argsort(-scored, axis=1, kind="stable")[:, :k]
    return [[(words[i], float(probs[b, i])) for i in row] for b, row in enumerate(top)]


def caption_vectors(
    model: ImageModel, probs: np.ndarray, captions: list[list[int]], mask: np.ndarray, method: str
) -> np.ndarray:
    """One vector [B, E] per image (not normalised; zero when nothing is left to embed)."""
    vectors = model.word_vectors
    if method == "expected":
        p = np.where(mask[None, :], probs, 0.0).astype(np.float32)
        return np.asarray((p @ vectors) / np.maximum(p.sum(1, keepdims=True), 1e-12), dtype=np.float32)
    if method != "greedy":
        raise ValueError(f"unknown caption vector method {method!r} (one of {', '.join(VECTOR_METHODS)})")
    out = np.zeros((len(captions), vectors.shape[1]), dtype=np.float32)
    for b, caption in enumerate(captions):
        rows = [w for w in caption if mask[w]] or caption
        if rows:
            out[b] = mean_normalized_rows(np.asarray(vectors[rows], dtype=np.float32))
    return out


def suggest(
    model: ImageModel, features: Any, k: int = 10, method: str = DEFAULT_VECTOR, words_by: str = DEFAULT_WORDS
) -> tuple[list[list[tuple[str, float]]], np.ndarray, list[list[str]]]:
    """(top k words with their scores, caption vectors [B, E], greedy captions as words) per image."""
    if words_by not in WORD_METHODS:
        raise ValueError(f"unknown word method {words_by!r} (one of {', '.join(WORD_METHODS)})")
    mask = content_mask(model.words)
    captions, mass = model.greedy_captions(features, max_len=CAPTION_MAX_WORDS)
    probs = model.first_word_probs(features)
    words = top_words(mass if words_by == "caption" else probs, model.words, mask, k)
    vectors = caption_vectors(model, probs, captions, mask, method)
    return words, vectors, [[model.words[w] for w in c] for c in captions]
