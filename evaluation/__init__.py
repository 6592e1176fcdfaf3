"""Evaluation library (torch-free, no scipy, no gensim import): triplet accuracy (the paper's metric), graded
word/phrase similarity, word analogies, suites, comparison tables and a triplet-benchmark builder.

    from index.artifacts import load_embeddings
    from evaluation import run_suite, BUILTIN_SUITES, BenchmarkSpec
    result = run_suite(load_embeddings("runs/a/embeddings"), "default")
    result.to_json()

CLI: `python -m evaluation evaluate|compare|build-triplets --help`. Formats and metrics: docs/evaluation.md.
"""

from evaluation.compare import ComparisonTable, build_table, render_table
from evaluation.datasets import AnalogySet, PairSet, TripletSet
from evaluation.errors import BenchmarkError, BenchmarkFormatError
from evaluation.phrases import PhraseEncoder
from evaluation.readers import (
    read_analogies,
    read_pairs_csv,
    read_pairs_tsv,
    read_triplets,
)
from evaluation.results import BenchmarkResult, SuiteResult
from evaluation.suite import (
    BUILTIN_SUITES,
    BenchmarkSpec,
    DatasetCache,
    load_suite_file,
    resolve_suite,
    run_benchmark,
    run_suite,
)

__all__ = [
    "BUILTIN_SUITES",
    "AnalogySet",
    "BenchmarkError",
    "BenchmarkFormatError",
    "BenchmarkResult",
    "BenchmarkSpec",
    "ComparisonTable",
    "DatasetCache",
    "PairSet",
    "PhraseEncoder",
    "SuiteResult",
    "TripletSet",
    "build_table",
    "load_suite_file",
    "read_analogies",
    "read_pairs_csv",
    "read_pairs_tsv",
    "read_triplets",
    "render_table",
    "resolve_suite",
    "run_benchmark",
    "run_suite",
]
