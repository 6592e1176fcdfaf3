"""Read a prepared corpus (`mmwe.corpus` v1, docs/formats.md §2) from its raw files, without `training`.

The index package must not import `training` (it may pull in torch), so this module reads the documented files
directly: `vocab.tsv` and each split's `tokens-*.bin` (int32) / `offsets-*.bin` (int64). Shards are
memory-mapped and yielded in chunks of whole sentences, so a corpus of any size streams in bounded memory.

    from index.corpus import open_corpus, iter_chunks
    corpus = open_corpus(Path("data/corpus"))
    for tokens, offsets in iter_chunks(corpus.path, "train"):
        ...  # sentence i = tokens[offsets[i]:offsets[i + 1]]
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from index.artifacts import read_manifest, read_vocab
from index.errors import ArtifactError

CORPUS_FORMAT = "mmwe.corpus"
CORPUS_VERSION = 1
NUM_RESERVED = 4  # <pad>, <unk>, <bos>, <eos>: ids below this never belong to a phrase


@dataclass(frozen=True)
class CorpusInfo:
    path: Path
    manifest: dict[str, Any]
    words: list[str]  # token id -> word
    counts: np.ndarray  # int64 [V], as stored in vocab.tsv


def open_corpus(directory: Path) -> CorpusInfo:
    """Read the manifest and vocabulary; raise ArtifactError naming the file on any problem."""
    directory = Path(directory)
    manifest = read_manifest(directory, CORPUS_FORMAT, CORPUS_VERSION)
    words, counts = read_vocab(directory / "vocab.tsv")
    if len(words) < NUM_RESERVED:
        raise ArtifactError(directory / "vocab.tsv", f"expected the {NUM_RESERVED} reserved ids first")
    return CorpusInfo(path=directory, manifest=manifest, words=words, counts=counts)


def shard_paths(directory: Path, split: str) -> list[tuple[Path, Path]]:
    """(tokens, offsets) file pairs of one split, in shard order."""
    split_dir = Path(directory) / split
    if not split_dir.is_dir():
        raise ArtifactError(split_dir, "split folder missing from prepared corpus")
    pairs = []
    for tok in sorted(split_dir.glob("tokens-*.bin")):
        k = tok.name[len("tokens-") : -len(".bin")]
        pairs.append((tok, split_dir / f"offsets-{k}.bin"))
    return pairs


def _load_shard(tok_path: Path, off_path: Path, vocab_size: int) -> tuple[np.ndarray, np.ndarray]:
    try:
        size = tok_path.stat().st_size
        if size % 4:
            raise ArtifactError(tok_path, f"size {size} is not a multiple of 4 (int32 tokens)")
        tokens = np.memmap(tok_path, dtype="<i4", mode="r") if size else np.zeros(0, "<i4")
        offsets = np.fromfile(off_path, dtype="<i8")
    except FileNotFoundError as exc:
        raise ArtifactError(Path(exc.filename or off_path), "missing shard file") from exc
    if len(offsets) == 0 or offsets[0] != 0 or offsets[-1] != len(tokens) or np.any(np.diff(offsets) < 0):
        raise ArtifactError(off_path, f"offsets do not describe {tok_path.name} ({len(tokens)} tokens)")
    return tokens, offsets


def iter_chunks(
    directory: Path, split: str, vocab_size: int, chunk_tokens: int = 4_000_000
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield (tokens int32 [T], offsets int64 [S+1] relative to tokens) over whole sentences of `split`.

    Token ids outside [0, vocab_size) raise ArtifactError naming the shard.
    """
    for tok_path, off_path in shard_paths(directory, split):
        tokens, offsets = _load_shard(tok_path, off_path, vocab_size)
        num_sentences = len(offsets) - 1
        start = 0
        while start < num_sentences:
            # the last sentence whose end stays within chunk_tokens of this chunk's start (at least one)
            limit = offsets[start] + chunk_tokens
            stop = int(np.searchsorted(offsets, limit, side="right")) - 1
            stop = min(max(stop, start + 1), num_sentences)
            lo, hi = int(offsets[start]), int(offsets[stop])
            chunk = np.asarray(tokens[lo:hi], dtype=np.int32)
            if len(chunk) and (int(chunk.min()) < 0 or int(chunk.max()) >= vocab_size):
                raise ArtifactError(tok_path, f"token id outside the vocabulary (size {vocab_size})")
            yield chunk, offsets[start : stop + 1] - lo
            start = stop
