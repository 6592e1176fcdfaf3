"""Batches from a prepared corpus (docs/formats.md §2), streamed shard by shard with length bucketing.

An epoch is a deterministic function of (seed, epoch): the corpus is cut into pools of `pool_batches *
batch_size` consecutive sentences inside a shard; pools are visited in a shuffled order; inside a pool
the sentences are shuffled, sorted by length (so a batch pads very little) and cut into batches of
`batch_size` sentences, and the batches are shuffled. Only a pool's offsets and tokens are touched at a
time, so memory does not grow with the corpus. Because the plan is made of indices, resuming at batch k
skips k batches without reading their tokens, and data-parallel rank r of w takes batches r, r + w, ...
(the tail that does not divide by w is dropped so every rank runs the same number of steps).

Image features: the corpus's images.tsv maps image_number -> image_id, the feature store's ids.tsv maps
image_id -> row. Rows are gathered per batch from the memory-mapped float16 matrix.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from index.corpus import BOS, EOS, PAD, PreparedCorpus, Shard
from training.features.store import FeatureStore, load_features


@dataclass
class Batch:
    inputs: torch.Tensor  # int64 [B, T]  <bos> w_1 .. w_n <pad>...
    targets: torch.Tensor  # int64 [B, T]  w_1 .. w_n <eos> <pad>...
    lengths: torch.Tensor  # int64 [B]     n + 1
    features: torch.Tensor | None  # float32 [B, F], zeros where has_image is False
    has_image: torch.Tensor | None  # bool [B]
    num_tokens: int

    def to(self, device: torch.device) -> Batch:
        def move(t: torch.Tensor | None) -> torch.Tensor | None:
            return None if t is None else t.to(device, non_blocking=True)

        return Batch(
            self.inputs.to(device, non_blocking=True),
            self.targets.to(device, non_blocking=True),
            self.lengths.to(device, non_blocking=True),
            move(self.features),
            move(self.has_image),
            self.num_tokens,
        )


class FeatureLookup:
    """image_number -> feature row, through images.tsv and the store's ids.tsv."""

    def __init__(self, corpus: PreparedCorpus, store: FeatureStore) -> None:
        self.store = store
        row_of = store.row_of()
        image_ids = corpus.image_ids()
        self.rows = np.asarray([row_of.get(i, -1) for i in image_ids], dtype=np.int64)  # [num_images]
        self.num_matched = int((self.rows >= 0).sum())
        self.num_images = len(image_ids)

    @property
    def dim(self) -> int:
        return self.store.dim

    def gather(self, image_numbers: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """Features [B, F] float32 (zeros where missing) and has_image [B] bool."""
        valid = (image_numbers >= 0) & (image_numbers < len(self.rows))
        rows = np.full(len(image_numbers), -1, dtype=np.int64)
        rows[valid] = self.rows[image_numbers[valid]]
        has = rows >= 0
        feats = np.zeros((len(image_numbers), self.dim), dtype=np.float32)
        if has.any():
            feats[has] = np.asarray(self.store.matrix[rows[has]], dtype=np.float32)
        return torch.from_numpy(feats), torch.from_numpy(has)


def open_features(corpus: PreparedCorpus, features_dir: Path | None) -> FeatureLookup | None:
    return None if features_dir is None else FeatureLookup(corpus, load_features(Path(features_dir)))


@dataclass(frozen=True)
class _Pool:
    shard: int
    start: int
    stop: int


class BatchStream:
    """Deterministic, resumable, rank-aware batches over one split of a prepared corpus."""

    def __init__(
        self,
        corpus: PreparedCorpus,
        split: str,
        batch_size: int,
        *,
        features: FeatureLookup | None = None,
        max_len: int = 64,
        pool_batches: int = 64,
        shuffle: bool = True,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        self.corpus = corpus
        self.split = split
        self.batch_size = batch_size
        self.features = features
        self.max_len = max_len
        self.shuffle = shuffle
        self.rank = rank
        self.world_size = world_size
        self.shards: list[Shard] = list(corpus.shards(split))
        pool = max(1, pool_batches * batch_size)
        self.pools = [
            _Pool(s, start, min(start + pool, len(shard)))
            for s, shard in enumerate(self.shards)
            for start in range(0, len(shard), pool)
        ]
        self.num_sentences = sum(len(s) for s in self.shards)
        self.num_tokens = sum(int(s.offsets[-1] - s.offsets[0]) for s in self.shards) if self.shards else 0

    def _pool_batches(self, pool: _Pool, rng: np.random.Generator | None) -> list[np.ndarray]:
        """Sentence indices (within the pool's shard) of each batch of one pool."""
        offsets = self.shards[pool.shard].offsets
        idx = np.arange(pool.start, pool.stop)
        if rng is not None:
            idx = rng.permutation(idx)
        lengths = offsets[idx + 1] - offsets[idx]
        idx = idx[np.argsort(lengths, kind="stable")]
        batches = [idx[i : i + self.batch_size] for i in range(0, len(idx), self.batch_size)]
        if rng is not None:
            order = rng.permutation(len(batches))
            batches = [batches[i] for i in order]
        return batches

    def global_plan(self, seed: int, epoch: int) -> Iterator[tuple[int, np.ndarray]]:
        """(shard, sentence indices) of every batch of the epoch, for all ranks."""
        rng = np.random.default_rng([seed, epoch]) if self.shuffle else None
        order = rng.permutation(len(self.pools)) if rng is not None else np.arange(len(self.pools))
        for p in order:
            pool = self.pools[int(p)]
            for b in self._pool_batches(pool, rng):
                yield pool.shard, b

    def num_global_batches(self) -> int:
        return sum(-(-(p.stop - p.start) // self.batch_size) for p in self.pools)

    def batches_per_rank(self) -> int:
        return self.num_global_batches() // self.world_size

    def epoch(self, seed: int, epoch: int, skip: int = 0, drop_tail: bool = True) -> Iterator[Batch]:
        """This rank's batches of an epoch, starting after its first `skip` batches.

        `drop_tail=False` (validation) keeps the last batches that do not divide by the world size.
        """
        limit = self.batches_per_rank() * self.world_size if drop_tail else self.num_global_batches()
        # this rank takes global batches rank, rank + world_size, ... below the limit
        mine = itertools.islice(self.global_plan(seed, epoch), self.rank, limit, self.world_size)
        for shard, idx in itertools.islice(mine, skip, None):
            yield self.make_batch(shard, idx)

    def make_batch(self, shard_index: int, idx: np.ndarray) -> Batch:
        shard = self.shards[shard_index]
        sentences = [np.asarray(shard.sentence(int(i))[: self.max_len], dtype=np.int64) for i in idx]
        lengths = np.asarray([len(s) + 1 for s in sentences], dtype=np.int64)
        width = int(lengths.max())
        inputs = np.full((len(idx), width), PAD, dtype=np.int64)
        targets = np.full((len(idx), width), PAD, dtype=np.int64)
        inputs[:, 0] = BOS
        for row, s in enumerate(sentences):
            n = len(s)
            inputs[row, 1 : n + 1] = s
            targets[row, :n] = s
            targets[row, n] = EOS
        feats = has = None
        if self.features is not None:
            feats, has = self.features.gather(np.asarray(shard.images[idx], dtype=np.int64))
        return Batch(
            torch.from_numpy(inputs),
            torch.from_numpy(targets),
            torch.from_numpy(lengths),
            feats,
            has,
            int(lengths.sum()),
        )
