"""Graded similarity: hand-computed Spearman/Pearson under both OOV conventions, tsv and csv, errors."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from evaluation import (
    BenchmarkError,
    BenchmarkFormatError,
    BenchmarkSpec,
    PhraseEncoder,
    read_pairs_csv,
    read_pairs_tsv,
    run_suite,
)
from evaluation.similarity import evaluate_similarity
from tests.evaluation.conftest import TOY, MakeEmbeddings

# cosines with TOY: cat/dog .8, cat/car 0, dog/car .6, "red car"/car 2/sqrt(5) = .894; zebra is OOV
PAIRS_TSV = """# a comment line, as in gensim's files
cat\tdog\t8
cat\tcar\t1
dog\tcar\t5
red car\tcar\t9
cat\tzebra\t3
"""


def _expected_pearson_drop() -> float:
    x = [8.0, 1.0, 5.0, 9.0]
    y = [0.8, 0.0, 0.6, 2 / math.sqrt(5)]
    mx, my = sum(x) / 4, sum(y) / 4
    sxy = sum((a - mx) * (b - my) for a, b in zip(x, y, strict=True))
    return sxy / math.sqrt(sum((a - mx) ** 2 for a in x) * sum((b - my) ** 2 for b in y))


def test_hand_computed_both_oov_conventions(tmp_path: Path, make_embeddings: MakeEmbeddings) -> None:
    path = tmp_path / "pairs.tsv"
    path.write_text(PAIRS_TSV, encoding="utf-8")
    pairs = read_pairs_tsv(path)
    assert len(pairs) == 5 and pairs.lines.tolist() == [2, 3, 4, 5, 6]
    metrics, counts = evaluate_similarity(PhraseEncoder(make_embeddings(TOY)), pairs)
    assert counts == {"pairs": 5, "evaluated": 4, "oov_pairs": 1}
    # dropping the OOV pair, human and model orders agree exactly
    assert metrics["spearman"] == pytest.approx(1.0)
    assert metrics["pearson"] == pytest.approx(_expected_pearson_drop())
    assert metrics["pearson"] == pytest.approx(0.98306, abs=1e-4)
    # OOV pair scored 0: human ranks [4,1,3,5,2], model ranks [4,1.5,3,5,1.5] -> 9.5 / sqrt(10 * 9.5)
    assert metrics["spearman_oov_as_zero"] == pytest.approx(9.5 / math.sqrt(95))
    assert metrics["coverage"] == pytest.approx(0.8)
    zero, zero_counts = evaluate_similarity(
        PhraseEncoder(make_embeddings(TOY, name="e2")), pairs, oov_policy="zero"
    )
    assert zero["spearman"] == pytest.approx(9.5 / math.sqrt(95))
    assert zero_counts["evaluated"] == 5


def test_csv_with_configured_columns_gives_the_same_numbers(
    tmp_path: Path, make_embeddings: MakeEmbeddings
) -> None:
    csv_path = tmp_path / "pairs.csv"
    csv_path.write_text(
        'id,left,right,mean\n1,cat,dog,8\n2,cat,car,1\n3,dog,car,5\n4,"red, car",car,9\n5,cat,zebra,3\n',
        encoding="utf-8",
    )
    emb = make_embeddings(TOY)
    spec = BenchmarkSpec("csv", "similarity", csv_path, {"word1": "left", "word2": "right", "score": "mean"})
    result = run_suite(emb, [spec]).benchmark("csv")
    assert result.options["format"] == "csv"
    assert result.metrics["spearman"] == pytest.approx(1.0)
    assert result.metrics["pearson"] == pytest.approx(_expected_pearson_drop())
    semi = tmp_path / "pairs_semicolon.txt"
    semi.write_text("a;b;s\ncat;dog;8\ncat;car;1\ndog;car;5\n", encoding="utf-8")
    pairs = read_pairs_csv(semi, word1="a", word2="b", score="s", delimiter=";")
    assert pairs.first == ["cat", "cat", "dog"] and pairs.scores.tolist() == [8.0, 1.0, 5.0]


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ("cat\tdog\t8\ncat\tdog\n", 2, "expected 3 fields"),
        ("cat\tdog\t8\ncat\tdog\tlots\n", 2, "score 'lots' is not a number"),
        ("cat\tdog\tnan\n", 1, "not finite"),
        ("\n#x\ncat\t?\t1\n", 3, "term2 '?' has no word"),
    ],
)
def test_tsv_malformed_lines(tmp_path: Path, text: str, line: int, fragment: str) -> None:
    path = tmp_path / "bad.tsv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(BenchmarkFormatError) as err:
        read_pairs_tsv(path)
    assert err.value.line == line and fragment in str(err.value) and str(path) in str(err.value)


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ("w1,w2,score\ncat,dog,8\n", 1, "lacks column(s) ['word1', 'word2']"),
        ("word1,word2,score\ncat,dog,8\ncat,dog\n", 3, "expected 3 fields"),
        ("word1,word2,score\ncat,dog,x\n", 2, "not a number"),
    ],
)
def test_csv_malformed_lines(tmp_path: Path, text: str, line: int, fragment: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(BenchmarkFormatError) as err:
        read_pairs_csv(path)
    assert err.value.line == line and fragment in str(err.value)


def test_csv_rows_with_only_an_index_are_skipped(tmp_path: Path) -> None:
    path = tmp_path / "wordsim.csv"  # the wordsim-dev files end with such a row
    path.write_text(",word1,word2,similarity\n0,cat,dog,8\n1,car,road,5\n2,,,\n", encoding="utf-8")
    pairs = read_pairs_csv(path, score="similarity")
    assert pairs.first == ["cat", "car"] and pairs.second == ["dog", "road"]
    path.write_text(",word1,word2,similarity\n0,cat,,8\n", encoding="utf-8")
    with pytest.raises(BenchmarkFormatError):  # a half-empty row is still an error
        read_pairs_csv(path, score="similarity")


def test_empty_csv_and_bad_options(tmp_path: Path, make_embeddings: MakeEmbeddings) -> None:
    path = tmp_path / "empty.csv"
    path.write_text("", encoding="utf-8")
    with pytest.raises(BenchmarkFormatError, match="empty file"):
        read_pairs_csv(path)
    emb = make_embeddings(TOY)
    with pytest.raises(BenchmarkError, match="unknown option"):
        run_suite(emb, [BenchmarkSpec("x", "similarity", path, {"column": "a"})])
    with pytest.raises(BenchmarkError, match="oov_policy"):
        run_suite(emb, [BenchmarkSpec("x", "similarity", tmp_path / "p.tsv", {"oov_policy": "ignore"})])
