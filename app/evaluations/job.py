"""The work of one evaluation run (`python -m app.evaluations.worker RUN_ID` runs `run_job`).

Reads the run and its embeddings artifact from the database (DATABASE_URL), runs
`evaluation.run_suite` on the embeddings, stores one `EvaluationResult` per benchmark and marks the run
succeeded, or failed with the error.

Baseline: when the embeddings were trained from another artifact (`python -m training train
--init-embeddings`, recorded as `training.init.path` in their manifest, e.g. the demo's Model A started
from word2vec) and that artifact is still on disk, the same benchmarks are run on it too and each result
carries it under `baseline` (its model kind, path and metrics), so one evaluation shows what training on top
of the init added.
"""

from __future__ import annotations

import sys
import traceback
from pathlib import Path
from typing import Any

from app.db.models import EvaluationRun, RunStatus
from app.db.session import make_engine, make_sessionmaker
from app.evaluations import store
from app.settings import Settings
from evaluation import BenchmarkSpec, SuiteResult, run_suite
from index.artifacts import Embeddings, load_embeddings
from index.errors import MmweError


def result_rows(result: SuiteResult, baseline: dict[str, Any] | None = None) -> list[store.ResultRow]:
    """One row per benchmark; `metrics` keeps the whole benchmark result (metrics, counts, options, ...).

    `baseline` ({"model_kind", "path", "result": SuiteResult}) adds that artifact's result of the same
    benchmark to each row under `baseline`."""
    others = {b.name: b for b in baseline["result"].benchmarks} if baseline else {}
    rows = []
    for b in result.benchmarks:
        payload = {k: v for k, v in b.to_dict().items() if k not in ("name", "kind", "sha256")}
        if baseline and b.name in others:
            base = others[b.name].to_dict()
            payload["baseline"] = {
                "model_kind": baseline["model_kind"],
                "path": baseline["path"],
                "metrics": base["metrics"],
                "counts": base["counts"],
            }
        rows.append(store.ResultRow(benchmark=b.name, kind=b.kind, metrics=payload, dataset_sha256=b.sha256))
    return rows


def init_artifact(embeddings: Embeddings) -> Embeddings | None:
    """The artifact these embeddings were initialised from (`training.init.path`), if it still loads: at
    the recorded path, or beside the embeddings under the same name (artifacts moved together, e.g. a data
    directory mounted elsewhere in a container)."""
    init = (embeddings.manifest.get("training") or {}).get("init") or {}
    path = init.get("path") if isinstance(init, dict) else None
    if not path:
        return None
    candidates = [Path(path)]
    if embeddings.path is not None:
        candidates.append(embeddings.path.parent / Path(path).name)
    for candidate in candidates:
        try:
            return load_embeddings(candidate)
        except MmweError:
            continue
    return None  # moved or deleted since training: evaluate the served embeddings alone


def evaluate(embeddings_path: Path, request: dict[str, Any]) -> list[store.ResultRow]:
    """Run the requested suite or benchmark list on an embeddings artifact (`run_suite`, as the CLI)."""
    embeddings = load_embeddings(embeddings_path)
    suite: str | list[BenchmarkSpec]
    if request.get("benchmarks") is not None:  # a list, or a suite pinned with its click benchmarks
        suite = [BenchmarkSpec(**spec) for spec in request["benchmarks"]]
    else:
        suite = str(request["suite"])
    name = request.get("suite")
    result = run_suite(embeddings, suite, threads=1, name=name)
    init = init_artifact(embeddings)
    if init is None:
        return result_rows(result)
    baseline = {
        "model_kind": init.manifest.get("model_kind"),
        "path": str(init.path),
        "result": run_suite(init, suite, threads=1, name=name),
    }
    return result_rows(result, baseline)


def run_job(run_id: int) -> int:
    """Evaluate run `run_id` (claimed: running) and store its outcome: 0 when finished here or not claimed,
    2 when there is no such run."""
    engine = make_engine(Settings().resolved_database_url)
    factory = make_sessionmaker(engine)
    try:
        with factory() as session:
            run = session.get(EvaluationRun, run_id)
            if run is None:
                print(f"evaluation run {run_id} not found", file=sys.stderr)
                return 2
            if run.status is not RunStatus.running:
                return 0  # not claimed, or already finished (e.g. failed as interrupted)
            if run.artifact is None:
                store.finish_failed(session, run.id, "the run has no embeddings artifact")
                return 0
            path, request = Path(run.artifact.path), dict(run.request)
        try:
            rows = evaluate(path, request)
        except Exception as exc:
            traceback.print_exc()
            with factory() as session:
                store.finish_failed(session, run_id, f"{type(exc).__name__}: {exc}")
            return 0
        with factory() as session:
            store.finish_succeeded(session, run_id, rows)
        return 0
    finally:
        engine.dispose()
