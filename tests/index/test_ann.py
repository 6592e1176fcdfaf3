"""Approximate indexes: recall is measured and stored, exact search and per-query overrides work."""

from __future__ import annotations

from pathlib import Path

import faiss
import numpy as np
import pytest

from index.ann import search_work
from index.auto import choose_factory
from index.build import BuildConfig, build_index
from index.errors import QueryError
from index.ranking import Ranking
from index.search import PhraseSearcher
from index.tuning import exact_neighbours

COSINE = Ranking.cosine()


def build(emb: Path, out: Path, factory: str, **kw: object) -> PhraseSearcher:
    build_index(emb, out, config=BuildConfig(factory=factory, num_queries=200, progress=False, **kw))  # type: ignore[arg-type]
    return PhraseSearcher.load(out)


@pytest.mark.parametrize(
    ("factory", "param"), [("HNSW16", "efSearch"), ("IVF32,Flat", "nprobe"), ("IVF32,SQ8", "nprobe")]
)
def test_recall_is_tuned_and_stored(tmp_path: Path, big_embeddings: Path, factory: str, param: str) -> None:
    s = build(big_embeddings, tmp_path / "ix", factory, target_recall=0.9)
    m = s.manifest
    assert m["search_param"] == param and set(m["search_params"]) == {param}
    assert m["recall"]["num_queries"] == 200 and m["recall"]["k"] == 10
    assert m["recall"]["recall_at_k"] >= 0.9 and m["recall"]["target_met"]
    assert m["recall"]["curve"][-1][param] == m["search_params"][param]
    assert "phrase_vectors.npy" in m["files"] and s.vectors is not None
    # re-measure independently: the stored default reaches the stored recall on the same held-out set
    rng = np.random.default_rng(0)
    rows = np.sort(rng.permutation(s.num_phrases)[:200])
    q = np.asarray(s.vectors[rows])
    truth = exact_neighbours(q, np.asarray(s.vectors), 11)
    _, found = s.index.search(q, 11)
    hits = [
        len(set(f[f != own][:10]) & set(t[t != own][:10]))
        for f, t, own in zip(found, truth, rows, strict=True)
    ]
    recall = float(np.mean(hits)) / 10  # no ties among these random vectors, so plain set overlap
    assert recall == pytest.approx(m["recall"]["recall_at_k"], abs=1e-4)


def test_related_first_answers_from_one_search_or_says_none(tmp_path: Path, big_embeddings: Path) -> None:
    """One IVF search (the first fetch and its lookahead) answers most queries; where its lists run out of
    candidates `related_first` says None and `related` goes on to an exact search."""
    s = build(big_embeddings, tmp_path / "ix", "IVF64,Flat", target_recall=0.5)
    answered = none = 0
    for query in ("aaw0", "bbw27 aaw0", "yyw2000", "cbw28"):
        for k in (1, 10, 40, 200):
            for ranking in (COSINE, Ranking(min_count=0), Ranking(min_count=0, compounds="exclude")):
                first = s.related_first(query, k, ranking=ranking)
                full = s.related(query, k, ranking=ranking)
                assert len(full.hits) == k
                if first is None:
                    none += 1
                else:
                    answered += 1
                    assert first == full
    assert answered > 0 and none > 0


def test_exact_flag_and_override(tmp_path: Path, big_embeddings: Path) -> None:
    s = build(big_embeddings, tmp_path / "ix", "IVF64,Flat", target_recall=0.5)
    flat = build(big_embeddings, tmp_path / "flat", "Flat")
    for query in ("aaw0", "bbw27 aaw0", "yyw2000"):
        exact = s.related(query, k=10, exact=True)
        truth = flat.related(query, k=10)
        assert [h.phrase for h in exact.hits] == [h.phrase for h in truth.hits]
        one = s.related(query, k=10, search_params={"nprobe": 1})
        full = s.related(query, k=10, search_params={"nprobe": 64})
        assert len(one.hits) == 10  # widened to exact when one list runs short
        assert [h.phrase for h in full.hits] == [h.phrase for h in truth.hits]
    with pytest.raises(QueryError, match="efSearch"):
        s.related("aaw0", search_params={"efSearch": 32})
    with pytest.raises(QueryError):
        s.related("aaw0", search_params={"nprobe": 0})


def test_hnsw_override_changes_work(tmp_path: Path, big_embeddings: Path) -> None:
    s = build(big_embeddings, tmp_path / "ix", "HNSW8", target_recall=0.99)
    queries = [s.phrases[i] for i in range(0, 3000, 30)]
    exact = [tuple(h.phrase for h in s.related(q, k=10, exact=True).hits) for q in queries]
    low = [tuple(h.phrase for h in s.related(q, k=10, search_params={"efSearch": 10}).hits) for q in queries]
    high = [
        tuple(h.phrase for h in s.related(q, k=10, search_params={"efSearch": 400}).hits) for q in queries
    ]
    agree = lambda got: np.mean([len(set(a) & set(b)) / 10 for a, b in zip(got, exact, strict=True)])  # noqa: E731
    assert agree(high) >= agree(low) and agree(high) > 0.97


def test_search_work_estimates() -> None:
    d = 16
    ivf = faiss.index_factory(d, "IVF64,Flat", faiss.METRIC_INNER_PRODUCT)
    ivf.train(np.random.default_rng(0).standard_normal((2000, d)).astype(np.float32))
    ivf.add(np.zeros((6400, d), np.float32))
    ivf.nprobe = 3
    assert search_work(ivf) == 64 * d + 3 * 100 * d  # the centroids, then 3 lists of 100 on average
    hnsw = faiss.index_factory(d, "HNSW16", faiss.METRIC_INNER_PRODUCT)
    hnsw.hnsw.efSearch = 40
    assert search_work(hnsw) == 40 * 32 * d  # efSearch candidates x 2M base-level neighbours
    flat = faiss.index_factory(d, "Flat", faiss.METRIC_INNER_PRODUCT)
    flat.add(np.zeros((500, d), np.float32))
    assert search_work(flat) == 500 * d
    pca = faiss.index_factory(d, "PCA8,Flat", faiss.METRIC_INNER_PRODUCT)
    assert search_work(pca) == d * 8  # the transform only, on an empty index


def test_auto_choice() -> None:
    assert choose_factory(1_000, 128, None, 0.95) == "Flat"
    assert choose_factory(100_000, 128, None, 0.95) == "IVF256,Flat"
    assert choose_factory(1_000_000, 128, None, 0.95) == "IVF1024,Flat"
    assert choose_factory(1_000_000, 128, 600 * 2**20, 0.95) == "IVF1024,Flat"
    assert choose_factory(1_000_000, 128, 200 * 2**20, 0.95) == "IVF1024,SQ8"
    assert choose_factory(1_000_000, 128, 50 * 2**20, 0.95) == "IVF1024,PQ32"


def test_auto_build_small_is_exact(tmp_path: Path, big_embeddings: Path) -> None:
    s = build(big_embeddings, tmp_path / "ix", "auto")
    assert s.manifest["factory"] == "Flat" and s.manifest["factory_requested"] == "auto"
