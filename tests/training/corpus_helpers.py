"""Small prepared corpora and feature stores written directly in the documented formats (docs/formats.md)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from index.artifacts import write_manifest, write_vocab
from index.corpus import CORPUS_FORMAT, CORPUS_VERSION, SPECIALS, ShardWriter

Sentence = tuple[Sequence[str], int]  # (words, image_number or -1)


def write_corpus(
    directory: Path,
    splits: dict[str, list[Sentence]],
    image_ids: Sequence[str] = (),
    shard_tokens: int = 50_000_000,
) -> Path:
    """Write an `mmwe.corpus` directory; the vocabulary is every word of the train split, by count."""
    directory.mkdir(parents=True, exist_ok=True)
    counts = Counter(w for words, _ in splits.get("train", []) for w in words)
    words = sorted(counts, key=lambda w: (-counts[w], w))
    n_train = len(splits.get("train", []))
    unk = sum(1 for split in splits.values() for ws, _ in split for w in ws if w not in counts)
    write_vocab(
        directory / "vocab.tsv", [*SPECIALS, *words], [0, unk, n_train, n_train, *(counts[w] for w in words)]
    )
    ids = {w: i + len(SPECIALS) for i, w in enumerate(words)}
    with open(directory / "images.tsv", "w", encoding="utf-8") as f:
        for n, image_id in enumerate(image_ids):
            f.write(f"{n}\t{image_id}\t{image_id}.jpg\n")
    stats = {}
    for split, sentences in splits.items():
        writer = ShardWriter(directory / split, shard_tokens=shard_tokens)
        for ws, image in sentences:
            writer.add([ids.get(w, 1) for w in ws], image)
        stats[split] = writer.close()
    write_manifest(
        directory,
        {
            "format": CORPUS_FORMAT,
            "version": CORPUS_VERSION,
            "name": directory.name,
            "splits": stats,
            "vocab_size": len(words) + len(SPECIALS),
            "min_count": 1,
        },
    )
    return directory


def write_features(directory: Path, image_ids: Sequence[str], matrix: np.ndarray) -> Path:
    """Write an `mmwe.features` directory holding `matrix` [count, dim] as float16."""
    directory.mkdir(parents=True, exist_ok=True)
    matrix = np.asarray(matrix, dtype="<f2")
    matrix.tofile(directory / "features.f16")
    with open(directory / "ids.tsv", "w", encoding="utf-8") as f:
        for row, image_id in enumerate(image_ids):
            f.write(f"{image_id}\t{row}\n")
    (directory / "failed.tsv").write_text("", encoding="utf-8")
    write_manifest(
        directory,
        {
            "format": "mmwe.features",
            "version": 1,
            "backbone": "synthetic",
            "dim": int(matrix.shape[1]),
            "count": int(matrix.shape[0]),
            "dtype": "float16",
            "binarised": False,
            "preprocessing": "none",
        },
    )
    return directory
