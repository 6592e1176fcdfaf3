"""Graded similarity: Spearman and Pearson correlation between human scores and the cosine of the two terms.

Terms may be phrases (mean of word vectors, `phrases.py`). Reported under both conventions so numbers compare
with published ones: `drop` leaves OOV pairs out; `zero` keeps them with a model similarity of 0 (gensim's
`dummy4unknown=True`). A correlation is None when it is undefined (fewer than two pairs, constant input).
"""

from __future__ import annotations

import numpy as np

from evaluation.datasets import PairSet
from evaluation.phrases import PhraseEncoder
from evaluation.stats import pearson, spearman


def pair_similarities(encoder: PhraseEncoder, pairs: PairSet) -> tuple[np.ndarray, np.ndarray]:
    """Cosine of every pair (0 where a term is OOV) and the covered mask."""
    terms = list(dict.fromkeys([*pairs.first, *pairs.second]))
    where = {t: i for i, t in enumerate(terms)}
    unit, known = encoder.encode(terms)
    a = np.fromiter((where[t] for t in pairs.first), dtype=np.int64, count=len(pairs))
    b = np.fromiter((where[t] for t in pairs.second), dtype=np.int64, count=len(pairs))
    covered = known[a] & known[b]
    sims = np.einsum("ij,ij->i", unit[a], unit[b]).astype(np.float64)
    sims[~covered] = 0.0
    return sims, covered


def evaluate_similarity(
    encoder: PhraseEncoder, pairs: PairSet, *, oov_policy: str = "drop"
) -> tuple[dict[str, float | None], dict[str, int]]:
    """Metrics and counts of one graded-similarity benchmark. `spearman`/`pearson` follow `oov_policy`."""
    if oov_policy not in ("drop", "zero"):
        raise ValueError(f"oov_policy must be 'drop' or 'zero', got {oov_policy!r}")
    sims, covered = pair_similarities(encoder, pairs)
    human = pairs.scores
    drop = {
        "spearman": spearman(human[covered], sims[covered]),
        "pearson": pearson(human[covered], sims[covered]),
    }
    zero = {"spearman": spearman(human, sims), "pearson": pearson(human, sims)}
    chosen = drop if oov_policy == "drop" else zero
    total = len(pairs)
    metrics: dict[str, float | None] = {
        "spearman": chosen["spearman"],
        "pearson": chosen["pearson"],
        "spearman_drop_oov": drop["spearman"],
        "pearson_drop_oov": drop["pearson"],
        "spearman_oov_as_zero": zero["spearman"],
        "pearson_oov_as_zero": zero["pearson"],
        "coverage": float(covered.sum()) / total if total else None,
    }
    n_covered = int(covered.sum())
    counts = {
        "pairs": total,
        "evaluated": n_covered if oov_policy == "drop" else total,
        "oov_pairs": total - n_covered,
    }
    return metrics, counts
