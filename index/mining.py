"""Phrase mining: count n-grams of a prepared corpus with numpy, keep frequent collocations.

Counting streams the corpus chunk by chunk. Each n-gram of token ids becomes one uint64 key (exact bit packing
when n * bits(vocab) <= 63, otherwise a 64-bit mixing hash); per chunk, `np.unique` counts keys and keeps one
occurrence's ids, and the chunk table is merged into a running table per n. An n-gram never crosses a sentence
boundary and never contains a reserved id (<pad>, <unk>, <bos>, <eos>). If a table grows past `max_table`
entries it is pruned to its most frequent half (counts then become lower bounds, as in word2vec's phrase
tool; the build manifest records that it happened).

Collocation score: normalised PMI generalised to n words,

    npmi(w1..wn) = ln(p(g) / prod p(wi)) / (-(n - 1) ln p(g)),  p(x) = count(x) / num_tokens,

which is 0 for independent words and 1 for words that only ever occur together (for n = 2 it is Bouma's NPMI).
A multi-word phrase is kept when count >= min_count and npmi >= min_score, and it neither starts nor ends with
an edge stopword (default: English articles, prepositions, conjunctions and auxiliaries, so "a red shirt" and
"red shirt is" give way to "red shirt"; stopwords inside a phrase, as in "bird of prey", are kept).

    counter = NgramCounter(vocab_size, max_n=4)
    for tokens, offsets in iter_chunks(...): counter.add(tokens, offsets)
    mined = counter.select(words, MiningConfig())
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from index.corpus import NUM_RESERVED

_MIX = np.uint64(0x9E3779B97F4A7C15)

_EDGE = """a an the and or but nor of in on at to into onto from by with without for about as than while
is are was were be been being am has have had do does did its his her their our your my this that these those
there here it he she they we you i"""
EDGE_STOPWORDS = frozenset(_EDGE.split())


@dataclass(frozen=True)
class MiningConfig:
    max_n: int = 4  # longest phrase, in words
    min_count: int = 5  # multi-word phrases seen fewer times are dropped
    min_score: float = 0.3  # minimum generalised NPMI for a multi-word phrase
    min_word_count: int = 1  # single words seen fewer times are dropped
    max_phrases: int | None = None  # keep at most this many multi-word phrases (most frequent first)
    edge_stopwords: frozenset[str] = EDGE_STOPWORDS  # multi-word phrases may not start or end with these
    max_table: int = 20_000_000  # distinct n-grams held per n before pruning


@dataclass
class NgramTable:
    n: int
    keys: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint64))  # uint64 [M], sorted
    ids: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.int32))  # int32 [M, n]
    counts: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # int64 [M]


@dataclass(frozen=True)
class MinedPhrase:
    text: str
    count: int
    score: float  # npmi; 1.0 for single words


class NgramCounter:
    """Streaming n-gram counts (n = 1..max_n) over chunks of sentences."""

    def __init__(self, vocab_size: int, max_n: int = 4, max_table: int = 20_000_000) -> None:
        if max_n < 1:
            raise ValueError("max_n must be >= 1")
        self.vocab_size = vocab_size
        self.max_n = max_n
        self.max_table = max_table
        self.bits = max(1, int(vocab_size - 1).bit_length())
        self.unigrams = np.zeros(vocab_size, np.int64)
        self.num_tokens = 0
        self.pruned = False
        self.tables = {n: NgramTable(n, ids=np.zeros((0, n), np.int32)) for n in range(2, max_n + 1)}

    def keys_of(self, ids: np.ndarray) -> np.ndarray:
        """uint64 key per row of ids [M, n]: exact packing when it fits in 63 bits, else a mixing hash."""
        n = ids.shape[1]
        ids64 = ids.astype(np.uint64)
        key = np.zeros(len(ids), np.uint64)
        if n * self.bits <= 63:
            for j in range(n):
                key = (key << np.uint64(self.bits)) | ids64[:, j]
            return key
        for j in range(n):
            key = (key ^ ids64[:, j]) * _MIX
            key ^= key >> np.uint64(29)
        return key

    def add(self, tokens: np.ndarray, offsets: np.ndarray) -> None:
        """Count one chunk: tokens int32 [T], offsets int64 [S+1] (sentence i = tokens[off[i]:off[i+1]])."""
        num = len(tokens)
        if num == 0:
            return
        self.unigrams += np.bincount(tokens, minlength=self.vocab_size)
        self.num_tokens += int(np.count_nonzero(tokens >= NUM_RESERVED))
        # run[i] = usable tokens from i to a sentence end or reserved id; an n-gram may start at i iff run>=n
        pos = np.arange(num, dtype=np.int64)
        lengths = np.diff(offsets)
        sent_end = np.repeat(offsets[1:], lengths)
        barrier = np.where(tokens < NUM_RESERVED, pos, num)
        next_bad = np.minimum.accumulate(barrier[::-1])[::-1]
        run = np.minimum(next_bad, sent_end) - pos
        for n, table in self.tables.items():
            starts = np.flatnonzero(run >= n)
            if len(starts) == 0:
                continue
            ids = np.stack([tokens[starts + j] for j in range(n)], axis=1)  # int32 [M, n]
            keys, first, counts = np.unique(self.keys_of(ids), return_index=True, return_counts=True)
            self._merge(table, keys, ids[first], counts.astype(np.int64))

    def _merge(self, table: NgramTable, keys: np.ndarray, ids: np.ndarray, counts: np.ndarray) -> None:
        """Merge a sorted chunk table into the sorted running table (linear: add matches, insert new keys)."""
        if len(table.keys):
            pos = np.searchsorted(table.keys, keys)
            found = pos < len(table.keys)
            found[found] = table.keys[pos[found]] == keys[found]
            table.counts[pos[found]] += counts[found]
            new = ~found
            keys, ids, counts = keys[new], ids[new], counts[new]
        if len(keys):
            all_keys = np.concatenate([table.keys, keys])
            order = np.argsort(all_keys, kind="stable")  # two sorted runs: timsort merges them in linear time
            table.keys = all_keys[order]
            table.ids = np.concatenate([table.ids, ids])[order]
            table.counts = np.concatenate([table.counts, counts])[order]
        if len(table.keys) > self.max_table:
            keep = np.sort(np.argsort(-table.counts, kind="stable")[: self.max_table // 2])
            table.keys, table.ids, table.counts = table.keys[keep], table.ids[keep], table.counts[keep]
            self.pruned = True

    def count(self, ids: list[int]) -> int:
        """Corpus count of one n-gram of token ids (0 when unseen, longer than max_n, or pruned)."""
        if len(ids) == 1:
            return int(self.unigrams[ids[0]]) if 0 <= ids[0] < self.vocab_size else 0
        table = self.tables.get(len(ids))
        if table is None:
            return 0
        key = self.keys_of(np.asarray([ids], dtype=np.int32))
        i = int(np.searchsorted(table.keys, key[0]))
        if i < len(table.keys) and table.keys[i] == key[0] and np.array_equal(table.ids[i], ids):
            return int(table.counts[i])
        return 0

    def npmi(self, table: NgramTable) -> np.ndarray:
        """Generalised NPMI (module docstring) of every n-gram of a table, float64 [M]."""
        total = max(self.num_tokens, 1)
        log_pg = np.log(table.counts / total)
        log_pw = np.log(np.maximum(self.unigrams[table.ids], 1) / total).sum(axis=1)
        denom = -(table.n - 1) * log_pg
        with np.errstate(divide="ignore", invalid="ignore"):
            score = np.where(denom > 0, (log_pg - log_pw) / denom, 1.0)
        return np.asarray(score, dtype=np.float64)

    def select(self, words: list[str], config: MiningConfig) -> list[MinedPhrase]:
        """Single words with count >= min_word_count, plus multi-word collocations passing both thresholds."""
        out: list[MinedPhrase] = []
        for i in np.flatnonzero(self.unigrams >= max(config.min_word_count, 1)):
            if i >= NUM_RESERVED:
                out.append(MinedPhrase(words[int(i)], int(self.unigrams[i]), 1.0))
        multi: list[MinedPhrase] = []
        stop = np.asarray([w in config.edge_stopwords for w in words], dtype=bool)  # [V]
        for n in range(2, min(config.max_n, self.max_n) + 1):
            table = self.tables[n]
            score = self.npmi(table)
            edges_ok = ~stop[table.ids[:, 0]] & ~stop[table.ids[:, -1]]
            keep = np.flatnonzero((table.counts >= config.min_count) & (score >= config.min_score) & edges_ok)
            for i in keep:
                text = " ".join(words[int(t)] for t in table.ids[i])
                multi.append(MinedPhrase(text, int(table.counts[i]), float(score[i])))
        multi.sort(key=lambda p: (-p.count, p.text))
        if config.max_phrases is not None:
            multi = multi[: config.max_phrases]
        return out + multi
