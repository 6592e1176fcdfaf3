"""Triplet accuracy: hand-computed values, both OOV policies, file format, errors, fast == reference."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from evaluation import BenchmarkFormatError, BenchmarkSpec, PhraseEncoder, read_triplets, run_suite
from evaluation.fast_triplets import MIN_LINES, parse_triplets_fast
from evaluation.readers import parse_triplets, read_bytes
from evaluation.triplets import evaluate_triplets, score_triplets
from tests.evaluation.conftest import TOY, MakeEmbeddings

# With TOY: cos(cat, dog) = .8, cos(cat, car) = 0; "red car" = mean((1,1), (0,1)) -> unit (.447, .894)
TRIPLETS = """base\tpositive\tnegative
cat\tdog\tcar
cat\tcar\tdog
Red-Car\tcar\tcat
red car\tcat\ttruck
cat\tcar\ttruck
cat\tdog\tzebra
red zebra\tcar\tcat
"""
# correct, wrong, correct (.894 > .447), wrong (.447 < .894), tie -> wrong, OOV, OOV (one OOV word does it)


def write(tmp_path: Path, text: str, name: str = "t.tsv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_accuracy_hand_computed_both_policies(tmp_path: Path, make_embeddings: MakeEmbeddings) -> None:
    emb = make_embeddings(TOY)
    triplets = read_triplets(write(tmp_path, TRIPLETS))
    assert len(triplets) == 7
    metrics, counts = evaluate_triplets(PhraseEncoder(emb), triplets, oov_policy="skip")
    assert counts == {"triplets": 7, "evaluated": 5, "correct": 2, "oov_triplets": 2}
    assert metrics["accuracy"] == pytest.approx(2 / 5)
    assert metrics["accuracy_skip_oov"] == pytest.approx(2 / 5)
    assert metrics["accuracy_oov_wrong"] == pytest.approx(2 / 7)
    assert metrics["coverage"] == pytest.approx(5 / 7)
    low, high = metrics["ci95_low"], metrics["ci95_high"]
    assert low is not None and high is not None and 0.0 <= low <= 0.4 <= high <= 1.0
    metrics, counts = evaluate_triplets(PhraseEncoder(emb), triplets, oov_policy="wrong")
    assert counts == {"triplets": 7, "evaluated": 7, "correct": 2, "oov_triplets": 2}
    assert metrics["accuracy"] == pytest.approx(2 / 7)


def test_header_is_optional_and_comments_blank_lines_crlf_are_skipped(
    tmp_path: Path, make_embeddings: MakeEmbeddings
) -> None:
    body = TRIPLETS.split("\n", 1)[1]
    text = "# my benchmark\n\n" + body.replace("\n", "\r\n")
    triplets = read_triplets(write(tmp_path, text))
    assert len(triplets) == 7
    assert triplets.lines.tolist() == [3, 4, 5, 6, 7, 8, 9]
    metrics, _ = evaluate_triplets(PhraseEncoder(make_embeddings(TOY)), triplets)
    assert metrics["accuracy"] == pytest.approx(2 / 5)


def test_triplet_suite_result_records_policy_and_checksum(
    tmp_path: Path, make_embeddings: MakeEmbeddings
) -> None:
    path = write(tmp_path, TRIPLETS)
    spec = BenchmarkSpec("toy", "triplets", path, {"oov_policy": "wrong"})
    result = run_suite(make_embeddings(TOY), [spec]).benchmark("toy")
    assert result.options["oov_policy"] == "wrong"
    assert result.metrics["accuracy"] == pytest.approx(2 / 7)
    assert result.sha256 == read_bytes(path)[1]


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ("cat\tdog\tcar\ncat\tdog\n", 2, "expected 3 tab-separated fields"),
        ("base\tpositive\tnegative\ncat\tdog\tcar\tbus\n", 2, "found 4"),
        ("cat\tdog\tcar\ncat\t--\tcar\n", 2, "positive '--' has no word"),
        ("cat\tdog\t\n", 1, "negative '' has no word"),
    ],
)
def test_malformed_lines_name_file_and_line(tmp_path: Path, text: str, line: int, fragment: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(BenchmarkFormatError) as err:
        read_triplets(path)
    assert err.value.line == line
    assert str(path) in str(err.value) and f"line {line}" in str(err.value) and fragment in str(err.value)


def test_missing_and_non_utf8_files(tmp_path: Path) -> None:
    with pytest.raises(BenchmarkFormatError, match="file not found"):
        read_triplets(tmp_path / "nope.tsv")
    bad = tmp_path / "bad.tsv"
    bad.write_bytes(b"cat\tdog\tcar\ncat\td\xffg\tcar\n")
    with pytest.raises(BenchmarkFormatError, match="line 2: not valid UTF-8"):
        read_triplets(bad)


def _big_file(tmp_path: Path, n: int, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    words = [f"w{i}" for i in range(300)] + ["Ünïcode", "hot-dog"]
    phrases = [" ".join(rng.choice(words, size=rng.integers(1, 4))) for _ in range(3000)]
    rows = rng.integers(0, len(phrases), (n, 3))
    lines = ["\t".join(phrases[i] for i in row) for row in rows]
    return write(tmp_path, "base\tpositive\tnegative\n" + "\n".join(lines) + "\n", "big.tsv")


def _field_phrases(triplets: object) -> list[list[str]]:
    phrases = np.asarray(triplets.phrases, dtype=object)  # type: ignore[attr-defined]
    return phrases[triplets.ids].tolist()  # type: ignore[attr-defined,no-any-return]


def test_fast_parser_equals_reference_parser(tmp_path: Path) -> None:
    path = _big_file(tmp_path, MIN_LINES + 123)
    data, sha = read_bytes(path)
    fast = parse_triplets_fast(path, data, sha)
    slow = parse_triplets(path, data, sha)
    assert fast is not None, "a clean file this big must take the fast path"
    assert _field_phrases(fast) == _field_phrases(slow)
    assert fast.lines.tolist() == slow.lines.tolist()
    assert sorted(fast.phrases) == sorted(slow.phrases)
    # CRLF line ends and no final newline go through the fast path too
    crlf = write(tmp_path, path.read_text(encoding="utf-8").replace("\n", "\r\n").rstrip("\r\n"), "crlf.tsv")
    data, sha = read_bytes(crlf)
    fast_crlf = parse_triplets_fast(crlf, data, sha)
    assert fast_crlf is not None and _field_phrases(fast_crlf) == _field_phrases(slow)


def test_fast_parser_defers_so_errors_stay_exact(tmp_path: Path) -> None:
    path = _big_file(tmp_path, MIN_LINES + 10)
    lines = path.read_text(encoding="utf-8").split("\n")
    lines[40000] = "only\ttwo"
    path.write_text("\n".join(lines), encoding="utf-8")
    with pytest.raises(BenchmarkFormatError, match="line 40001: expected 3 tab-separated fields"):
        read_triplets(path)
    lines[40000] = "cat\t--\tcar"  # well-formed line, but a phrase with no word
    path.write_text("\n".join(lines), encoding="utf-8")
    with pytest.raises(BenchmarkFormatError, match="line 40001: positive '--' has no word"):
        read_triplets(path)


def test_score_triplets_chunked_threads_agree(make_embeddings: MakeEmbeddings) -> None:
    rng = np.random.default_rng(0)
    unit = rng.normal(size=(50, 8)).astype(np.float32)
    unit /= np.linalg.norm(unit, axis=1, keepdims=True)
    ids = rng.integers(0, 50, (1000, 3))
    expected = (unit[ids[:, 0]] * unit[ids[:, 1]]).sum(1) > (unit[ids[:, 0]] * unit[ids[:, 2]]).sum(1)
    assert np.array_equal(score_triplets(unit, ids, threads=2, chunk=7), expected)
    assert np.array_equal(score_triplets(unit, ids, threads=1), expected)


def test_fast_parser_leaves_comments_and_control_characters_to_the_reference(tmp_path: Path) -> None:
    path = _big_file(tmp_path, MIN_LINES + 10)
    lines = path.read_text(encoding="utf-8").split("\n")
    for edit in ("# a comment in the middle", "cat\tdog\x01\tcar"):
        changed = [*lines[:100], edit, *lines[100:]]
        path.write_text("\n".join(changed), encoding="utf-8")
        data, sha = read_bytes(path)
        assert parse_triplets_fast(path, data, sha) is None
    assert len(read_triplets(path)) == MIN_LINES + 11  # the control character is inside a phrase: allowed
