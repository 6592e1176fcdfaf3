"""The prepared-corpus format `mmwe.corpus` v1: shard writer and memory-mapped reader (docs/formats.md §2)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from index.artifacts import read_manifest, read_vocab

CORPUS_FORMAT = "mmwe.corpus"
CORPUS_VERSION = 1
SPECIALS = ("<pad>", "<unk>", "<bos>", "<eos>")
PAD, UNK, BOS, EOS = 0, 1, 2, 3


class ShardWriter:
    """Append sentences (token-id arrays) to one split folder; a new shard every `shard_tokens` tokens."""

    def __init__(self, split_dir: Path, shard_tokens: int = 50_000_000) -> None:
        self.split_dir = Path(split_dir)
        self.split_dir.mkdir(parents=True, exist_ok=True)
        self.shard_tokens = shard_tokens
        self.shard_index = 0
        self.num_sentences = 0
        self.num_tokens = 0
        self._open()

    def _open(self) -> None:
        k = f"{self.shard_index:05d}"
        # Kept open across add() calls, closed in _close_shard().
        self._tokens = open(self.split_dir / f"tokens-{k}.bin", "wb")  # noqa: SIM115
        self._offsets = open(self.split_dir / f"offsets-{k}.bin", "wb")  # noqa: SIM115
        self._images = open(self.split_dir / f"images-{k}.bin", "wb")  # noqa: SIM115
        self._offsets.write(np.zeros(1, dtype="<i8").tobytes())
        self._shard_pos = 0

    def _close_shard(self) -> None:
        for f in (self._tokens, self._offsets, self._images):
            f.close()

    def add(self, token_ids: Sequence[int] | np.ndarray, image_number: int = -1) -> None:
        ids = np.asarray(token_ids, dtype="<i4")
        if self._shard_pos and self._shard_pos + len(ids) > self.shard_tokens:
            self._close_shard()
            self.shard_index += 1
            self._open()
        self._tokens.write(ids.tobytes())
        self._shard_pos += len(ids)
        self._offsets.write(np.asarray([self._shard_pos], dtype="<i8").tobytes())
        self._images.write(np.asarray([image_number], dtype="<i8").tobytes())
        self.num_sentences += 1
        self.num_tokens += len(ids)

    def add_batch(self, token_ids: np.ndarray, lengths: np.ndarray, image_number: int = -1) -> None:
        """Append several sentences of one image at once: `token_ids` concatenated, `lengths` per sentence."""
        ids = np.asarray(token_ids, dtype="<i4")
        lengths = np.asarray(lengths, dtype="<i8")
        total = int(lengths.sum())
        if total != len(ids):
            raise ValueError(f"lengths sum to {total} but {len(ids)} token ids were given")
        if self._shard_pos and self._shard_pos + total > self.shard_tokens:
            starts = np.concatenate([[0], np.cumsum(lengths)])
            for i in range(len(lengths)):
                self.add(ids[starts[i] : starts[i + 1]], image_number)
            return
        self._tokens.write(ids.tobytes())
        ends = self._shard_pos + np.cumsum(lengths)
        self._offsets.write(ends.astype("<i8").tobytes())
        self._images.write(np.full(len(lengths), image_number, dtype="<i8").tobytes())
        self._shard_pos += total
        self.num_sentences += len(lengths)
        self.num_tokens += total

    def close(self) -> dict[str, Any]:
        self._close_shard()
        return {
            "shards": self.shard_index + 1,
            "num_sentences": self.num_sentences,
            "num_tokens": self.num_tokens,
        }


@dataclass(frozen=True)
class Shard:
    tokens: np.ndarray  # int32 [num_tokens]
    offsets: np.ndarray  # int64 [num_sentences + 1]
    images: np.ndarray  # int64 [num_sentences], -1 = text-only

    def __len__(self) -> int:
        return len(self.images)

    def sentence(self, i: int) -> np.ndarray:
        return self.tokens[self.offsets[i] : self.offsets[i + 1]]


class PreparedCorpus:
    """Read-only view of a prepared corpus directory; shards are memory-mapped, never loaded whole."""

    def __init__(self, directory: Path) -> None:
        self.path = Path(directory)
        self.manifest = read_manifest(self.path, CORPUS_FORMAT, CORPUS_VERSION)
        self.words, self.counts = read_vocab(self.path / "vocab.tsv")

    @property
    def vocab_size(self) -> int:
        return len(self.words)

    def shard_paths(self, split: str) -> list[Path]:
        return sorted((self.path / split).glob("tokens-*.bin"))

    def shards(self, split: str) -> Iterator[Shard]:
        for tok_path in self.shard_paths(split):
            k = tok_path.name[len("tokens-") : -len(".bin")]
            tokens = (
                np.memmap(tok_path, dtype="<i4", mode="r") if tok_path.stat().st_size else np.zeros(0, "<i4")
            )
            offsets = np.fromfile(self.path / split / f"offsets-{k}.bin", dtype="<i8")
            images = np.fromfile(self.path / split / f"images-{k}.bin", dtype="<i8")
            yield Shard(tokens=tokens, offsets=offsets, images=images)

    def sentences(self, split: str) -> Iterator[tuple[np.ndarray, int]]:
        """Yield (token ids, image_number) for every sentence of a split, streaming shard by shard."""
        for shard in self.shards(split):
            for i in range(len(shard)):
                yield shard.sentence(i), int(shard.images[i])

    def image_ids(self) -> list[str]:
        path = self.path / "images.tsv"
        if not path.exists():
            return []
        with open(path, encoding="utf-8") as f:
            return [line.rstrip("\n").split("\t")[1] for line in f if line.strip()]
