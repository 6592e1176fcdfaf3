"""The paper's sentence cleaning, one record at a time, with per-step drop counts.

Steps, in order (each counted in `CleanStats`):
1. normalise: lowercase, every run of non-alphanumerics becomes a space (`index.text.tokenize`);
2. min_words: sentences with fewer than `min_words` tokens are dropped (paper: 4);
3. near_duplicate: a sentence of the same record whose word-unigram overlap with an earlier kept sentence is
   >= `dedup_threshold` is dropped. Overlap = |A ∩ B| / |A ∪ B| over the two sentences' sets of distinct words
   (Jaccard); the paper gives no threshold, the default 0.8 drops rewordings like "a dog runs on the beach" vs
   "a dog runs on a beach" (0.83) and keeps captions that merely share a subject;
4. empty records (no sentence left) are dropped.
The vocabulary step (min-count, `<unk>`) runs later, in `training/corpus/prepare.py`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from index.text import tokenize

DEFAULT_MIN_WORDS = 4
DEFAULT_DEDUP_THRESHOLD = 0.8


@dataclass(frozen=True)
class CleanOptions:
    min_words: int = DEFAULT_MIN_WORDS
    dedup_threshold: float | None = DEFAULT_DEDUP_THRESHOLD  # None = keep near-duplicates
    max_words: int | None = None  # longer sentences are truncated (None = keep whole)


@dataclass
class CleanStats:
    """How many records/sentences/tokens entered and what each step dropped."""

    records_in: int = 0
    sentences_in: int = 0
    tokens_in: int = 0
    empty_dropped_sentences: int = 0
    min_words_dropped_sentences: int = 0
    min_words_dropped_tokens: int = 0
    near_duplicate_dropped_sentences: int = 0
    near_duplicate_dropped_tokens: int = 0
    truncated_tokens: int = 0
    empty_records_dropped: int = 0
    records_out: int = 0
    sentences_out: int = 0
    tokens_out: int = 0

    def add(self, other: CleanStats) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    def to_json(self) -> dict[str, int]:
        return asdict(self)


def overlap_ratio(a: set[str], b: set[str]) -> float:
    """Word-unigram overlap of two sentences: Jaccard of their distinct-word sets (1.0 for two empty sets)."""
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


def clean_sentences(raw: list[str], options: CleanOptions, stats: CleanStats) -> list[list[str]]:
    """Clean one record's sentences; return the kept token lists and add the counts to `stats`."""
    stats.records_in += 1
    kept: list[list[str]] = []
    kept_sets: list[set[str]] = []
    for sentence in raw:
        stats.sentences_in += 1
        tokens = tokenize(sentence)
        stats.tokens_in += len(tokens)
        if not tokens:
            stats.empty_dropped_sentences += 1
            continue
        if len(tokens) < options.min_words:
            stats.min_words_dropped_sentences += 1
            stats.min_words_dropped_tokens += len(tokens)
            continue
        if options.dedup_threshold is not None:
            words = set(tokens)
            if any(overlap_ratio(words, other) >= options.dedup_threshold for other in kept_sets):
                stats.near_duplicate_dropped_sentences += 1
                stats.near_duplicate_dropped_tokens += len(tokens)
                continue
            kept_sets.append(words)
        if options.max_words is not None and len(tokens) > options.max_words:
            stats.truncated_tokens += len(tokens) - options.max_words
            tokens = tokens[: options.max_words]
        kept.append(tokens)
        stats.sentences_out += 1
        stats.tokens_out += len(tokens)
    if kept:
        stats.records_out += 1
    else:
        stats.empty_records_dropped += 1
    return kept
