"""Ranking of related phrases (index/ranking.py): prior, min_count, compounds, near-duplicates, denylist."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from index.build import BuildConfig, build_index
from index.errors import ArtifactError
from index.ranking import (
    DENYLIST_FILE,
    Candidate,
    Ranking,
    load_denylist,
    phrase_key,
    rank_candidates,
    read_denylist,
    singular,
)
from index.search import PhraseSearcher
from tests.index.conftest import make_embeddings

COSINE = Ranking.cosine()
ROOT = Path(__file__).resolve().parents[2]


def phrases(ranked: list[Candidate]) -> list[str]:
    return [c[0] for c in ranked]


def test_plural_fold_and_keys() -> None:
    assert [singular(w) for w in ("dogs", "boxes", "babies", "glass", "bus", "children", "cats", "is")] == [
        "dog",
        "box",
        "baby",
        "glass",
        "bus",
        "child",
        "cat",
        "is",
    ]
    assert phrase_key("hot dogs").key == phrase_key("dog hot").key == phrase_key("hot dog").key
    assert phrase_key("hot dog").key != phrase_key("hot dog stand").key


def test_popularity_prior_reorders_by_cosine_plus_weighted_log_count() -> None:
    cands = [("rare", 0.80, 1), ("common", 0.75, 1000), ("mid", 0.70, 50)]
    assert phrases(rank_candidates(["q"], cands, 3, COSINE)) == ["rare", "common", "mid"]
    w = 0.02  # 0.80 + 0.02 ln 2 = 0.814 < 0.75 + 0.02 ln 1001 = 0.888; 0.70 + 0.02 ln 51 = 0.779
    ranked = rank_candidates(["q"], cands, 3, Ranking(popularity=w, min_count=0, compounds="include"))
    assert phrases(ranked) == ["common", "rare", "mid"]
    assert 0.75 + w * math.log1p(1000) > 0.80 + w * math.log1p(1)
    assert ranked[0] == ("common", 0.75, 1000)  # the hit keeps its raw cosine


def test_min_count_drops_rare_phrases() -> None:
    cands = [("a", 0.9, 1), ("b", 0.8, 2), ("c", 0.7, 0), ("d", 0.6, 7)]
    assert phrases(rank_candidates(["q"], cands, 4, Ranking(popularity=0, min_count=2))) == ["b", "d"]
    assert phrases(rank_candidates(["q"], cands, 4, Ranking(popularity=0, min_count=0))) == [
        "a",
        "b",
        "c",
        "d",
    ]


def test_compounds_include_limit_exclude() -> None:
    cands = [(f"dog {i}x", 0.9 - i / 100, 5) for i in range(8)] + [
        (f"cat{i}", 0.5 - i / 100, 5) for i in range(8)
    ]
    base = {"popularity": 0.0, "min_count": 0}
    include = rank_candidates(["dog"], cands, 10, Ranking(compounds="include", **base))  # type: ignore[arg-type]
    limit = rank_candidates(["dog"], cands, 10, Ranking(compounds="limit", **base))  # type: ignore[arg-type]
    exclude = rank_candidates(["dogs"], cands, 10, Ranking(compounds="exclude", **base))  # type: ignore[arg-type]
    assert sum("dog" in p for p in phrases(include)) == 8
    assert sum("dog" in p for p in phrases(limit)) == 3 and len(limit) == 10
    assert phrases(limit)[:3] == ["dog 0x", "dog 1x", "dog 2x"]  # the best refinements, in order
    assert not any("dog" in p for p in phrases(exclude))  # the plural query matches too
    assert Ranking().compound_cap(10) == 3 and Ranking().compound_cap(2) == 1


def test_near_duplicates_collapse_to_the_best_spelling() -> None:
    cands = [
        ("hot dog", 0.9, 5),
        ("hot dogs", 0.85, 9),
        ("dog hot", 0.8, 3),
        ("bun", 0.7, 4),
        ("buns", 0.6, 4),
    ]
    ranked = rank_candidates(["sausage"], cands, 10, Ranking(popularity=0, min_count=0))
    assert phrases(ranked) == ["hot dog", "bun"]
    assert phrases(rank_candidates(["sausage"], cands, 10, COSINE)) == [c[0] for c in cands]
    # spellings of the query itself are not suggested for it
    own = [("dogs", 0.95, 5), ("dog", 0.9, 5), ("puppy", 0.8, 5)]
    assert phrases(rank_candidates(["dog"], own, 10, Ranking(popularity=0, min_count=0))) == ["puppy"]
    assert phrases(rank_candidates(["dog"], own, 10, COSINE)) == ["dogs", "puppy"]


def test_denylist_words_and_phrases(tmp_path: Path) -> None:
    path = tmp_path / "deny.txt"
    path.write_text("# comment\nBadword  # trailing comment\n\nhot dog stand\n", encoding="utf-8")
    deny = read_denylist(path)
    assert deny.words == {"badword"} and deny.phrases == (("hot", "dog", "stand"),)
    assert deny.blocks_text("badwords") and deny.blocks_text("a badword here")
    assert (
        deny.blocks_text("the hot dogs stand")
        and not deny.blocks_text("hot dog")
        and not deny.blocks_text("stand hot dog")
    )
    cands = [("badwords", 0.9, 5), ("hot dog stand", 0.8, 5), ("hot dog", 0.7, 5)]
    assert phrases(rank_candidates(["x"], cands, 3, Ranking(popularity=0, min_count=0, denylist=deny))) == [
        "hot dog"
    ]


def test_load_denylist_default_none_custom_and_missing(tmp_path: Path) -> None:
    default = load_denylist("default")
    assert default is not None and default.source == "default" and DENYLIST_FILE.is_file()
    assert default.blocks_text("child pornography") and not default.blocks_text("child care")
    assert load_denylist("none") is None and load_denylist("NONE") is None and load_denylist(None) is None
    custom = tmp_path / "mine.txt"
    custom.write_text("zebra\n", encoding="utf-8")
    mine = load_denylist(str(custom))
    assert mine is not None and mine.blocks_text("zebras") and not mine.blocks_text("child pornography")
    with pytest.raises(ArtifactError, match="missing.txt"):
        load_denylist(str(tmp_path / "missing.txt"))


CHILD_WORDS = ["child", "children", "care", "pornography", "prodigy", "kid", "toy", "school"]


@pytest.fixture
def child_build(tmp_path: Path) -> tuple[Path, Path]:
    emb = make_embeddings(tmp_path / "emb", CHILD_WORDS)
    listed = tmp_path / "phrases.txt"
    listed.write_text(
        "child pornography\t50\nchild care\t40\nchild prodigy\t30\nkid toy\t20\nschool kid\t9\n",
        encoding="utf-8",
    )
    return emb, listed


def test_denylist_applies_at_build(tmp_path: Path, child_build: tuple[Path, Path]) -> None:
    emb, listed = child_build
    config = BuildConfig(factory="Flat", progress=False)
    manifest = build_index(emb, tmp_path / "ix", phrase_files=[listed], config=config)
    s = PhraseSearcher.load(tmp_path / "ix")
    assert (
        "child pornography" not in s.phrases and "pornography" not in s.phrases and "child care" in s.phrases
    )
    assert manifest["phrase_policy"]["denylist"] == {"source": "default", "dropped": 2}
    open_config = BuildConfig(factory="Flat", progress=False, denylist="none")
    build_index(emb, tmp_path / "open", phrase_files=[listed], config=open_config)
    assert "child pornography" in PhraseSearcher.load(tmp_path / "open").phrases


@pytest.fixture
def open_index(tmp_path: Path, child_build: tuple[Path, Path]) -> Path:
    """Built WITHOUT the denylist: only the query-time list can keep "child pornography" out."""
    emb, listed = child_build
    config = BuildConfig(factory="Flat", progress=False, denylist="none")
    build_index(emb, tmp_path / "open", phrase_files=[listed], config=config)
    return tmp_path / "open"


def test_denylist_applies_at_query_time(open_index: Path) -> None:
    s = PhraseSearcher.load(open_index)
    everything = [h.phrase for h in s.related("child", 20, ranking=COSINE).hits]
    assert "child pornography" in everything
    for ranking in (
        Ranking(denylist=load_denylist("default")),
        Ranking(compounds="include", denylist=load_denylist("default")),
    ):
        hits = [h.phrase for h in s.related("child", 20, ranking=ranking).hits]
        assert hits and "child pornography" not in hits and "pornography" not in hits


def test_cli_related_uses_the_default_ranking_and_denylist(open_index: Path) -> None:
    cmd = [sys.executable, "-m", "index", "related", "--index", str(open_index), "child", "-k", "20"]
    shown = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=ROOT).stdout)
    assert "child pornography" not in [h["phrase"] for h in shown["hits"]]
    raw = cmd + ["--denylist", "none", "--min-count", "0", "--compounds", "include", "--popularity", "0"]
    shown = json.loads(subprocess.run(raw, check=True, capture_output=True, text=True, cwd=ROOT).stdout)
    assert "child pornography" in [h["phrase"] for h in shown["hits"]]


def test_function_words_make_no_compound_and_the_last_widening_fills_with_compounds() -> None:
    cands = [("peace treaty", 0.9, 5), ("state of war", 0.8, 5), ("quiet", 0.7, 5)]
    ranked = rank_candidates(["peace", "of", "mind"], cands, 3, Ranking(popularity=0, min_count=0))
    assert phrases(ranked) == ["peace treaty", "state of war", "quiet"]  # "of" shared: still an association
    only = [(f"oak {i}", 0.9 - i / 100, 5) for i in range(6)] + [("maple", 0.5, 5)]
    limit = Ranking(popularity=0, min_count=0)
    assert phrases(rank_candidates(["oak"], only, 5, limit)) == ["oak 0", "maple"]  # cap: 1 of 5
    filled = rank_candidates(["oak"], only, 5, limit, fill=True)
    assert phrases(filled) == ["oak 0", "oak 1", "oak 2", "oak 3", "maple"]  # in rank order
    assert COSINE.widen_limit(10) is None and Ranking().widen_limit(10) == 64 * 10 + 1024


def test_a_filtering_search_widens_at_most_to_its_limit(open_index: Path) -> None:
    s = PhraseSearcher.load(open_index)
    everything = s.related("child", 100, ranking=COSINE).hits
    assert len(everything) == s.num_phrases - 1  # cosine alone: min(k, available), as always
    few = s.related("child", 100, ranking=Ranking(min_count=25)).hits  # filters leave fewer than k
    assert [h.count >= 25 for h in few] == [True] * len(few) and 0 < len(few) < len(everything)
