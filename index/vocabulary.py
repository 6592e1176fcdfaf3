"""The phrase vocabulary of an index: mined corpus phrases plus listed phrases, each with its count.

Sources, merged by normalised text (the largest count wins):
- a prepared corpus (`--corpus`): its words with count >= min_word_count and its multi-word collocations
  (`index.mining`), streamed shard by shard over the chosen splits;
- the corpus's own `phrases.tsv` when present (unless disabled), and any `--phrases` files. A listed phrase
  without a count takes its corpus count (0 when the corpus lacks it or has no corpus);
- with no corpus at all, the embeddings vocabulary supplies the single words, with its counts.
Phrases are ordered by count (descending), then text; that order is the FAISS id order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from index.artifacts import Embeddings
from index.corpus import PHRASES_FILE, iter_chunks, open_corpus
from index.mining import MiningConfig, NgramCounter
from index.phrases import read_phrase_list
from index.text import normalize_phrase


@dataclass
class PhraseVocabulary:
    texts: list[str]
    counts: list[int]
    sources: dict[str, Any] = field(default_factory=dict)


def collect_phrases(
    embeddings: Embeddings,
    *,
    corpus: Path | None,
    phrase_files: Sequence[Path] = (),
    mining: MiningConfig | None = None,
    splits: Sequence[str] = ("train",),
    corpus_phrases: bool = True,
    chunk_tokens: int = 4_000_000,
    progress: bool = True,
) -> PhraseVocabulary:
    mining = mining or MiningConfig()
    merged: dict[str, int] = {}
    sources: dict[str, Any] = {"corpus": None, "phrase_lists": [], "mining": None}

    def put(text: str, count: int) -> None:
        if count > merged.get(text, -1):
            merged[text] = count

    counter: NgramCounter | None = None
    corpus_ids: dict[str, int] = {}
    lists = [Path(p) for p in phrase_files]
    if corpus is not None:
        info = open_corpus(corpus)
        counter = NgramCounter(len(info.words), mining.max_n, mining.max_table)
        for split in splits:
            chunks = iter_chunks(info.path, split, len(info.words), chunk_tokens)
            for tokens, offsets in tqdm(chunks, desc=f"mining {split}", unit="chunk", disable=not progress):
                counter.add(tokens, offsets)
        mined = counter.select(info.words, mining)
        for p in mined:
            text = normalize_phrase(p.text)
            if text:
                put(text, p.count)
        corpus_ids = {w: i for i, w in enumerate(info.words)}
        sources["corpus"] = str(info.path.resolve())
        sources["mining"] = {
            "splits": list(splits),
            "max_n": mining.max_n,
            "min_count": mining.min_count,
            "min_score": mining.min_score,
            "score": "npmi",
            "min_word_count": mining.min_word_count,
            "max_phrases": mining.max_phrases,
            "edge_stopwords": len(mining.edge_stopwords),
            "num_tokens": counter.num_tokens,
            "mined_words": sum(1 for p in mined if " " not in p.text),
            "mined_multiword": sum(1 for p in mined if " " in p.text),
            "pruned": counter.pruned,
        }
        own = info.path / PHRASES_FILE
        if corpus_phrases and own.is_file():
            lists.insert(0, own)
    else:
        for word, count in zip(embeddings.words, embeddings.counts.tolist(), strict=True):
            text = normalize_phrase(word)
            if text:
                put(text, int(count))
        sources["words"] = "embeddings vocabulary"
    for path in lists:
        listed = read_phrase_list(path)
        for item in listed:
            count = item.count
            if count is None:
                ids = [corpus_ids.get(w, -1) for w in item.text.split(" ")]
                count = counter.count(ids) if counter is not None and -1 not in ids else 0
            put(item.text, count)
        sources["phrase_lists"].append({"path": str(path.resolve()), "phrases": len(listed)})
    ordered = sorted(merged.items(), key=lambda kv: (-kv[1], kv[0]))
    return PhraseVocabulary([t for t, _ in ordered], [c for _, c in ordered], sources)
