"""bench/ranking_bench.py on image-derived triplets: nDCG@10 of positives over negatives, per prior weight."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bench.ranking_bench import triplet_candidates, triplet_ndcg
from index.artifacts import write_embeddings
from index.build import BuildConfig, build_index
from index.ranking import Ranking
from index.search import PhraseSearcher

# "puppy" and "leash" lie next to "dog"; "car", "tree" and "sky" are orthogonal to it.
VECTORS = {
    "dog": [1.0, 0.0, 0.0, 0.0],
    "puppy": [0.9, 0.1, 0.0, 0.0],
    "leash": [0.8, 0.3, 0.0, 0.0],
    "car": [0.0, 1.0, 0.0, 0.0],
    "tree": [0.0, 0.0, 1.0, 0.0],
    "sky": [0.0, 0.0, 0.0, 1.0],
}
COUNTS = {"dog": 50, "puppy": 1, "leash": 3, "car": 1_000_000, "tree": 4, "sky": 5}


@pytest.fixture(scope="module")
def searcher(tmp_path_factory: pytest.TempPathFactory) -> PhraseSearcher:
    root = tmp_path_factory.mktemp("bench")
    words = list(VECTORS)
    write_embeddings(
        root / "emb",
        words,
        [COUNTS[w] for w in words],
        np.array([VECTORS[w] for w in words], dtype=np.float32),
        model_kind="word2vec",
        corpus={"name": "test"},
        training={},
        metrics={},
        seed=0,
    )
    config = BuildConfig(factory="Flat", progress=False, denylist="none")
    build_index(root / "emb", root / "ix", config=config)
    return PhraseSearcher.load(root / "ix")


def write(path: Path, rows: list[str]) -> Path:
    path.write_text("base\tpositive\tnegative\n" + "".join(r + "\n" for r in rows), encoding="utf-8")
    return path


def figures(searcher: PhraseSearcher, path: Path, min_judged: int = 3) -> dict[str, float]:
    out = triplet_ndcg(searcher, path, [0.0, 0.1], min_judged, 10, 0, Ranking())
    assert out["queries"] == 1
    return {w: v["ndcg@10"] for w, v in out["by_weight"].items()}


def test_candidates_are_positives_and_negatives_and_a_positive_wins(tmp_path: Path) -> None:
    path = write(tmp_path / "t.tsv", ["dog\tpuppy\tcar", "dog\tleash\tpuppy", "Dog\tcar\ttree"])
    assert triplet_candidates(path) == {"dog": {"puppy": 1.0, "car": 1.0, "leash": 1.0, "tree": 0.0}}


def test_ndcg_is_one_when_the_positives_are_nearest(searcher: PhraseSearcher, tmp_path: Path) -> None:
    path = write(tmp_path / "t.tsv", ["dog\tpuppy\ttree", "dog\tleash\tsky"])
    assert figures(searcher, path)["0.0"] == pytest.approx(1.0)


def test_ndcg_drops_when_negatives_are_nearer(searcher: PhraseSearcher, tmp_path: Path) -> None:
    path = write(tmp_path / "t.tsv", ["dog\ttree\tpuppy", "dog\tsky\tleash"])
    two_last = (1 / np.log2(4) + 1 / np.log2(5)) / (1 + 1 / np.log2(3))  # positives ranked 3rd and 4th
    assert figures(searcher, path)["0.0"] == pytest.approx(two_last, abs=1e-4)


def test_the_prior_lifts_a_frequent_positive(searcher: PhraseSearcher, tmp_path: Path) -> None:
    # car: cosine 0, count 1e6 (0.1 ln(1e6 + 1) = 1.38); puppy: cosine 0.99, count 1; leash likewise.
    path = write(tmp_path / "t.tsv", ["dog\tcar\tpuppy", "dog\tcar\tleash"])
    out = triplet_ndcg(searcher, path, [0.0, 0.1], 3, 10, 0, Ranking())
    by_weight = out["by_weight"]
    assert by_weight["0.0"]["ndcg@10"] == pytest.approx(0.5)  # 1 / log2(4): car ranked third
    assert by_weight["0.1"]["ndcg@10"] == pytest.approx(1.0)
    assert by_weight["0.1"]["minus_cosine"] == pytest.approx(0.5)
    assert out["default_filters"]["negatives"]["below_min_count"] == pytest.approx(0.5)  # puppy: count 1


def test_base_terms_without_both_kinds_or_too_few_candidates_are_left_out(
    searcher: PhraseSearcher, tmp_path: Path
) -> None:
    only_positives = write(tmp_path / "p.tsv", ["dog\tpuppy\tunknownword", "dog\tleash\tunknownword"])
    assert triplet_ndcg(searcher, only_positives, [0.0], 2, 10, 0, Ranking())["queries"] == 0
    few = write(tmp_path / "f.tsv", ["dog\tpuppy\ttree"])
    assert triplet_ndcg(searcher, few, [0.0], 3, 10, 0, Ranking())["queries"] == 0


def test_differences_to_the_default_weight_when_it_is_compared(
    searcher: PhraseSearcher, tmp_path: Path
) -> None:
    path = write(tmp_path / "t.tsv", ["dog\tcar\tpuppy", "dog\tcar\tleash"])
    by_weight = triplet_ndcg(searcher, path, [0.0, 0.02, 0.1], 3, 10, 0, Ranking())["by_weight"]
    # 0.02 ln(1e6 + 1) = 0.28 < 0.94: car stays third at the default weight, first at 0.1
    assert by_weight["0.02"]["ndcg@10"] == pytest.approx(0.5)
    assert by_weight["0.1"]["minus_default"] == pytest.approx(0.5)
    assert by_weight["0.1"]["ci95_default"] == pytest.approx([0.5, 0.5])
    assert by_weight["0.0"]["minus_default"] == pytest.approx(0.0)
    no_default = triplet_ndcg(searcher, path, [0.0, 0.1], 3, 10, 0, Ranking())["by_weight"]
    assert "minus_default" not in no_default["0.1"]
