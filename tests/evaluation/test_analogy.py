"""Analogies by 3CosAdd: a hand-built case, both OOV policies, vocabulary restriction, parity with gensim."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from evaluation import BenchmarkFormatError, BenchmarkSpec, read_analogies, run_suite
from tests.evaluation.conftest import MakeEmbeddings

VECTORS = {
    "man": [1.0, 0.0, 0.0],
    "woman": [1.0, 1.0, 0.0],
    "king": [1.0, 0.0, 1.0],
    "queen": [1.0, 1.0, 1.0],
    "apple": [0.0, 0.0, -1.0],
}
QUESTIONS = """: family
Man Woman King Queen
man woman king apple
man woman king zebra
: gram-plural
woman queen man king
"""
# unit vectors: woman - man + king = (.414, .707, .707): best of {queen, apple} is queen -> q1 right,
# q2 wrong, q3 OOV; queen - woman + man = (.870, -.130, .577): king beats apple -> q4 right.


def _write(tmp_path: Path, text: str = QUESTIONS) -> Path:
    path = tmp_path / "questions.txt"
    path.write_text(text, encoding="utf-8")
    return path


def test_hand_built_analogies_both_policies(tmp_path: Path, make_embeddings: MakeEmbeddings) -> None:
    emb = make_embeddings(VECTORS)
    path = _write(tmp_path)
    skip = run_suite(emb, [BenchmarkSpec("a", "analogy", path)]).benchmark("a")
    assert skip.counts == {"questions": 4, "evaluated": 3, "correct": 2, "oov_questions": 1}
    assert skip.metrics["accuracy"] == pytest.approx(2 / 3)
    assert skip.metrics["semantic_accuracy"] == pytest.approx(1 / 2)
    assert skip.metrics["syntactic_accuracy"] == pytest.approx(1.0)
    assert skip.details["sections"]["family"] == {"accuracy": 0.5, "correct": 1, "evaluated": 2}
    wrong = run_suite(emb, [BenchmarkSpec("a", "analogy", path, {"oov_policy": "wrong"})]).benchmark("a")
    assert wrong.metrics["accuracy"] == pytest.approx(2 / 4)
    assert wrong.details["sections"]["family"]["evaluated"] == 3


def test_restrict_vocab_uses_the_most_frequent_words(tmp_path: Path, make_embeddings: MakeEmbeddings) -> None:
    # queen is the least frequent word: with restrict_vocab=4 it is OOV, so q1 and q4 are skipped and q2
    # (the only candidate left is apple) becomes right
    emb = make_embeddings(VECTORS, counts=[50, 40, 30, 1, 20])
    spec = BenchmarkSpec("a", "analogy", _write(tmp_path), {"restrict_vocab": 4})
    result = run_suite(emb, [spec]).benchmark("a")
    assert result.counts == {"questions": 4, "evaluated": 1, "correct": 1, "oov_questions": 3}
    assert result.details["restrict_vocab"] == 4


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ("man woman king queen\n", 1, "question before the first ': section' line"),
        (": s\nman woman king\n", 2, "expected 4 words"),
        (": s\n:\n", 2, "has no name"),
    ],
)
def test_malformed_analogy_files(tmp_path: Path, text: str, line: int, fragment: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(BenchmarkFormatError) as err:
        read_analogies(path)
    assert err.value.line == line and fragment in str(err.value)


def test_matches_gensim_evaluate_word_analogies_and_pairs(
    tmp_path: Path, make_embeddings: MakeEmbeddings
) -> None:
    gensim_models = pytest.importorskip("gensim.models")
    from gensim.test.utils import datapath

    rng = np.random.default_rng(1)
    vectors: dict[str, np.ndarray] = {}
    relation = rng.normal(size=16)
    # Structured vectors, so many analogies come out right: in each section, b = a + the section's relation.
    for line in Path(datapath("questions-words.txt")).read_text(encoding="utf-8").splitlines():
        if line.startswith(":"):
            relation = rng.normal(size=16)
            continue
        a, b, c, d = line.lower().split()
        for word in (a, c):
            vectors.setdefault(word, rng.normal(size=16))
        vectors.setdefault(b, vectors[a] + relation)
        vectors.setdefault(d, vectors[c] + relation)
    for name in ("wordsim353.tsv", "simlex999.txt"):
        for line in Path(datapath(name)).read_text(encoding="utf-8").splitlines():
            if not line.startswith("#"):
                for word in line.lower().split("\t")[:2]:
                    vectors.setdefault(word, rng.normal(size=16))
    vocab = list(vectors)
    rng.shuffle(vocab)
    vocab = vocab[: int(len(vocab) * 0.8)]  # leave some words out: OOV handling must agree too
    matrix = np.asarray([vectors[w] for w in vocab], dtype=np.float32)
    emb = make_embeddings(dict(zip(vocab, matrix.tolist(), strict=True)))
    kv = gensim_models.KeyedVectors(16)
    kv.add_vectors(vocab, matrix)
    # every 8th question of every section (gensim's evaluation is slow: a most_similar call per question)
    lines = Path(datapath("questions-words.txt")).read_text(encoding="utf-8").splitlines()
    subset = tmp_path / "questions-subset.txt"
    subset.write_text(
        "\n".join(x for i, x in enumerate(lines) if x.startswith(":") or i % 8 == 0), encoding="utf-8"
    )
    for restrict, policy, dummy in ((2000, "skip", False), (30000, "wrong", True)):
        score, _ = kv.evaluate_word_analogies(str(subset), restrict_vocab=restrict, dummy4unknown=dummy)
        spec = BenchmarkSpec("a", "analogy", subset, {"restrict_vocab": restrict, "oov_policy": policy})
        ours = run_suite(emb, [spec]).benchmark("a")
        assert ours.counts["correct"] > 20
        assert ours.metrics["accuracy"] == pytest.approx(score, abs=1e-12)
    for policy, dummy in (("drop", False), ("zero", True)):
        p, s, oov = kv.evaluate_word_pairs(datapath("wordsim353.tsv"), dummy4unknown=dummy)
        res = run_suite(
            emb, [BenchmarkSpec("w", "similarity", "gensim:wordsim353.tsv", {"oov_policy": policy})]
        )
        ours = res.benchmark("w")
        assert ours.metrics["spearman"] == pytest.approx(s.statistic, abs=1e-9)
        assert ours.metrics["pearson"] == pytest.approx(p[0], abs=1e-6)  # gensim computes cosines in float32
        assert 100 * ours.counts["oov_pairs"] / ours.counts["pairs"] == pytest.approx(oov)
