from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from index.artifacts import load_embeddings
from index.text import tokenize
from tests.training.corpus_helpers import write_corpus
from training.word2vec import Word2VecConfig, train_word2vec

pytest.importorskip("gensim")


def _corpus(tmp_path: Path) -> Path:
    templates = [
        "the {} sleeps on the warm sofa",
        "a small {} drinks milk from a bowl",
        "my {} chases a ball of yarn",
    ]
    text = [t.format(w) for _ in range(60) for t in templates for w in ("cat", "kitten")]
    text += [s for _ in range(60) for s in ("the truck drives on the highway", "a red truck carries cargo")]
    return write_corpus(tmp_path / "corpus", {"train": [(tokenize(s), -1) for s in text], "val": []})


def test_word2vec_writes_embeddings_that_learn_shared_contexts(tmp_path: Path) -> None:
    corpus = _corpus(tmp_path)
    config = Word2VecConfig(dim=16, epochs=20, workers=1, seed=3, sample=0.0)
    manifest = train_word2vec(corpus, tmp_path / "emb", config)
    emb = load_embeddings(tmp_path / "emb", verify=True)
    assert manifest["model_kind"] == "word2vec"
    assert emb.vectors.shape == (len(emb.words), 16)
    assert "<unk>" not in emb.words and "<bos>" not in emb.words
    idx = emb.word_index()
    v = emb.vectors / np.linalg.norm(emb.vectors, axis=1, keepdims=True)
    assert v[idx["cat"]] @ v[idx["kitten"]] > v[idx["cat"]] @ v[idx["truck"]]
    assert dict(zip(emb.words, emb.counts.tolist(), strict=True))["truck"] == 120


def test_word2vec_rejects_empty_corpus(tmp_path: Path) -> None:
    corpus = write_corpus(tmp_path / "c", {"train": [], "val": []})
    with pytest.raises(ValueError, match="no tokens"):
        train_word2vec(corpus, tmp_path / "emb", Word2VecConfig(dim=8, epochs=1, workers=1))
    assert not (tmp_path / "emb").exists()
