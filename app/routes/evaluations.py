"""Evaluation runs: `POST /v1/admin/evaluations` (admin) queues one, `GET /v1/evaluations[/{id}]` shows."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, status
from sqlalchemy.orm import Session

from app.db.models import EvaluationRun
from app.deps import AdminDep, DatabaseDep, SearcherDep, SettingsDep
from app.errors import NotFound, Unprocessable
from app.evaluations import store
from app.feedback import benchmarks
from app.schemas import EvaluationAccepted, EvaluationPage, EvaluationRequest, EvaluationRunOut
from app.security import PathNotAllowed, benchmark_roots, confine, is_admin, public_run
from app.settings import Settings
from evaluation import BUILTIN_SUITES, BenchmarkError, BenchmarkSpec
from evaluation.suite import GENSIM_PREFIX

router = APIRouter(tags=["evaluations"])

ADMIN_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "No bearer token."},
    403: {"description": "Wrong token, admin disabled (MMWE_ADMIN_TOKEN unset), or a path not allowed."},
}


def check_gensim_name(given: str) -> None:
    """`gensim:NAME` (what the built-in suites use) may name a file of gensim's test data, not a path."""
    if given.startswith(GENSIM_PREFIX):
        name = given[len(GENSIM_PREFIX) :]
        if "/" in name or "\\" in name or name in ("", ".", ".."):
            raise PathNotAllowed("gensim:NAME must name a file of gensim's test data, not a path")


def check_request(
    body: EvaluationRequest, settings: Settings, clicks: list[BenchmarkSpec] | None, suites: list[str]
) -> list[BenchmarkSpec]:
    """Refuse at once what the run would fail on: unknown suite, kind or option, missing benchmark file, a
    file outside the allowed directories (403). Caller-given paths are replaced by their resolved form.

    `clicks`: the click benchmarks the suite runs (`app.feedback.benchmarks.suite_clicks`; None: the suite
    is unknown), `suites`: the known suite names. Returns the click benchmarks to pin in the run."""
    if body.suite is not None and clicks is None:
        raise Unprocessable(f"unknown suite {body.suite!r}", detail={"suites": suites})
    given = body.benchmarks or []
    specs = [*BUILTIN_SUITES.get(body.suite or "", ()), *(clicks or [])] or [
        BenchmarkSpec(b.name, b.kind, b.path, b.options) for b in given
    ]
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise Unprocessable("benchmark names must be unique", detail={"names": names})
    for i, spec in enumerate(specs):
        if given:
            check_gensim_name(given[i].path)
        try:
            spec.effective_options()
            path = spec.resolved_path()
        except (BenchmarkError, ValueError, OSError) as exc:
            raise Unprocessable(str(exc), detail={"benchmark": spec.name}) from exc
        if given and not given[i].path.startswith(GENSIM_PREFIX):  # a caller's file: in an allowed directory
            path = confine(path, benchmark_roots(settings), "MMWE_BENCHMARK_DIRS")
            given[i].path = str(path)
        if not path.is_file():
            raise Unprocessable(
                f"benchmark file not found on the server: {path}", detail={"benchmark": spec.name}
            )
    return specs if clicks else []


def pinned_request(body: EvaluationRequest, specs: list[BenchmarkSpec]) -> dict[str, Any]:
    """The run's request: as given, plus, for a suite with click benchmarks, its benchmark list as of now
    (the run evaluates these files even if a newer click benchmark is built meanwhile)."""
    request = body.model_dump(exclude_none=True)
    if specs:
        request["benchmarks"] = [
            {"name": s.name, "kind": s.kind, "path": str(s.path), "options": dict(s.options)} for s in specs
        ]
    return request


@router.post(
    "/v1/admin/evaluations",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=EvaluationAccepted,
    summary="Evaluate the served embeddings in the background",
    responses={**ADMIN_ERRORS, 422: {"description": "Unknown suite, missing benchmark file, or bad body."}},
)
async def trigger_evaluation(
    request: Request,
    _admin: AdminDep,
    searcher: SearcherDep,
    db: DatabaseDep,
    settings: SettingsDep,
    body: EvaluationRequest,
) -> EvaluationAccepted:
    """`{"suite": "default"}` runs the built-in suite (and the newest click benchmark, if any),
    `{"suite": "<click benchmark name>"}` that benchmark's newest file, `{"benchmarks": [...]}` a list. Poll
    `GET /v1/evaluations/{id}`: queued -> running -> succeeded | failed (with the error). Any worker of any
    replica sharing the database may run it (the database is the queue)."""
    suite = body.suite

    def suite_benchmarks(session: Session) -> tuple[list[BenchmarkSpec] | None, list[str]]:
        if suite is None:
            return [], []
        return benchmarks.suite_clicks(session, settings.data_dir, suite), benchmarks.suite_names(session)

    clicks, suites = await db.run(suite_benchmarks)
    pinned = await asyncio.to_thread(check_request, body, settings, clicks, suites)

    def queue(session: Session) -> EvaluationRun:
        artifact = store.register_served(session, searcher)
        return store.create_run(
            session, pinned_request(body, pinned), artifact, request.app.state.owner, "admin"
        )

    run = await db.run(queue)
    request.app.state.runner.submit(run.id)
    return EvaluationAccepted(id=run.id, status=run.status)


@router.get("/v1/evaluations", response_model=EvaluationPage, summary="Evaluation runs, newest first")
async def list_evaluations(
    request: Request,
    db: DatabaseDep,
    limit: Annotated[int, Query(ge=1, le=100, description="Page size.")] = 20,
    offset: Annotated[int, Query(ge=0, le=1_000_000_000, description="Runs to skip.")] = 0,
) -> EvaluationPage:
    """Anonymous callers see status and metrics; errors and file paths need the admin token."""

    def page(session: Session) -> EvaluationPage:
        runs, total = store.list_runs(session, limit, offset)
        items = [EvaluationRunOut.model_validate(r) for r in runs]
        if not is_admin(request):
            items = [public_run(item) for item in items]
        return EvaluationPage(items=items, total=total, limit=limit, offset=offset)

    return await db.run(page)


@router.get(
    "/v1/evaluations/{run_id}",
    response_model=EvaluationRunOut,
    summary="One evaluation run",
    responses={404: {"description": "No such run."}},
)
async def get_evaluation(request: Request, db: DatabaseDep, run_id: int) -> EvaluationRunOut:
    """Anonymous callers see status and metrics; errors and file paths need the admin token."""

    def one(session: Session) -> EvaluationRunOut | None:
        run = store.get_run(session, run_id) if 0 < run_id < 2**31 else None
        return EvaluationRunOut.model_validate(run) if run is not None else None

    found = await db.run(one)
    if found is None:
        raise NotFound(f"evaluation run {run_id} not found")
    return found if is_admin(request) else public_run(found)
