"""Click benchmarks: `POST /v1/admin/benchmarks` (admin) builds one from feedback, `GET /v1/benchmarks`
lists them. A benchmark's name is then a suite of `POST /v1/admin/evaluations`, and the `default` suite
includes the newest one (app/feedback/benchmarks.py)."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Query, Request, status
from sqlalchemy.orm import Session

from app.deps import AdminDep, DatabaseDep, SettingsDep
from app.feedback import benchmarks
from app.routes.evaluations import ADMIN_ERRORS
from app.schemas_feedback import BenchmarkList, BenchmarkOut, BenchmarkRequest
from app.security import is_admin

router = APIRouter(tags=["benchmarks"])


@router.post(
    "/v1/admin/benchmarks",
    status_code=status.HTTP_201_CREATED,
    response_model=BenchmarkOut,
    summary="Build a triplet benchmark from the feedback (the paper's click rule)",
    responses={
        **ADMIN_ERRORS,
        409: {"description": "Too little feedback in the window to build any triplet; `detail` has counts."},
        422: {"description": "Bad body, or a name taken by a built-in suite or benchmark."},
        503: {"description": "The database is unavailable, or the file cannot be written."},
    },
)
async def build_benchmark(
    _admin: AdminDep, db: DatabaseDep, settings: SettingsDep, body: BenchmarkRequest
) -> BenchmarkOut:
    """Reads the feedback created in [since, until), builds triplets like `python -m evaluation
    build-triplets clicks --database` (same seed, same file), writes
    MMWE_DATA_DIR/benchmarks/<name>-<time>.tsv atomically and records it with its checksum. Then
    `{"suite": "<name>"}` evaluates on it, and `{"suite": "default"}` includes the newest click benchmark."""
    benchmarks.check_name(body.name)
    now = benchmarks.utc_now()
    built = await asyncio.to_thread(benchmarks.build_file, db, settings.data_dir, body, now)
    try:
        row = await db.run(lambda s: benchmarks.record(s, settings.data_dir, body, built, now))
    except BaseException:
        built.path.unlink(missing_ok=True)  # no file without its record
        raise
    return BenchmarkOut.model_validate(row).model_copy(update={"path": row.path})


@router.get("/v1/benchmarks", response_model=BenchmarkList, summary="Click benchmarks, newest first")
async def list_benchmarks(
    request: Request,
    db: DatabaseDep,
    limit: Annotated[int, Query(ge=1, le=100, description="How many.")] = 100,
) -> BenchmarkList:
    """Name, rows, source window, checksum and time of each; the file path needs the admin token."""
    admin = is_admin(request)

    def listing(session: Session) -> BenchmarkList:
        rows = benchmarks.list_benchmarks(session, limit)
        return BenchmarkList(
            items=[
                BenchmarkOut.model_validate(r).model_copy(update={"path": r.path if admin else None})
                for r in rows
            ]
        )

    return await db.run(listing)
