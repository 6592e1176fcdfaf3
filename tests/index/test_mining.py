"""Phrase mining: numpy n-gram counts against a plain Python count, collocation selection, streaming."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from index.corpus import iter_chunks, open_corpus
from index.errors import ArtifactError
from index.mining import MiningConfig, NgramCounter
from tests.index.conftest import PLANTED, make_corpus, planted_sentences


def python_counts(sentences: list[list[str]], n: int) -> Counter[tuple[str, ...]]:
    counts: Counter[tuple[str, ...]] = Counter()
    for s in sentences:
        for i in range(len(s) - n + 1):
            gram = tuple(s[i : i + n])
            if "<unk>" not in gram:
                counts[gram] += 1
    return counts


def count_corpus(
    path: Path, chunk_tokens: int, max_n: int = 4, vocab_size: int | None = None
) -> NgramCounter:
    info = open_corpus(path)
    counter = NgramCounter(vocab_size or len(info.words), max_n=max_n)
    for tokens, offsets in iter_chunks(path, "train", len(info.words), chunk_tokens):
        counter.add(tokens, offsets)
    return counter


@pytest.mark.parametrize("chunk_tokens", [7, 1000, 10**6])
def test_counts_match_python(corpus_dir: Path, chunk_tokens: int) -> None:
    sentences = planted_sentences()
    info = open_corpus(corpus_dir)
    assert len(list((corpus_dir / "train").glob("tokens-*.bin"))) > 3  # several shards
    counter = count_corpus(corpus_dir, chunk_tokens)
    for n in (2, 3, 4):
        expected = python_counts(sentences, n)
        table = counter.tables[n]
        got = {
            tuple(info.words[t] for t in row): int(c) for row, c in zip(table.ids, table.counts, strict=True)
        }
        assert got == dict(expected)
        some = next(iter(expected))
        assert counter.count([info.words.index(w) for w in some]) == expected[some]


def test_hashed_keys_agree_with_packed_keys(corpus_dir: Path) -> None:
    packed = count_corpus(corpus_dir, 1000)
    hashed = count_corpus(corpus_dir, 1000, vocab_size=1 << 20)  # 4 x 20 bits > 63: hashing path
    assert packed.bits * 4 <= 63 < hashed.bits * 4
    for n in (2, 3, 4):
        a, b = packed.tables[n], hashed.tables[n]
        key_a = {tuple(r): c for r, c in zip(a.ids.tolist(), a.counts.tolist(), strict=True)}
        key_b = {tuple(r): c for r, c in zip(b.ids.tolist(), b.counts.tolist(), strict=True)}
        assert key_a == key_b


def test_selects_planted_collocations(corpus_dir: Path) -> None:
    info = open_corpus(corpus_dir)
    counter = count_corpus(corpus_dir, 1000)
    mined = counter.select(info.words, MiningConfig(min_count=10, min_score=0.3))
    multi = {p.text for p in mined if " " in p.text}
    for phrase in PLANTED[:3]:
        assert phrase in multi
    assert "big red barn door" in multi  # 4-gram inside the planted 5-gram
    # no pair of random filler words reaches both thresholds
    assert all(any(w in p.split() for w in " ".join(PLANTED).split()) for p in multi)
    words = {p.text for p in mined if " " not in p.text}
    assert "<unk>" not in words and "hot" in words
    scores = {p.text: p.score for p in mined}
    assert scores["hot dog"] > 0.5


def test_thresholds_and_cap(corpus_dir: Path) -> None:
    info = open_corpus(corpus_dir)
    counter = count_corpus(corpus_dir, 1000)
    none = counter.select(info.words, MiningConfig(min_count=10**6))
    assert all(" " not in p.text for p in none)
    capped = counter.select(info.words, MiningConfig(max_phrases=2))
    assert sum(" " in p.text for p in capped) == 2
    bigrams_only = counter.select(info.words, MiningConfig(max_n=2))
    assert all(len(p.text.split()) <= 2 for p in bigrams_only)


def test_pruning_is_flagged(corpus_dir: Path) -> None:
    info = open_corpus(corpus_dir)
    counter = NgramCounter(len(info.words), max_n=2, max_table=50)
    for tokens, offsets in iter_chunks(corpus_dir, "train", len(info.words), 500):
        counter.add(tokens, offsets)
    assert counter.pruned and len(counter.tables[2].keys) <= 50


def test_bad_offsets_name_the_file(tmp_path: Path) -> None:
    path = make_corpus(tmp_path / "c", planted_sentences(num=20), shard_tokens=10**6)
    off = path / "train" / "offsets-00000.bin"
    data = np.fromfile(off, dtype="<i8")
    data[-1] += 5
    data.tofile(off)
    with pytest.raises(ArtifactError, match="offsets-00000.bin"):
        list(iter_chunks(path, "train", 1000))


def test_edge_stopwords(tmp_path: Path) -> None:
    sentences = [["she", "wears", "a", "red", "shirt", "in", "the", "park"]] * 20 + [
        ["bird", "of", "prey"]
    ] * 20
    path = make_corpus(tmp_path / "c", sentences)
    info = open_corpus(path)
    counter = count_corpus(path, 1000)
    default = {p.text for p in counter.select(info.words, MiningConfig()) if " " in p.text}
    assert "red shirt" in default and "bird of prey" in default
    assert not any(
        p.split()[0] in ("a", "in", "the", "of") or p.split()[-1] in ("a", "in", "the", "of") for p in default
    )
    everything = {p.text for p in counter.select(info.words, MiningConfig(edge_stopwords=frozenset()))}
    assert "a red shirt" in everything and "red shirt in" in everything
