"""Fixtures for the evaluation tests: small embeddings written with the production writer."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pytest

from index.artifacts import Embeddings, load_embeddings, write_embeddings

MakeEmbeddings = Callable[..., Embeddings]


@pytest.fixture
def make_embeddings(tmp_path: Path) -> MakeEmbeddings:
    """make_embeddings({"cat": [1, 0], ...}, counts=None, name="emb") -> loaded Embeddings."""

    def make(
        vectors: Mapping[str, Sequence[float]], counts: Sequence[int] | None = None, name: str = "emb"
    ) -> Embeddings:
        words = list(vectors)
        matrix = np.asarray([vectors[w] for w in words], dtype=np.float32)
        write_embeddings(
            tmp_path / name,
            words,
            list(counts) if counts is not None else list(range(len(words), 0, -1)),
            matrix,
            model_kind="text",
            corpus={"name": "test"},
            training={},
            metrics={},
            seed=0,
        )
        return load_embeddings(tmp_path / name)

    return make


# 2-d vectors whose cosines are easy to work out by hand.
TOY = {
    "cat": [1.0, 0.0],
    "dog": [0.8, 0.6],
    "car": [0.0, 1.0],
    "truck": [0.0, 2.0],
    "red": [1.0, 1.0],
}
