"""The work of one evaluation run (`python -m app.evaluations.worker RUN_ID` runs `run_job`).

Reads the run and its embeddings artifact from the database (DATABASE_URL), runs
`index.evaluation.run_suite` on the embeddings, stores one `EvaluationResult` per benchmark and marks the run
succeeded, or failed with the error.
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
from index.artifacts import load_embeddings
from index.evaluation import BenchmarkSpec, SuiteResult, run_suite


def result_rows(result: SuiteResult) -> list[store.ResultRow]:
    """One row per benchmark; `metrics` keeps the whole benchmark result (metrics, counts, options, ...)."""
    rows = []
    for b in result.benchmarks:
        payload = {k: v for k, v in b.to_dict().items() if k not in ("name", "kind", "sha256")}
        rows.append(store.ResultRow(benchmark=b.name, kind=b.kind, metrics=payload, dataset_sha256=b.sha256))
    return rows


def evaluate(embeddings_path: Path, request: dict[str, Any]) -> list[store.ResultRow]:
    """Run the requested suite or benchmark list on an embeddings artifact (`run_suite`, as the CLI)."""
    embeddings = load_embeddings(embeddings_path)
    suite: str | list[BenchmarkSpec]
    if request.get("suite") is not None:
        suite = str(request["suite"])
    else:
        suite = [BenchmarkSpec(**spec) for spec in request["benchmarks"]]
    return result_rows(run_suite(embeddings, suite, threads=1))


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
