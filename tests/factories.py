"""Builders of small real artifacts for tests (prepared corpora), written through the production writers."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from index.artifacts import write_vocab
from index.text import tokenize
from training.corpus.shards import CORPUS_FORMAT, CORPUS_VERSION, SPECIALS, UNK, ShardWriter


def make_prepared_corpus(
    out: Path,
    train: Sequence[tuple[str, int]],
    val: Sequence[tuple[str, int]] = (),
    image_ids: Sequence[str] = (),
    min_count: int = 1,
) -> Path:
    """Write an `mmwe.corpus` directory from (sentence, image_number) pairs (-1 = text-only)."""
    out.mkdir(parents=True, exist_ok=True)
    counts = Counter(w for s, _ in train for w in tokenize(s))
    words = [w for w, c in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])) if c >= min_count]
    vocab = list(SPECIALS) + words
    ids = {w: i for i, w in enumerate(vocab)}
    n = len(train) + len(val)
    write_vocab(out / "vocab.tsv", vocab, [0, 0, n, n] + [counts[w] for w in words])
    with open(out / "images.tsv", "w", encoding="utf-8") as f:
        for i, image_id in enumerate(image_ids):
            f.write(f"{i}\t{image_id}\t{image_id}.jpg\n")
    splits = {}
    for split, rows in (("train", train), ("val", val)):
        writer = ShardWriter(out / split)
        for sentence, image in rows:
            writer.add([ids.get(w, UNK) for w in tokenize(sentence)], image)
        splits[split] = writer.close()
    manifest = {
        "format": CORPUS_FORMAT,
        "version": CORPUS_VERSION,
        "vocab_size": len(vocab),
        "splits": splits,
    }
    (out / "manifest.json").write_text(json.dumps(manifest))
    return out
