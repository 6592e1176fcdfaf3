"""Evaluating embeddings trained from another artifact (`--init-embeddings`) also scores that artifact."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from app.evaluations.job import evaluate
from app.schemas import BenchmarkResultOut
from evaluation import BenchmarkSpec, run_suite
from index.artifacts import load_embeddings, write_embeddings

WORDS = ["dog", "puppy", "pizza", "cat", "kitten", "river", "red", "blue"]


def write(path: Path, seed: int, training: dict[str, object]) -> Path:
    vectors = np.random.default_rng(seed).normal(size=(len(WORDS), 4)).astype(np.float32)
    meta = {"path": "c", "name": "c", "num_sentences": 0, "num_tokens": 0}
    write_embeddings(
        path, WORDS, [1] * len(WORDS), vectors, model_kind="a" if training else "word2vec",
        corpus=meta, training=training, metrics={}, seed=seed,
    )  # fmt: skip
    return path


def benchmarks(tmp_path: Path) -> list[dict[str, object]]:
    pairs = tmp_path / "pairs.tsv"
    pairs.write_text("dog\tpuppy\t9\ndog\tpizza\t1\ncat\tkitten\t8\nred\tblue\t6\ncat\triver\t0.5\n")
    triplets = tmp_path / "t.tsv"
    triplets.write_text("base\tpositive\tnegative\ndog\tpuppy\tpizza\ncat\tkitten\triver\n")
    return [
        {"name": "pairs", "kind": "similarity", "path": str(pairs)},
        {"name": "trip", "kind": "triplets", "path": str(triplets), "options": {"bootstrap": 10}},
    ]


def test_results_carry_the_init_artifacts_numbers(tmp_path: Path) -> None:
    w2v = write(tmp_path / "w2v", 1, {})
    model = write(tmp_path / "a", 2, {"init": {"path": str(w2v), "matched": 8, "missing": 0, "scale": 1.0}})
    specs = benchmarks(tmp_path)
    rows = evaluate(model, {"benchmarks": specs})
    expect_model = run_suite(load_embeddings(model), [BenchmarkSpec(**s) for s in specs])  # type: ignore[arg-type]
    expect_init = run_suite(load_embeddings(w2v), [BenchmarkSpec(**s) for s in specs])  # type: ignore[arg-type]
    for row, mine, base in zip(rows, expect_model.benchmarks, expect_init.benchmarks, strict=True):
        assert row.metrics["metrics"] == mine.metrics
        baseline = row.metrics["baseline"]
        assert baseline["model_kind"] == "word2vec" and baseline["path"] == str(w2v)
        assert baseline["metrics"] == base.metrics and baseline["counts"] == base.counts
        out = BenchmarkResultOut.model_validate({**row.metrics, "benchmark": row.benchmark, "kind": row.kind,
                                                 "dataset_sha256": row.dataset_sha256})  # fmt: skip
        assert out.baseline is not None and out.baseline["metrics"] == base.metrics
    assert rows[0].metrics["metrics"] != rows[0].metrics["baseline"]["metrics"]  # two artifacts, two results


def test_no_baseline_without_init_or_when_it_is_gone(tmp_path: Path) -> None:
    specs = benchmarks(tmp_path)
    plain = write(tmp_path / "plain", 1, {})
    assert all("baseline" not in r.metrics for r in evaluate(plain, {"benchmarks": specs}))
    gone = write(tmp_path / "a", 2, {"init": {"path": str(tmp_path / "deleted")}})
    assert all("baseline" not in r.metrics for r in evaluate(gone, {"benchmarks": specs}))


def test_the_init_artifact_is_found_beside_the_embeddings_when_both_moved(tmp_path: Path) -> None:
    specs = benchmarks(tmp_path)
    write(tmp_path / "moved" / "w2v", 1, {})
    recorded = str(tmp_path / "elsewhere" / "w2v")  # where it was when the model was trained
    model = write(tmp_path / "moved" / "a", 2, {"init": {"path": recorded, "matched": 8, "missing": 0}})
    rows = evaluate(model, {"benchmarks": specs})
    assert all(r.metrics["baseline"]["path"] == str(tmp_path / "moved" / "w2v") for r in rows)
