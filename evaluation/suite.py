"""Benchmark suites: named lists of benchmark files with their kinds, run against one embeddings artifact.

    from index.artifacts import load_embeddings
    from evaluation import run_suite, BenchmarkSpec
    result = run_suite(load_embeddings(path), "default")            # built-in suite
    result = run_suite(emb, [BenchmarkSpec("mine", "triplets", "my_triplets.tsv", {"oov_policy": "wrong"})])
    print(result.to_json())

Built-in suites use the word-similarity and analogy files shipped inside the gensim wheel. They are located
with `importlib.util.find_spec` and never import gensim (the serving path stays light); without gensim
installed they raise BenchmarkError saying so. A path `gensim:NAME` in a spec means
that file of gensim's test data.
The same code runs behind the CLI (`python -m evaluation evaluate`) and the service, so numbers agree.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evaluation.datasets import Dataset
from evaluation.errors import BenchmarkError
from evaluation.evaluators import Evaluator, evaluator_for
from evaluation.phrases import PhraseEncoder
from evaluation.results import BenchmarkResult, SuiteResult
from index.artifacts import Embeddings, utc_now

GENSIM_PREFIX = "gensim:"


@dataclass(frozen=True)
class BenchmarkSpec:
    """One benchmark: a file (`path`, or `gensim:NAME`), its kind and options (the kind's `Options` in
    `evaluators.py`)."""

    name: str
    kind: str
    path: str | Path
    options: Mapping[str, Any] = field(default_factory=dict)

    def evaluator(self) -> Evaluator[Any, Any]:
        return evaluator_for(self.kind, name=self.name)

    def typed_options(self) -> Any:
        """The kind's options dataclass, checked against its bounds (BenchmarkError on a bad option)."""
        return self.evaluator().options(self.options, name=self.name, path=self.path)

    def effective_options(self) -> dict[str, Any]:
        """Every option of the kind with its value (defaults filled in), as recorded in the result."""
        return dataclasses.asdict(self.typed_options())

    def resolved_path(self) -> Path:
        text = str(self.path)
        return gensim_test_data(text[len(GENSIM_PREFIX) :]) if text.startswith(GENSIM_PREFIX) else Path(text)


def gensim_test_data(name: str) -> Path:
    """Path of a file in gensim's bundled test data, found without importing gensim."""
    spec = importlib.util.find_spec("gensim")
    if spec is None or not spec.submodule_search_locations:
        raise BenchmarkError(
            f"the built-in benchmark file {name!r} ships inside the gensim wheel, and gensim is not "
            "installed: install it (pip install 'mmwe[train]' or pip install gensim) or run your own "
            "benchmark files"
        )
    for location in spec.submodule_search_locations:
        candidate = Path(location) / "test" / "test_data" / name
        if candidate.is_file():
            return candidate
    raise BenchmarkError(f"gensim is installed but its test data has no file {name!r}")


BUILTIN_SUITES: dict[str, tuple[BenchmarkSpec, ...]] = {
    "default": (
        BenchmarkSpec("ws353", "similarity", "gensim:wordsim353.tsv"),
        BenchmarkSpec("simlex999", "similarity", "gensim:simlex999.txt"),
        BenchmarkSpec("analogy", "analogy", "gensim:questions-words.txt"),
    ),
    "similarity": (
        BenchmarkSpec("ws353", "similarity", "gensim:wordsim353.tsv"),
        BenchmarkSpec("simlex999", "similarity", "gensim:simlex999.txt"),
    ),
}


