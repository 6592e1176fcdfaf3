"""One evaluation run, in its own process: `python -m app.evaluations.worker RUN_ID [--nice N]`.

Started by the service (app.evaluations.runner); reads the run and its embeddings artifact from the database
(DATABASE_URL), runs `index.evaluation.run_suite` on the embeddings, stores one `EvaluationResult` per
benchmark and marks the run succeeded, or failed with the error. Exit status 0 when the run was finished here.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import traceback
from pathlib import Path
from typing import Any

from app.db.models import EvaluationRun
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


def lower_priority(nice: int) -> None:
    """Run only on CPU time that query traffic leaves idle (SCHED_IDLE where the OS has it), and niced."""
    if hasattr(os, "sched_setscheduler") and hasattr(os, "SCHED_IDLE"):
        with contextlib.suppress(OSError):  # not permitted in some containers: niceness still applies
            os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    if nice:
        os.nice(nice)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m app.evaluations.worker", description=__doc__)
    parser.add_argument("run_id", type=int, help="id of a queued evaluation run")
    parser.add_argument("--nice", type=int, default=19, help="niceness increment for this process")
    args = parser.parse_args(argv)
    lower_priority(args.nice)
    engine = make_engine(Settings().resolved_database_url)
    factory = make_sessionmaker(engine)
    try:
        with factory() as session:
            run = session.get(EvaluationRun, args.run_id)
            if run is None:
                print(f"evaluation run {args.run_id} not found", file=sys.stderr)
                return 2
            if run.artifact is None:
                store.finish_failed(session, run.id, "the run has no embeddings artifact")
                return 0
            path, request = Path(run.artifact.path), dict(run.request)
            if not store.mark_running(session, run.id):
                return 0  # already finished (e.g. failed by a restart)
        try:
            rows = evaluate(path, request)
        except Exception as exc:
            traceback.print_exc()
            with factory() as session:
                store.finish_failed(session, args.run_id, f"{type(exc).__name__}: {exc}")
            return 0
        with factory() as session:
            store.finish_succeeded(session, args.run_id, rows)
        return 0
    finally:
        engine.dispose()


if __name__ == "__main__":
    sys.exit(main())
