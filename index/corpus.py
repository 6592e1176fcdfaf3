"""The prepared-corpus format `mmwe.corpus` v1 (docs/formats.md §2), in one place: its names, the shard
writer (`ShardWriter`, used by `python -m training prepare`) and the readers.

A corpus folder holds `manifest.json`, `vocab.tsv` (the first ids are `SPECIALS`) and per split
`tokens-K.bin` (int32), `offsets-K.bin` (int64, sentence starts, one more than sentences) and `images-K.bin`
(int64, the image number of each sentence, -1 for text-only). Torch-free, so `index` reads corpora without
importing `training`; training imports everything it needs about the format from here.

    from index.corpus import open_corpus, iter_chunks, PreparedCorpus
    corpus = open_corpus(Path("data/corpus"))
    for tokens, offsets in iter_chunks(corpus.path, "train", len(corpus.words)):
        ...  # sentence i = tokens[offsets[i]:offsets[i + 1]], in chunks of whole sentences (bounded memory)
    for ids, image_number in PreparedCorpus(Path("data/corpus")).sentences("train"):
        ...
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from index.artifacts import read_manifest, read_vocab
from index.errors import ArtifactError

CORPUS_FORMAT = "mmwe.corpus"
CORPUS_VERSION = 1
SPECIALS = ("<pad>", "<unk>", "<bos>", "<eos>")
PAD, UNK, BOS, EOS = 0, 1, 2, 3
NUM_RESERVED = len(SPECIALS)  # ids below this never belong to a phrase
VOCAB_FILE = "vocab.tsv"  # word<TAB>count, id = line number - 1
IMAGES_FILE = "images.tsv"  # image_number<TAB>image_id<TAB>path (only when the corpus has images)
PHRASES_FILE = "phrases.tsv"  # phrase<TAB>count: the sources' own phrase lists (optional)


def shard_file(split_dir: Path, kind: str, shard: str) -> Path:
    """`split_dir/{kind}-{shard}.bin`, kind one of tokens, offsets, images; shard a zero-padded number."""
    return Path(split_dir) / f"{kind}-{shard}.bin"


def shard_number(tokens_path: Path) -> str:
    """The shard number part of a `tokens-K.bin` path."""
    return tokens_path.name[len("tokens-") : -len(".bin")]


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
        self._tokens = open(shard_file(self.split_dir, "tokens", k), "wb")  # noqa: SIM115
        self._offsets = open(shard_file(self.split_dir, "offsets", k), "wb")  # noqa: SIM115
        self._images = open(shard_file(self.split_dir, "images", k), "wb")  # noqa: SIM115
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
    """Read-only view of a prepared corpus directory (training's reader); shards are memory-mapped, never
    loaded whole."""

    def __init__(self, directory: Path) -> None:
        self.path = Path(directory)
        self.manifest = read_manifest(self.path, CORPUS_FORMAT, CORPUS_VERSION)
        self.words, self.counts = read_vocab(self.path / VOCAB_FILE)

    @property
    def vocab_size(self) -> int:
        return len(self.words)

    def shard_paths(self, split: str) -> list[Path]:
        return sorted((self.path / split).glob("tokens-*.bin"))

    def shards(self, split: str) -> Iterator[Shard]:
        for tok_path in self.shard_paths(split):
            k = shard_number(tok_path)
            tokens = (
                np.memmap(tok_path, dtype="<i4", mode="r") if tok_path.stat().st_size else np.zeros(0, "<i4")
            )
            offsets = np.fromfile(shard_file(self.path / split, "offsets", k), dtype="<i8")
            images = np.fromfile(shard_file(self.path / split, "images", k), dtype="<i8")
            yield Shard(tokens=tokens, offsets=offsets, images=images)

    def sentences(self, split: str) -> Iterator[tuple[np.ndarray, int]]:
        """Yield (token ids, image_number) for every sentence of a split, streaming shard by shard."""
        for shard in self.shards(split):
            for i in range(len(shard)):
                yield shard.sentence(i), int(shard.images[i])

    def image_ids(self) -> list[str]:
        """The image id of every image number, in order ([] for a text-only corpus)."""
        path = self.path / IMAGES_FILE
        return [image_id for _, image_id, _ in read_images(path)] if path.exists() else []


def read_images(path: Path) -> list[tuple[int, str, str]]:
    """The rows (image number, image id, path) of a corpus' `images.tsv`; ArtifactError naming the file and
    line when it is missing or malformed."""
    if not path.is_file():
        raise ArtifactError(path, "missing file (is this a prepared corpus?)")
    rows: list[tuple[int, str, str]] = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            parts = line.rstrip("\n").split("\t")
            if len(parts) != 3 or not parts[0].lstrip("-").isdigit():
                raise ArtifactError(path, f"line {lineno}: expected image_number<TAB>image_id<TAB>path")
            rows.append((int(parts[0]), parts[1], parts[2]))
    return rows


# ---- the index's reader: checked chunks of whole sentences ----------------------------------------------


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
    words, counts = read_vocab(directory / VOCAB_FILE)
    if len(words) < NUM_RESERVED:
        raise ArtifactError(directory / VOCAB_FILE, f"expected the {NUM_RESERVED} reserved ids first")
    return CorpusInfo(path=directory, manifest=manifest, words=words, counts=counts)


def shard_paths(directory: Path, split: str) -> list[tuple[Path, Path]]:
    """(tokens, offsets) file pairs of one split, in shard order."""
    split_dir = Path(directory) / split
    if not split_dir.is_dir():
        raise ArtifactError(split_dir, "split folder missing from prepared corpus")
    pairs = []
    for tok in sorted(split_dir.glob("tokens-*.bin")):
        pairs.append((tok, shard_file(split_dir, "offsets", shard_number(tok))))
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
