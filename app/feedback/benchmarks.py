"""Click benchmarks: the paper's triplet rule on the feedback table, a file under MMWE_DATA_DIR, a row in
`click_benchmarks`; and the suites that run them.

`build` reads the feedback of a time window with `evaluation.feedback_db` (the code behind
`python -m evaluation build-triplets clicks --database`), builds triplets with
`evaluation.builder.triplets_from_clicks` (deterministic for a seed), writes
DATA_DIR/benchmarks/<name>-<UTC time>.tsv atomically and records it. `suite_clicks` says which click
benchmarks a suite of `POST /v1/admin/evaluations` runs: a benchmark's name is a suite of its newest file,
and the `default` suite adds the newest click benchmark of any name.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db.access import Database
from app.db.models import ClickBenchmark
from app.errors import Conflict, ServiceUnavailable, Unprocessable
from app.schemas_feedback import BenchmarkRequest
from evaluation import BUILTIN_SUITES, BenchmarkSpec
from evaluation.builder import ClickConfig, triplets_from_clicks, write_triplets
from evaluation.feedback_db import click_log, feedback_rows
from index.artifacts import sha256_file

BENCHMARK_DIR = "benchmarks"
RESERVED = {*BUILTIN_SUITES, *(spec.name for specs in BUILTIN_SUITES.values() for spec in specs)}


@dataclass(frozen=True)
class Built:
    path: Path  # absolute
    rows: int
    records: int
    sha256: str
    stats: dict[str, Any]


def check_name(name: str) -> None:
    if name in RESERVED:
        raise Unprocessable(
            f"benchmark name {name!r} is taken by a built-in suite or benchmark",
            detail={"reserved": sorted(RESERVED)},
        )


def build_file(database: Database, data_dir: Path, body: BenchmarkRequest, now: datetime) -> Built:
    """Read the window's feedback, build the triplets and write the file (nothing is written when no
    triplet comes out: 409 with the builder's statistics)."""
    log, records = database.call(
        lambda session: click_log(feedback_rows(session.connection(), body.since, body.until))
    )
    config = ClickConfig(
        top_k=body.top_k, min_clicks=body.min_clicks, min_impressions=body.min_impressions, seed=body.seed
    )
    triplets, stats = triplets_from_clicks(log, config)
    if not triplets:
        raise Conflict(
            f"too little feedback to build a benchmark: {records} feedback records in the window gave no "
            "triplet (a triplet needs a query with a clicked phrase that shares no stemmed word with it, and "
            "another shown phrase as its negative)",
            detail={"feedback_records": records, **stats.to_dict()},
        )
    root = data_dir.resolve()
    path = root / BENCHMARK_DIR / f"{body.name}-{now.strftime('%Y%m%dT%H%M%S%fZ')}.tsv"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_triplets(path, triplets)
        sha = sha256_file(path)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise ServiceUnavailable(f"cannot write the benchmark under MMWE_DATA_DIR: {reason}") from exc
    return Built(path=path, rows=len(triplets), records=records, sha256=sha, stats=stats.to_dict())


def record(
    session: Session, data_dir: Path, body: BenchmarkRequest, built: Built, now: datetime
) -> ClickBenchmark:
    row = ClickBenchmark(
        name=body.name,
        path=built.path.relative_to(data_dir.resolve()).as_posix(),
        rows=built.rows,
        feedback_records=built.records,
        since=body.since,
        until=body.until,
        min_impressions=body.min_impressions,
        seed=body.seed,
        sha256=built.sha256,
        stats=built.stats,
        created_at=now,
    )
    session.add(row)
    session.commit()
    return row


def utc_now() -> datetime:
    return datetime.now(UTC)


def newest(session: Session, name: str | None = None) -> ClickBenchmark | None:
    """The newest click benchmark (of `name`, if given)."""
    stmt = select(ClickBenchmark).order_by(ClickBenchmark.id.desc()).limit(1)
    if name is not None:
        stmt = stmt.where(ClickBenchmark.name == name)
    return session.scalar(stmt)


def list_benchmarks(session: Session, limit: int = 100) -> Sequence[ClickBenchmark]:
    return session.scalars(select(ClickBenchmark).order_by(ClickBenchmark.id.desc()).limit(limit)).all()


def spec_of(bench: ClickBenchmark, data_dir: Path) -> BenchmarkSpec:
    """The triplet benchmark spec of a recorded click benchmark (its file, by absolute path)."""
    return BenchmarkSpec(bench.name, "triplets", str(data_dir.resolve() / bench.path))


def suite_clicks(session: Session, data_dir: Path, suite: str) -> list[BenchmarkSpec] | None:
    """The click benchmarks suite `suite` runs (besides a built-in suite's own benchmarks): `default` ->
    the newest click benchmark, if any; another built-in suite -> none; a click benchmark's name -> its
    newest file; anything else -> None (no such suite)."""
    if suite == "default":
        bench = newest(session)
        return [spec_of(bench, data_dir)] if bench is not None else []
    if suite in BUILTIN_SUITES:
        return []
    bench = newest(session, suite)
    return [spec_of(bench, data_dir)] if bench is not None else None


def suite_names(session: Session) -> list[str]:
    """Every suite name `POST /v1/admin/evaluations` accepts: built-in ones and click benchmark names."""
    names = session.scalars(select(ClickBenchmark.name).distinct()).all()
    return sorted({*BUILTIN_SUITES, *names})
