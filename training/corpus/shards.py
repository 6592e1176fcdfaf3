"""The prepared-corpus format `mmwe.corpus` is defined once, in `index/corpus.py` (names, writer, readers).

This module only re-exports it, so that `from training.corpus.shards import ...` keeps working.
"""

from index.corpus import (
    BOS,
    CORPUS_FORMAT,
    CORPUS_VERSION,
    EOS,
    PAD,
    SPECIALS,
    UNK,
    PreparedCorpus,
    Shard,
    ShardWriter,
)

__all__ = [
    "BOS",
    "CORPUS_FORMAT",
    "CORPUS_VERSION",
    "EOS",
    "PAD",
    "SPECIALS",
    "UNK",
    "PreparedCorpus",
    "Shard",
    "ShardWriter",
]
