"""Word analogies by 3CosAdd (gensim's `evaluate_word_analogies`): for `a b c d`, predict the word w,
other than a, b and c, that maximises cos(w, b) - cos(w, a) + cos(w, c); the question is right when w == d.

As in gensim, candidates and question words are restricted to the `restrict_vocab` most frequent words
(default 30,000; by the counts in vocab.tsv, ties in vocabulary order). A question with a word outside that
set is OOV: `skip` leaves it out of the accuracy (gensim's default), `wrong` counts it as wrong (gensim's
`dummy4unknown=True`). Words are normalised with `index.text.tokenize`; a word that is not one token is OOV.
Vectorised: unit vectors [N, dim], queries in blocks of 1,024 -> one [1024, N] matrix product per block.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from evaluation.datasets import AnalogySet
from evaluation.stats import bootstrap_accuracy_ci
from index.artifacts import Embeddings
from index.text import tokenize

_CHUNK = 1024


def restricted_vocabulary(
    embeddings: Embeddings, restrict_vocab: int
) -> tuple[NDArray[np.int64], dict[str, int]]:
    """Rows of the `restrict_vocab` most frequent words and a word -> position-in-that-list map."""
    if restrict_vocab <= 0:
        raise ValueError(f"restrict_vocab must be positive, got {restrict_vocab}")
    rows = np.argsort(-np.asarray(embeddings.counts), kind="stable")[:restrict_vocab]
    words = embeddings.words
    return rows, {words[r]: i for i, r in enumerate(rows.tolist())}


def _word_id(word: str, index: dict[str, int]) -> int:
    tokens = tokenize(word)
    return index.get(tokens[0], -1) if len(tokens) == 1 else -1


def analogy_predictions(
    embeddings: Embeddings, analogies: AnalogySet, *, restrict_vocab: int = 30000
) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
    """(correct, covered) per question."""
    rows, index = restricted_vocabulary(embeddings, restrict_vocab)
    unit = np.asarray(embeddings.vectors[rows], dtype=np.float32)  # [N, dim]
    norms = np.linalg.norm(unit, axis=1, keepdims=True)
    unit = np.divide(unit, norms, out=np.zeros_like(unit), where=norms > 0)
    q = np.array([[_word_id(w, index) for w in question] for question in analogies.questions], dtype=np.int64)
    q = q.reshape(-1, 4)
    covered: NDArray[np.bool_] = np.asarray((q >= 0).all(axis=1), dtype=np.bool_)
    correct = np.zeros(q.shape[0], dtype=np.bool_)
    known = np.flatnonzero(covered)
    for start in range(0, known.size, _CHUNK):
        sel = known[start : start + _CHUNK]
        a, b, c, d = q[sel, 0], q[sel, 1], q[sel, 2], q[sel, 3]
        target = unit[b] - unit[a] + unit[c]  # [k, dim]
        sims = target @ unit.T  # [k, N]
        k = np.arange(sel.size)
        for excluded in (a, b, c):
            sims[k, excluded] = -np.inf
        correct[sel] = sims.argmax(axis=1) == d
    return correct, covered


def evaluate_analogy(
    embeddings: Embeddings,
    analogies: AnalogySet,
    *,
    restrict_vocab: int = 30000,
    oov_policy: str = "skip",
    bootstrap: int = 1000,
    seed: int = 0,
) -> tuple[dict[str, float | None], dict[str, int], dict[str, object]]:
    """Metrics, counts and per-section details of one analogy benchmark."""
    if oov_policy not in ("skip", "wrong"):
        raise ValueError(f"oov_policy must be 'skip' or 'wrong', got {oov_policy!r}")
    correct, covered = analogy_predictions(embeddings, analogies, restrict_vocab=restrict_vocab)

    def accuracy(mask: NDArray[np.bool_]) -> tuple[float | None, int, int]:
        n_correct = int((correct & mask).sum())
        denominator = int((covered & mask).sum()) if oov_policy == "skip" else int(mask.sum())
        return (n_correct / denominator if denominator else None), n_correct, denominator

    everything = np.ones(correct.size, dtype=np.bool_)
    acc, n_correct, denominator = accuracy(everything)
    syntactic = np.array(
        [analogies.sections[s].startswith("gram") for s in analogies.section_of.tolist()], dtype=bool
    )
    syntactic = syntactic.reshape(-1)
    ci = bootstrap_accuracy_ci(n_correct, denominator, resamples=bootstrap, seed=seed)
    total = correct.size
    n_covered = int(covered.sum())
    metrics: dict[str, float | None] = {
        "accuracy": acc,
        "ci95_low": ci[0] if ci else None,
        "ci95_high": ci[1] if ci else None,
        "semantic_accuracy": accuracy(~syntactic)[0],
        "syntactic_accuracy": accuracy(syntactic)[0],
        "coverage": n_covered / total if total else None,
    }
    counts = {
        "questions": total,
        "evaluated": denominator,
        "correct": n_correct,
        "oov_questions": total - n_covered,
    }
    sections: dict[str, object] = {}
    for i, name in enumerate(analogies.sections):
        section_acc, section_correct, section_denominator = accuracy(analogies.section_of == i)
        sections[name] = {
            "accuracy": section_acc,
            "correct": section_correct,
            "evaluated": section_denominator,
        }
    return metrics, counts, {"sections": sections, "restrict_vocab": restrict_vocab}
