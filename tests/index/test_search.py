"""Build real indexes and check search results against brute-force numpy."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest

from index.artifacts import load_embeddings
from index.build import BuildConfig, build_index
from index.errors import QueryError
from index.phrases import mean_normalized, mean_normalized_rows
from index.ranking import Ranking
from index.search import PhraseSearcher, Related

COSINE = Ranking.cosine()
EXCLUDE = Ranking(popularity=0.0, min_count=0, compounds="exclude", collapse=False)

QUIET = {"progress": False}


def brute_force(s: PhraseSearcher, text: str, k: int) -> list[tuple[str, float]]:
    """Exact top-k by cosine over every indexed phrase, recomputed from the word vectors."""
    emb = s.embeddings
    index = emb.word_index()
    mat = np.stack([mean_normalized(emb.vectors[[index[w] for w in p.split()]]) for p in s.phrases])
    q = s.embed(text)
    scores = mat @ q.vector
    order = [i for i in np.argsort(-scores, kind="stable") if s.phrases[i] != " ".join(q.tokens)]
    return [(s.phrases[i], float(scores[i])) for i in order[:k]]


def test_query_vector_is_bitwise_the_phrase_vector() -> None:
    """The query path's `mean_normalized_rows` equals the index builder's `mean_normalized` exactly."""
    rng = np.random.default_rng(0)
    for n in (1, 2, 3, 7, 20):
        for scale in (1e-3, 1.0, 50.0):
            rows = (scale * rng.standard_normal((n, 64))).astype(np.float32)
            fast = mean_normalized_rows(rows)
            assert fast.dtype == np.float32 and np.array_equal(fast, mean_normalized(rows))
    zero = np.zeros((2, 8), np.float32)
    assert np.array_equal(mean_normalized_rows(zero), mean_normalized(zero))


@pytest.fixture
def flat_index(tmp_path: Path, corpus_dir: Path, corpus_embeddings: Path) -> PhraseSearcher:
    out = tmp_path / "index"
    build_index(corpus_embeddings, out, corpus=corpus_dir, config=BuildConfig(factory="Flat", **QUIET))
    return PhraseSearcher.load(out)


def test_exact_index_returns_true_neighbours(flat_index: PhraseSearcher) -> None:
    s = flat_index
    assert s.manifest["factory"] == "Flat" and s.manifest["recall"]["recall_at_k"] == 1.0
    assert "hot dog" in s.phrases and "new york city" in s.phrases
    for query in ("hot dog", "ice", "aaw0 new", "the big red barn door"):
        got = s.related(query, k=8, ranking=COSINE)
        expected = brute_force(s, query, 8)
        assert [h.phrase for h in got.hits] == [p for p, _ in expected]
        np.testing.assert_allclose([h.score for h in got.hits], [sc for _, sc in expected], atol=1e-5)
        assert got.normalized not in [h.phrase for h in got.hits]


def test_counts_kept(flat_index: PhraseSearcher) -> None:
    s = flat_index
    counts = dict(zip(s.phrases, s.counts.tolist(), strict=True))
    assert counts["hot dog"] == 34 and counts["new york city"] == 33
    assert list(s.counts) == sorted(s.counts, reverse=True)


def test_query_embedding_and_errors(flat_index: PhraseSearcher) -> None:
    s = flat_index
    q = s.embed("Hot-Dog zzzunknown!")
    assert q.tokens == ["hot", "dog", "zzzunknown"] and q.known == ["hot", "dog"] and q.oov == ["zzzunknown"]
    assert abs(float(np.linalg.norm(q.vector)) - 1.0) < 1e-5 and q.vector.dtype == np.float32
    r = s.related("hot dog zzzunknown", k=3)
    assert r.oov == ["zzzunknown"] and len(r.hits) == 3
    with pytest.raises(QueryError, match="vocabulary"):
        s.related("qqq zzz")
    with pytest.raises(QueryError):
        s.embed("  !! ")
    with pytest.raises(QueryError):
        s.related("hot", k=0)
    with pytest.raises(QueryError, match="parameter"):
        s.related("hot", search_params={"efSearch": 10})
    sim, qa, qb = s.similarity("hot dog", "hot dog")
    assert sim == pytest.approx(1.0, abs=1e-5) and qa.known == qb.known


def test_k_larger_than_collection_and_word_exclusion(flat_index: PhraseSearcher) -> None:
    s = flat_index
    everything = s.related("hot dog", k=10_000, ranking=COSINE)
    assert len(everything.hits) == s.num_phrases - 1
    filtered = s.related("hot dog", k=10_000, ranking=EXCLUDE)
    assert all("hot" not in h.phrase.split() and "dog" not in h.phrase.split() for h in filtered.hits)
    assert len(filtered.hits) == sum(1 for p in s.phrases if not {"hot", "dog"} & set(p.split()))
    few = s.related("hot dog", k=3, ranking=EXCLUDE)
    assert [h.phrase for h in few.hits] == [h.phrase for h in filtered.hits[:3]]


def test_related_first_is_related_or_none(flat_index: PhraseSearcher) -> None:
    s = flat_index
    assert s.search_work == s.num_phrases * s.dim  # Flat: every vector once
    for text, k, ranking in (("hot dog", 5, COSINE), ("hot dog", 3, EXCLUDE), ("ice", 1, Ranking())):
        assert s.related_first(text, k, ranking=ranking) == s.related(text, k, ranking=ranking)
    # every phrase fetched: the query phrase itself leaves k - 1 hits, all there is, as `related` says
    everything = s.related_first("hot dog", s.num_phrases, ranking=COSINE)
    assert everything == s.related("hot dog", s.num_phrases, ranking=COSINE)
    assert everything is not None and len(everything.hits) == s.num_phrases - 1
    with pytest.raises(QueryError):
        s.related_first("qqq")


def test_batch_matches_single(flat_index: PhraseSearcher) -> None:
    s = flat_index
    texts = ["hot dog", "qqq", "new york", "ice cream"]
    batch = s.related_batch(texts, k=5)
    assert isinstance(batch[1], QueryError)
    for text, result in zip(texts, batch, strict=True):
        if isinstance(result, Related):
            assert result == s.related(text, k=5)


def test_concurrent_searches_agree(flat_index: PhraseSearcher) -> None:
    s = flat_index
    queries = ["hot dog", "ice cream", "new york city", "big red barn"] * 10
    expected = [s.related(q, k=5) for q in queries]
    results: list[list[Related]] = [[] for _ in range(4)]

    def work(slot: int) -> None:
        results[slot] = [s.related(q, k=5) for q in queries]

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(r == expected for r in results)


def test_artifact_layout(flat_index: PhraseSearcher) -> None:
    s = flat_index
    manifest = json.loads((s.path / "manifest.json").read_text())
    assert manifest["format"] == "mmwe.index" and manifest["num_phrases"] == s.num_phrases
    assert set(manifest["files"]) == {"index.faiss", "phrases.tsv"}
    assert load_embeddings(s.path / "embeddings").words == s.embeddings.words
    assert manifest["phrase_sources"]["mining"]["mined_multiword"] > 0
    assert s.memory_bytes() > 0 and s.memory_report()["index"]["bytes"] > 0
