"""The triplet builder: a hand-written click log gives exactly the triplets the rules say; graded pairs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from evaluation import BenchmarkFormatError, read_pairs_tsv, read_triplets
from evaluation.builder import (
    ClickConfig,
    Stemmer,
    read_click_log,
    read_clicks,
    read_phrase_pool,
    triplets_from_clicks,
    triplets_from_pairs,
    write_triplets,
)

CLICKS = """query\tphrase\tclicks
hair style\tponytail\t10
hair style\tpink nail\t1
Hair Style\tbraided hair\t12
hair style\tPonytail\t5
hair style\tbob cut\t3
hair style\thair style\t50
karting\tgo carts\t7
karting\tkarts\t9
karting\toffice waiting area\t2
"""
# Aggregated: hair style -> ponytail 15, braided hair 12, bob cut 3, pink nail 1 (the query itself is
#             ignored); karting -> karts 9, go carts 7, office waiting area 2.
# top_k=2: [ponytail, braided hair] and [karts, go carts]; "braided hair" shares "hair" with the query and
# "karts" stems to "kart" like "karting": both dropped. Positives: (hair style, ponytail), (karting, go carts)
# Pool: "hair clip" (hair), "go cart" (go, cart), "ponytail go" (ponytail, go), "karting hair" (kart, hair):
# for (hair style, ponytail) only "go cart" shares no stem; for (karting, go carts) only "hair clip".
POOL = "hair clip\ngo cart\nponytail go\n# a comment\nkarting hair\n"


def _files(tmp_path: Path) -> tuple[Path, Path]:
    log, pool = tmp_path / "clicks.tsv", tmp_path / "pool.txt"
    log.write_text(CLICKS, encoding="utf-8")
    pool.write_text(POOL, encoding="utf-8")
    return log, pool


def test_stemmer() -> None:
    stemmer = Stemmer()
    assert stemmer.stems("karting karts") == {"kart"}
    assert stemmer.share("hair style", "braided hair") and not stemmer.share("go carts", "hair clip")


def test_click_log_builder_follows_the_rules_exactly(tmp_path: Path) -> None:
    log, pool_path = _files(tmp_path)
    clicks = read_click_log(log)
    assert clicks["hair style"] == {
        "ponytail": 15,
        "pink nail": 1,
        "braided hair": 12,
        "bob cut": 3,
        "hair style": 50,
    }
    pool = read_phrase_pool(pool_path)
    assert pool == ["hair clip", "go cart", "ponytail go", "karting hair"]
    for seed in range(5):  # only one valid negative per pair: every seed must find it
        triplets, stats = triplets_from_clicks(clicks, ClickConfig(top_k=2, seed=seed), pool)
        assert triplets == [("hair style", "ponytail", "go cart"), ("karting", "go carts", "hair clip")]
    assert stats.queries == 2 and stats.positives == 2 and stats.dropped_shared_stem == 2
    assert stats.triplets == 2 and stats.no_negative == 0 and stats.pool_size == 4


def test_top_k_min_clicks_and_missing_negatives(tmp_path: Path) -> None:
    log, pool_path = _files(tmp_path)
    clicks, pool = read_click_log(log), read_phrase_pool(pool_path)
    triplets, _ = triplets_from_clicks(clicks, ClickConfig(top_k=3), pool)
    assert [t[:2] for t in triplets] == [
        ("hair style", "ponytail"),
        ("hair style", "bob cut"),
        ("karting", "go carts"),
        ("karting", "office waiting area"),
    ]
    assert triplets[1][2] in {"go cart", "ponytail go"}  # both share no stem with hair/style or bob/cut
    triplets, _ = triplets_from_clicks(clicks, ClickConfig(top_k=3, min_clicks=8), pool)
    assert [t[:2] for t in triplets] == [("hair style", "ponytail")]  # karting: only "karts" has >= 8 clicks
    # two negatives per positive, but (hair style, ponytail) has only one valid negative
    triplets, stats = triplets_from_clicks(clicks, ClickConfig(top_k=2, negatives=2, max_tries=50), pool)
    assert triplets == [("hair style", "ponytail", "go cart"), ("karting", "go carts", "hair clip")]
    assert stats.no_negative == 2


def test_default_pool_rules_hold_and_seed_is_deterministic(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    words = [
        "red",
        "blue",
        "dress",
        "dresses",
        "shoe",
        "shoes",
        "hat",
        "cat",
        "cats",
        "car",
        "garden",
        "rose",
    ]
    lines = ["query\tphrase\tclicks"]
    for _ in range(400):
        query = " ".join(rng.choice(words, 2, replace=False))
        phrase = " ".join(rng.choice(words, rng.integers(1, 3), replace=False))
        lines.append(f"{query}\t{phrase}\t{rng.integers(1, 20)}")
    log = tmp_path / "big.tsv"
    log.write_text("\n".join(lines) + "\n", encoding="utf-8")
    clicks = read_click_log(log)
    first, stats = triplets_from_clicks(clicks, ClickConfig(seed=7))
    again, _ = triplets_from_clicks(clicks, ClickConfig(seed=7))
    other, _ = triplets_from_clicks(clicks, ClickConfig(seed=8))
    assert first == again and first != other and stats.triplets == len(first) > 50
    stemmer = Stemmer()
    for query, positive, negative in first:
        assert not stemmer.share(query, positive)
        assert not stemmer.share(negative, query) and not stemmer.share(negative, positive)
        ranked = sorted(clicks[query], key=lambda p: (-clicks[query][p], p))
        assert positive in [p for p in ranked if p != query][:3]


def test_written_file_is_a_valid_benchmark(tmp_path: Path) -> None:
    out = tmp_path / "sub" / "triplets.tsv"
    write_triplets(out, [("hair style", "ponytail", "go cart")])
    assert out.read_text(encoding="utf-8") == "base\tpositive\tnegative\nhair style\tponytail\tgo cart\n"
    assert len(read_triplets(out)) == 1
    assert [p.name for p in out.parent.iterdir()] == ["triplets.tsv"]  # no temporary file left


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ("a\tb\t1\na\tb\n", 2, "expected 'query<TAB>phrase<TAB>clicks[<TAB>impressions]'"),
        ("a\tb\t1\t2\t3\n", 1, "found 5 fields"),
        ("a\tb\t1\tsome\n", 1, "impressions 'some' is not an integer"),
        ("a\tb\t1\t-2\n", 1, "impressions -2 is negative"),
        ("a\tb\tmany\n", 1, "clicks 'many' is not an integer"),
        ("a\tb\t-1\n", 1, "negative"),
        ("a\t!!\t1\n", 1, "at least one word"),
    ],
)
def test_malformed_click_logs(tmp_path: Path, text: str, line: int, fragment: str) -> None:
    path = tmp_path / "bad.tsv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(BenchmarkFormatError) as err:
        read_click_log(path)
    assert err.value.line == line and fragment in str(err.value) and str(path) in str(err.value)


def test_impressions_column_and_min_impressions(tmp_path: Path) -> None:
    """The 4-column log (the service's feedback export): shown-but-not-clicked lines join the pool only, and
    --min-impressions drops phrases shown too rarely for their query; a 3-column line counts its clicks."""
    path = tmp_path / "clicks.tsv"
    path.write_text(
        "query\tphrase\tclicks\timpressions\n"
        "hair style\tponytail\t1\t1\nhair style\tponytail\t1\t1\nhair style\tbun\t0\t1\n"
        "hair style\tbraided hair\t1\t1\nHair  Style\tgo cart\t0\t3\nkarting\tgo carts\t2\n",
        encoding="utf-8",
    )
    log = read_clicks(path)
    assert log.clicks == {
        "hair style": {"ponytail": 2, "bun": 0, "braided hair": 1, "go cart": 0},
        "karting": {"go carts": 2},
    }
    assert log.impressions["hair style"] == {"ponytail": 2, "bun": 1, "braided hair": 1, "go cart": 3}
    assert log.impressions["karting"] == {"go carts": 2}
    assert read_click_log(path) == log.clicks
    triplets, stats = triplets_from_clicks(log, ClickConfig(seed=1))
    assert {(q, p) for q, p, _ in triplets} == {("hair style", "ponytail"), ("karting", "go carts")}
    assert stats.pool_size == 5 and stats.dropped_shared_stem == 1  # braided hair shares "hair"
    strict, _ = triplets_from_clicks(log, ClickConfig(seed=1, min_impressions=2))
    assert {(q, p) for q, p, _ in strict} == {("hair style", "ponytail"), ("karting", "go carts")}
    strict, _ = triplets_from_clicks(log, ClickConfig(seed=1, min_impressions=3))
    assert strict == []
    assert triplets_from_clicks(log.clicks, ClickConfig(seed=1))[0] == triplets  # as a plain dict too


def test_triplets_from_graded_pairs(tmp_path: Path) -> None:
    path = tmp_path / "pairs.tsv"
    path.write_text("cat\tdog\t8\ncat\tcar\t1\ncat\tkitten\t9\ndog\tcar\t2\ncat\tcat\t10\n", encoding="utf-8")
    pairs = read_pairs_tsv(path)
    triplets, stats = triplets_from_pairs(pairs, high=7, low=3)
    # cat: positives dog, kitten; negative car. dog: positive cat (pairs count both ways); negative car.
    assert triplets == [("cat", "dog", "car"), ("cat", "kitten", "car"), ("dog", "cat", "car")]
    assert stats.triplets == 3 and stats.queries == 4
    one_way, _ = triplets_from_pairs(pairs, high=7, low=3, symmetric=False)
    assert one_way == [("cat", "dog", "car"), ("cat", "kitten", "car")]
    assert triplets_from_pairs(pairs, high=9.5, low=0.5)[0] == []
    with pytest.raises(ValueError, match="must be above"):
        triplets_from_pairs(pairs, high=3, low=3)
