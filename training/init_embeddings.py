"""Start a model's word embeddings from an existing `mmwe.embeddings` artifact (`--init-embeddings EMB`).

    python -m training word2vec --corpus data/corpus/fc --out data/emb/w2v
    python -m training train --model a --corpus data/corpus/fc --features data/feat \
        --init-embeddings data/emb/w2v --out data/emb/a-w2v

Rows are aligned by word: each corpus word found in the artifact's vocabulary takes that vector; a word the
artifact lacks (and the four reserved ids) keeps the model's own random N(0, embed_init_std) row. With
`init_scale="std"` (the default) the imported vectors are multiplied by one factor so that their standard
deviation (over all entries) equals `embed_init_std`: the imported matrix then has the scale the GRU, the
FC layer and the shared output projection were initialised for (word2vec's own scale differs by corpus).
`init_scale="none"` imports them unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from index.artifacts import load_embeddings
from index.errors import MmweError

INIT_SCALES = ("std", "none")


class InitEmbeddingsError(MmweError):
    """The initial embeddings cannot be used for this model."""


@dataclass
class InitReport:
    path: str
    matched: int  # corpus words (reserved ids excluded) that took an imported vector
    missing: int  # corpus words the artifact lacks: random init
    scale: float  # factor applied to the imported vectors

    def to_dict(self) -> dict[str, object]:
        return {"path": self.path, "matched": self.matched, "missing": self.missing, "scale": self.scale}


def aligned_init(
    path: Path,
    words: Sequence[str],
    weight: torch.Tensor,
    *,
    target_std: float,
    scale: str = "std",
    skip: int = 4,
) -> InitReport:
    """Overwrite rows of `weight` [V, E] (in place) with the artifact's vectors of the same word.

    `words[i]` names row i; the first `skip` rows (reserved ids) are never overwritten.
    """
    if scale not in INIT_SCALES:
        raise InitEmbeddingsError(f"init scale must be one of {', '.join(INIT_SCALES)}, not {scale!r}")
    emb = load_embeddings(Path(path), mmap=False)
    if emb.dim != weight.shape[1]:
        raise InitEmbeddingsError(
            f"{path}: vectors have {emb.dim} dimensions, the model's embeddings {weight.shape[1]} "
            "(pass --embed-dim to match)"
        )
    index = emb.word_index()
    rows = [(i, index[w]) for i, w in enumerate(words) if i >= skip and w in index]
    if not rows:
        raise InitEmbeddingsError(f"{path}: no word of the corpus vocabulary is in this artifact")
    dst = torch.tensor([r[0] for r in rows])
    src = np.asarray([r[1] for r in rows])
    vectors = torch.from_numpy(np.asarray(emb.vectors[src], dtype=np.float32))  # [M, E]
    factor = 1.0
    if scale == "std":
        std = float(vectors.std())
        factor = target_std / std if std > 0 else 1.0
    with torch.no_grad():
        weight[dst] = (vectors * factor).to(weight.dtype)
    return InitReport(str(Path(path).resolve()), len(rows), len(words) - skip - len(rows), factor)
