"""Synthetic phrase vectors and corpora with realistic structure, for the index benchmarks.

Phrase vectors follow the paper's rule over clustered word vectors: `vocab` word vectors are drawn around
`topics` Gaussian centres (noise 1.0 per dimension, about the centre's own norm), and each phrase is the
normalised mean of 1-4 words (10/50/30/10 %); after its first word (uniform), each further word comes from the
same topic with probability 0.7, else from anywhere. This gives near-duplicates, topic clusters and vectors in
between them, as real phrase sets have; nearest-neighbour cosines are about 0.85 (top 1) and 0.79 (top 10)
at 1M phrases.

The corpus generator writes a prepared corpus (docs/formats.md §2) of Zipf-distributed tokens with planted
collocations, to time phrase mining.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from index.artifacts import write_manifest, write_vocab
from index.corpus import CORPUS_FORMAT, CORPUS_VERSION, shard_file


def phrase_vectors(
    n: int,
    dim: int,
    seed: int = 0,
    *,
    vocab: int = 50_000,
    topics: int = 500,
    noise: float = 1.0,
    same_topic: float = 0.7,
) -> np.ndarray:
    """float32 [n, dim], L2-normalised synthetic phrase vectors (see module docstring)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(topics, dim)).astype(np.float32)
    topic = rng.integers(0, topics, size=vocab)
    words = centres[topic] + noise * rng.normal(size=(vocab, dim)).astype(np.float32)
    by_topic = np.argsort(topic, kind="stable")
    starts = np.searchsorted(topic[by_topic], np.arange(topics + 1))
    lengths = rng.choice([1, 2, 3, 4], size=n, p=[0.1, 0.5, 0.3, 0.1])
    first = rng.integers(0, vocab, size=n)
    out = words[first].copy()
    for j in range(1, 4):
        more = lengths > j
        m = int(more.sum())
        t = topic[first[more]]
        same = by_topic[starts[t] + (rng.random(m) * (starts[t + 1] - starts[t])).astype(np.int64)]
        pick = np.where(rng.random(m) < same_topic, same, rng.integers(0, vocab, size=m))
        out[more] += words[pick]
    out /= np.linalg.norm(out, axis=1, keepdims=True)
    return np.ascontiguousarray(out, dtype=np.float32)


def write_corpus(
    path: Path, num_tokens: int, vocab: int = 50_000, seed: int = 0, shard_tokens: int = 10**7
) -> Path:
    """A prepared corpus: Zipf tokens, sentences of 4-20 words, every 5th starting with a collocation."""
    rng = np.random.default_rng(seed)
    path.mkdir(parents=True, exist_ok=True)
    words = ["<pad>", "<unk>", "<bos>", "<eos>"] + [f"w{i}" for i in range(vocab)]
    counts = np.zeros(len(words), np.int64)
    split = path / "train"
    split.mkdir(exist_ok=True)
    shard, written = 0, 0
    while written < num_tokens:
        size = min(shard_tokens, num_tokens - written)
        tokens = (4 + np.minimum(rng.zipf(1.2, size=size) - 1, vocab - 1)).astype("<i4")
        lengths = rng.integers(4, 21, size=size // 4 + 1)
        ends = np.cumsum(lengths)
        ends = ends[ends < size]
        offsets = np.concatenate([[0], ends, [size]]).astype("<i8")
        for s in range(0, len(offsets) - 1, 5):  # plant "w7 w11 w13" in every 5th sentence when it fits
            lo, hi = offsets[s], offsets[s + 1]
            if hi - lo >= 3:
                tokens[lo : lo + 3] = (11, 15, 17)
        counts += np.bincount(tokens, minlength=len(words))
        tokens.tofile(shard_file(split, "tokens", f"{shard:05d}"))
        offsets.tofile(shard_file(split, "offsets", f"{shard:05d}"))
        np.full(len(offsets) - 1, -1, "<i8").tofile(shard_file(split, "images", f"{shard:05d}"))
        shard += 1
        written += size
    write_vocab(path / "vocab.tsv", words, counts.tolist())
    write_manifest(
        path,
        {"format": CORPUS_FORMAT, "version": CORPUS_VERSION, "vocab_size": len(words), "synthetic": True},
    )
    return path
