"""The evaluator registry: one class per kind, options checked against their bounds, the API schema."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import pytest

from evaluation import BenchmarkError, BenchmarkSpec, run_suite
from evaluation.evaluators import (
    EVALUATORS,
    MAX_BOOTSTRAP,
    AnalogyOptions,
    SimilarityOptions,
    TripletOptions,
    benchmark_spec_json_schema,
    evaluator_for,
)
from tests.evaluation.conftest import TOY, MakeEmbeddings


def test_registry_has_one_evaluator_per_kind() -> None:
    assert {k: (e.primary_metric, e.Options) for k, e in EVALUATORS.items()} == {
        "triplets": ("accuracy", TripletOptions),
        "similarity": ("spearman", SimilarityOptions),
        "analogy": ("accuracy", AnalogyOptions),
    }
    with pytest.raises(BenchmarkError, match="benchmark 'x': unknown kind 'ranking'"):
        evaluator_for("ranking", name="x")


@pytest.mark.parametrize(
    ("kind", "options", "message"),
    [
        ("triplets", {"bootstrap": MAX_BOOTSTRAP + 1}, "bootstrap must be an integer >= 0 and <= 100000"),
        ("triplets", {"bootstrap": -1}, "bootstrap must be an integer >= 0"),
        ("triplets", {"bootstrap": True}, "bootstrap must be an integer"),
        ("triplets", {"bootstrap": 1.5}, "bootstrap must be an integer"),
        ("triplets", {"seed": 2**40}, "seed must be an integer >= 0 and <= 4294967295"),
        ("triplets", {"oov_policy": "drop"}, r"oov_policy must be one of \('skip', 'wrong'\)"),
        ("analogy", {"restrict_vocab": 10**9}, "restrict_vocab must be an integer >= 1 and <= 10000000"),
        ("similarity", {"format": "xml"}, "format must be one of"),
        ("similarity", {"word1": ""}, "word1 must be a non-empty string of at most 256"),
        ("similarity", {"format": "csv", "delimiter": "::"}, "a csv delimiter is one character"),
        ("similarity", {"bootstrap": 10}, r"unknown option\(s\) \['bootstrap'\] for kind 'similarity'"),
    ],
)
def test_options_out_of_bounds_are_refused(kind: str, options: dict[str, Any], message: str) -> None:
    with pytest.raises(BenchmarkError, match=message):
        BenchmarkSpec("x", kind, "file.tsv", options).effective_options()


def test_effective_options_fill_defaults_and_resolve_the_format() -> None:
    assert BenchmarkSpec("x", "triplets", "t.tsv").effective_options() == {
        "oov_policy": "skip",
        "bootstrap": 1000,
        "seed": 0,
    }
    csv = BenchmarkSpec("x", "similarity", "pairs.CSV").effective_options()
    assert (csv["format"], csv["delimiter"]) == ("csv", ",")
    assert BenchmarkSpec("x", "similarity", "p.txt").effective_options()["delimiter"] == "\t"


def test_evaluator_called_directly_equals_run_suite(tmp_path: Path, make_embeddings: MakeEmbeddings) -> None:
    from evaluation import PhraseEncoder

    path = tmp_path / "t.tsv"
    path.write_text("cat\tdog\tcar\ncat\tcar\tdog\n", encoding="utf-8")
    emb = make_embeddings(TOY)
    ev = evaluator_for("triplets")
    options = ev.options({"bootstrap": 10}, name="t", path=path)
    metrics, counts, details = ev(PhraseEncoder(emb), ev.read(path, options), options)
    result = run_suite(emb, [BenchmarkSpec("t", "triplets", path, {"bootstrap": 10})]).benchmark("t")
    assert (metrics, counts, details) == (result.metrics, result.counts, result.details)


def test_the_spec_schema_accepts_what_the_registry_accepts() -> None:
    schema = benchmark_spec_json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    assert validator.is_valid({"kind": "triplets", "options": {"bootstrap": MAX_BOOTSTRAP}})
    assert validator.is_valid({"kind": "similarity", "options": {"format": None, "word1": "a"}})
    assert not validator.is_valid({"kind": "triplets", "options": {"bootstrap": MAX_BOOTSTRAP + 1}})
    assert not validator.is_valid({"kind": "analogy", "options": {"format": "csv"}})
    assert not validator.is_valid({"kind": "ranking"})
