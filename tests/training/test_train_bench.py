"""bench/train_bench.py's real-loop benchmark on a small prepared corpus: what it counts and reports."""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path
from types import ModuleType

import numpy as np

from tests.training.corpus_helpers import write_corpus, write_features

WORDS = [f"w{i}" for i in range(30)]


def load_bench() -> ModuleType:
    path = Path(__file__).resolve().parents[2] / "bench" / "train_bench.py"
    spec = importlib.util.spec_from_file_location("train_bench", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_real_loop_reports_both_softmaxes_counts_and_the_ratio_to_the_synthetic_step(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    lengths = [3, 5, 8] * 20  # 60 sentences of 3, 5 or 8 words: tokens 4, 6, 9 with <eos>
    sentences = [([WORDS[int(i)] for i in rng.integers(0, 30, n)], int(rng.integers(0, 6))) for n in lengths]
    ids = [f"img{i}" for i in range(6)]
    corpus = write_corpus(tmp_path / "corpus", {"train": sentences, "val": sentences[:10]}, ids)
    features = write_features(tmp_path / "features", ids, rng.normal(size=(6, 4)))
    bench = load_bench()
    args = argparse.Namespace(
        corpus=str(corpus),
        features=str(features),
        embed_dim=8,
        hidden_dim=16,
        negatives=8,
        batch_size=16,
        threads=1,
        real_steps=2,
        real_repeats=3,
        real_warmup=1,
    )
    synthetic = {"a": {"tokens_per_s_median": 1000, "tokens_per_cpu_s_x_threads_median": 2000}}
    out = bench.bench_real(args, synthetic, gflops=10.0)
    counts = out["corpus"]
    assert counts["train_sentences"] == 60 and counts["train_tokens_per_epoch"] == 20 * (4 + 6 + 9)
    assert counts["steps_per_epoch"] == 4  # 60 sentences in batches of 16
    assert 0 <= counts["padding_fraction"] < 0.5
    v = counts["vocab"]
    assert counts["flops_per_token"]["full"] - counts["flops_per_token"]["sampled"] == 6 * 8 * (v - 8)
    assert [r["softmax"] for r in out["results"]] == ["full", "sampled"]
    for r in out["results"]:
        assert r["blocks"] == 3 and len(r["tokens_per_s_blocks"]) == 3
        assert r["tokens_per_s_median"] > 0 and r["tokens_per_cpu_s_median"] > 0
        assert r["ratio_to_synthetic_step"] == round(r["tokens_per_s_median"] / 1000, 2)
        assert 0 < r["validation_share_of_epoch_cpu"] < 1
    assert out["validation"]["tokens"] == sum(len(s) + 1 for s, _ in sentences[:10])


def test_real_loop_is_skipped_without_a_corpus(tmp_path: Path) -> None:
    bench = load_bench()
    args = argparse.Namespace(corpus=str(tmp_path / "missing"), features=None)
    assert bench.bench_real(args, {}, gflops=10.0) is None