def load_suite_file(path: Path | str) -> tuple[str, list[BenchmarkSpec]]:
    """A suite JSON file: {"name": ..., "benchmarks": [{"name", "kind", "path", "options"}]}.

    Relative paths are relative to the suite file's folder.
    """
    path = Path(path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise BenchmarkError(f"{path}: suite file not found") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BenchmarkError(f"{path}: not a valid JSON suite file: {exc}") from exc
    if not isinstance(raw, dict) or not isinstance(raw.get("benchmarks"), list):
        raise BenchmarkError(f"{path}: expected an object with a 'benchmarks' list")
    specs: list[BenchmarkSpec] = []
    for i, item in enumerate(raw["benchmarks"]):
        if not isinstance(item, dict) or not {"name", "kind", "path"} <= set(item):
            raise BenchmarkError(f"{path}: benchmarks[{i}] needs 'name', 'kind' and 'path'")
        bench_path = str(item["path"])
        if not bench_path.startswith(GENSIM_PREFIX) and not Path(bench_path).is_absolute():
            bench_path = str(path.parent / bench_path)
        specs.append(
            BenchmarkSpec(str(item["name"]), str(item["kind"]), bench_path, dict(item.get("options", {})))
        )
    return str(raw.get("name", path.stem)), specs


def resolve_suite(suite: str | Sequence[BenchmarkSpec]) -> tuple[str, list[BenchmarkSpec]]:
    """A built-in suite name, a path to a suite JSON file, or a list of specs -> (name, specs)."""
    if isinstance(suite, str):
        if suite in BUILTIN_SUITES:
            return suite, list(BUILTIN_SUITES[suite])
        if suite.endswith(".json") or Path(suite).is_file():
            return load_suite_file(suite)
        raise BenchmarkError(
            f"unknown suite {suite!r}: built-in suites are {sorted(BUILTIN_SUITES)}, or give a .json"
        )
    specs = list(suite)
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise BenchmarkError(f"benchmark names must be unique in a suite, got {names}")
    return "custom", specs


class DatasetCache:
    """Parsed benchmark files, so several embeddings (e.g. `compare`, or a service that keeps one cache alive)
    parse each file once. A file is parsed again when its size or modification time changes. Thread-safe."""

    def __init__(self) -> None:
        self._data: dict[tuple[str, str, str], tuple[tuple[int, int], Dataset]] = {}
        self._lock = threading.Lock()

    def load(self, spec: BenchmarkSpec, options: Any = None) -> Dataset:
        """The parsed file of `spec` (`options`: its typed or effective options; default: the spec's own)."""
        evaluator = spec.evaluator()
        typed = evaluator.options(
            spec.options if options is None else options, name=spec.name, path=spec.path
        )
        path = spec.resolved_path()
        reader_opts = evaluator.reader_options(typed)
        key = (spec.kind, str(path.resolve()), json.dumps(reader_opts, sort_keys=True))
        try:
            stat = path.stat()
            version = (stat.st_size, stat.st_mtime_ns)
        except OSError:
            version = (-1, -1)  # the reader reports the missing file
        with self._lock:
            cached = self._data.get(key)
        if cached is not None and cached[0] == version:
            return cached[1]
        data: Dataset = evaluator.read(path, typed)
        with self._lock:
            self._data[key] = (version, data)
        return data


def run_benchmark(
    embeddings: Embeddings,
    spec: BenchmarkSpec,
    *,
    encoder: PhraseEncoder | None = None,
    datasets: DatasetCache | None = None,
    threads: int = 2,
) -> BenchmarkResult:
    """Evaluate one benchmark; raises BenchmarkError (or BenchmarkFormatError) on bad specs or files."""
    started = time.perf_counter()
    evaluator = spec.evaluator()
    options = spec.typed_options()
    data = (datasets or DatasetCache()).load(spec, options)
    encoder = encoder or PhraseEncoder(embeddings)
    try:
        metrics, counts, details = evaluator(encoder, data, options, threads=threads)
    except ValueError as exc:
        raise BenchmarkError(f"benchmark {spec.name!r}: {exc}") from exc
    return BenchmarkResult(
        name=spec.name,
        kind=spec.kind,
        path=str(data.path),
        sha256=data.sha256,
        options=dataclasses.asdict(options),
        metrics=metrics,
        counts=counts,
        details=details,
        primary_metric=evaluator.primary_metric,
        seconds=round(time.perf_counter() - started, 3),
    )


def run_suite(
    embeddings: Embeddings,
    suite: str | Sequence[BenchmarkSpec] = "default",
    *,
    datasets: DatasetCache | None = None,
    threads: int = 2,
    progress: Callable[[str], None] | None = None,
    name: str | None = None,
) -> SuiteResult:
    """Run every benchmark of `suite` on `embeddings`; `progress(benchmark_name)` is called before each one.

    `name` overrides the suite name recorded in the result (a list of specs is otherwise called "custom").
    """
    started = time.perf_counter()
    suite_name, specs = resolve_suite(suite)
    for spec in specs:
        spec.typed_options()  # fail on a bad spec before any long work
    datasets = datasets or DatasetCache()
    encoder = PhraseEncoder(embeddings)
    results: list[BenchmarkResult] = []
    for spec in specs:
        if progress is not None:
            progress(spec.name)
        results.append(run_benchmark(embeddings, spec, encoder=encoder, datasets=datasets, threads=threads))
    return SuiteResult(
        suite=name or suite_name,
        embeddings_path=str(embeddings.path) if embeddings.path is not None else None,
        embeddings_manifest=dict(embeddings.manifest),
        benchmarks=results,
        created_at=utc_now(),
        seconds=round(time.perf_counter() - started, 3),
    )
