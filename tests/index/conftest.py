"""Phrase-index test fixtures: small real embeddings and prepared corpora in the documented formats."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from index.artifacts import write_embeddings, write_manifest, write_vocab
from index.corpus import SPECIALS, ShardWriter

PLANTED = ["hot dog", "ice cream", "new york city", "the big red barn door"]


def make_embeddings(path: Path, words: list[str], dim: int = 16, seed: int = 0) -> Path:
    """Clustered word vectors: words sharing a first letter lie near one centre."""
    rng = np.random.default_rng(seed)
    centres = {c: rng.normal(size=dim) for c in sorted({w[0] for w in words})}
    vectors = np.stack([centres[w[0]] + 0.7 * rng.normal(size=dim) for w in words]).astype(np.float32)
    write_embeddings(
        path,
        words,
        list(range(len(words), 0, -1)),
        vectors,
        model_kind="word2vec",
        corpus={"name": "test"},
        training={},
        metrics={},
        seed=seed,
    )
    return path


def filler_words(n: int) -> list[str]:
    letters = "abcdefghijklmnopqrstuvwxyz"
    return [f"{letters[i % 26]}{letters[(i // 26) % 26]}w{i}" for i in range(n)]


def make_corpus(
    path: Path, sentences: list[list[str]], shard_tokens: int = 200, val: list[list[str]] | None = None
) -> Path:
    """A prepared corpus (docs/formats.md §2) written with the project's own ShardWriter."""
    words = sorted({w for s in sentences + (val or []) for w in s if w != "<unk>"})
    vocab = list(SPECIALS) + words
    ids = {w: i for i, w in enumerate(vocab)}
    counts = np.zeros(len(vocab), np.int64)
    path.mkdir(parents=True)
    shards = {}
    for split, sents in (("train", sentences), ("val", val or [])):
        writer = ShardWriter(path / split, shard_tokens=shard_tokens)
        for s in sents:
            tok = [ids[w] for w in s]
            if split == "train":
                np.add.at(counts, tok, 1)
            writer.add(tok)
        shards[split] = writer.close()
    write_vocab(path / "vocab.tsv", vocab, counts.tolist())
    write_manifest(path, {"format": "mmwe.corpus", "version": 1, "vocab_size": len(vocab), "splits": shards})
    return path


def planted_sentences(seed: int = 0, num: int = 400) -> list[list[str]]:
    """Random filler sentences, some carrying a planted multi-word phrase, a few with <unk>."""
    rng = np.random.default_rng(seed)
    filler = filler_words(60)
    out = []
    for i in range(num):
        words = [filler[j] for j in rng.integers(0, len(filler), size=rng.integers(3, 9))]
        if i % 3 == 0:
            phrase = PLANTED[i % len(PLANTED)].split()
            at = int(rng.integers(0, len(words) + 1))
            words[at:at] = phrase
        if i % 17 == 0:
            words.insert(int(rng.integers(0, len(words))), "<unk>")
        out.append(words)
    return out


@pytest.fixture
def corpus_dir(tmp_path: Path) -> Path:
    return make_corpus(tmp_path / "corpus", planted_sentences())


@pytest.fixture
def corpus_embeddings(tmp_path: Path) -> Path:
    words = sorted({w for p in PLANTED for w in p.split()} | set(filler_words(60)))
    return make_embeddings(tmp_path / "emb", words)


@pytest.fixture
def big_embeddings(tmp_path: Path) -> Path:
    """3,000 words: enough phrases for approximate indexes to be approximate."""
    return make_embeddings(tmp_path / "emb-big", filler_words(3000), dim=24, seed=1)
