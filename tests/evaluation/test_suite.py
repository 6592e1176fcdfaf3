"""Suites: the built-in suite on gensim's shipped files (without importing gensim), custom specs, suite files,
JSON results."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from evaluation import (
    BUILTIN_SUITES,
    BenchmarkError,
    BenchmarkSpec,
    SuiteResult,
    load_suite_file,
    run_suite,
)
from evaluation import suite as suite_module
from tests.evaluation.conftest import TOY, MakeEmbeddings

ROOT = Path(__file__).resolve().parents[3]


def test_default_suite_runs_without_importing_gensim(tmp_path: Path, make_embeddings: MakeEmbeddings) -> None:
    pytest.importorskip("gensim")  # the files ship inside the gensim wheel
    emb = make_embeddings(
        {"tiger": [1, 0], "cat": [0.9, 0.1], "king": [0, 1], "queen": [0.1, 1], "man": [1, 1]}
    )
    script = (
        "import sys, json\n"
        "from index.artifacts import load_embeddings\n"
        "from evaluation import run_suite\n"
        f"r = run_suite(load_embeddings({str(emb.path)!r}), 'default')\n"
        "print(json.dumps({'gensim': 'gensim' in sys.modules, 'torch': 'torch' in sys.modules,\n"
        "                  'scipy': 'scipy' in sys.modules, 'result': r.to_dict()}))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True)
    report = json.loads(out.stdout)
    assert report["gensim"] is False and report["torch"] is False and report["scipy"] is False
    result = SuiteResult.from_dict(report["result"])
    assert [b.name for b in result.benchmarks] == ["ws353", "simlex999", "analogy"]
    ws = result.benchmark("ws353")
    assert ws.counts["pairs"] == 353 and ws.counts["evaluated"] == 3  # tiger/cat, tiger/tiger, king/queen
    assert result.benchmark("simlex999").counts["pairs"] == 999
    assert result.benchmark("analogy").counts["questions"] == 19544
    assert result.embeddings_manifest["format"] == "mmwe.embeddings"
    assert all(len(b.sha256) == 64 for b in result.benchmarks)
    # same numbers in-process (the CLI and the service call this same function)
    again = run_suite(emb, "default")
    assert [b.metrics for b in again.benchmarks] == [b.metrics for b in result.benchmarks]


def test_missing_gensim_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, make_embeddings: MakeEmbeddings
) -> None:
    monkeypatch.setattr(suite_module.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(BenchmarkError, match="gensim is not installed"):
        run_suite(make_embeddings(TOY), "default")


def test_result_json_round_trip(tmp_path: Path, make_embeddings: MakeEmbeddings) -> None:
    path = tmp_path / "t.tsv"
    path.write_text("cat\tdog\tcar\ncat\tdog\tzebra\n", encoding="utf-8")
    result = run_suite(make_embeddings(TOY), [BenchmarkSpec("t", "triplets", path)], name="mine")
    assert result.suite == "mine"
    raw = json.loads(result.to_json())
    assert raw["format"] == "mmwe.evaluation" and raw["benchmarks"][0]["counts"]["oov_triplets"] == 1
    back = SuiteResult.from_dict(raw)
    assert back == result
    assert back.benchmark("t").primary == 1.0
    with pytest.raises(KeyError):
        back.benchmark("nope")
    with pytest.raises(ValueError, match="newer"):
        SuiteResult.from_dict({**raw, "version": 99})


def test_suite_file_with_relative_paths(tmp_path: Path, make_embeddings: MakeEmbeddings) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "t.tsv").write_text("cat\tdog\tcar\n", encoding="utf-8")
    (tmp_path / "data" / "p.csv").write_text("word1,word2,score\ncat,dog,8\ncat,car,1\n", encoding="utf-8")
    suite_path = tmp_path / "suite.json"
    suite_path.write_text(
        json.dumps(
            {
                "name": "shop",
                "benchmarks": [
                    {
                        "name": "clicks",
                        "kind": "triplets",
                        "path": "data/t.tsv",
                        "options": {"oov_policy": "wrong"},
                    },
                    {"name": "pairs", "kind": "similarity", "path": "data/p.csv"},
                ],
            }
        ),
        encoding="utf-8",
    )
    name, specs = load_suite_file(suite_path)
    assert name == "shop" and Path(specs[0].path) == tmp_path / "data" / "t.tsv"
    result = run_suite(make_embeddings(TOY), str(suite_path))
    assert result.suite == "shop"
    assert result.benchmark("clicks").metrics["accuracy"] == 1.0
    assert result.benchmark("pairs").metrics["spearman"] == pytest.approx(1.0)


def test_bad_suites_fail_before_any_work(tmp_path: Path, make_embeddings: MakeEmbeddings) -> None:
    emb = make_embeddings(TOY)
    with pytest.raises(BenchmarkError, match="unknown suite"):
        run_suite(emb, "nope")
    with pytest.raises(BenchmarkError, match="unknown kind"):
        run_suite(emb, [BenchmarkSpec("x", "ranking", tmp_path / "x")])
    with pytest.raises(BenchmarkError, match="unique"):
        run_suite(emb, [BenchmarkSpec("x", "triplets", "a"), BenchmarkSpec("x", "triplets", "b")])
    with pytest.raises(BenchmarkError, match="restrict_vocab must be an integer >= 1"):
        run_suite(emb, [BenchmarkSpec("x", "analogy", "a", {"restrict_vocab": 0})])
    bad = tmp_path / "suite.json"
    bad.write_text('{"benchmarks": [{"name": "x"}]}', encoding="utf-8")
    with pytest.raises(BenchmarkError, match="needs 'name', 'kind' and 'path'"):
        run_suite(emb, str(bad))
    assert set(BUILTIN_SUITES) >= {"default", "similarity"}


def test_dataset_cache_parses_once_and_notices_changes(
    tmp_path: Path, make_embeddings: MakeEmbeddings
) -> None:
    from evaluation import DatasetCache

    path = tmp_path / "t.tsv"
    path.write_text("cat\tdog\tcar\n", encoding="utf-8")
    cache = DatasetCache()
    spec = BenchmarkSpec("t", "triplets", path)
    first = cache.load(spec, spec.effective_options())
    assert cache.load(spec, spec.effective_options()) is first
    path.write_text("cat\tcar\tdog\ncat\tdog\tcar\n", encoding="utf-8")
    assert len(cache.load(spec, spec.effective_options())) == 2
    result = run_suite(make_embeddings(TOY), [spec], datasets=cache)
    assert result.benchmark("t").metrics["accuracy"] == 0.5
