"""Liveness (`/healthz`), readiness (`/readyz`: index loaded, not lagging the replicas' desired index past
MMWE_REPLICA_GRACE_SECONDS, and database reachable; reasons without server paths unless the caller has the
admin token) and `/metrics`.

Database checks run in the database's own executor with its deadline (app/db/access.py): a hung database makes
`/readyz` answer 503 saying so within MMWE_DB_TIMEOUT_S, and never holds the threads of other routes."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request, Response

from app.db.migrate import head_revision
from app.db.session import database_problem
from app.deps import DatabaseDep
from app.errors import ServiceUnavailable
from app.metrics import CONTENT_TYPE, evaluation_runs, render
from app.schemas import Check, Health, Readiness
from app.security import is_admin, redact_paths
from app.serving import IndexHolder

router = APIRouter(tags=["health"])
log = logging.getLogger("mmwe.app")


@router.get("/healthz", response_model=Health, summary="Process is alive")
async def healthz() -> Health:
    return Health()


@router.get(
    "/readyz",
    response_model=Readiness,
    summary="Index loaded and database reachable",
    responses={
        503: {"model": Readiness, "description": "Not ready; `index` and `database` say what is wrong."}
    },
)
async def readyz(request: Request, response: Response, database: DatabaseDep) -> Readiness:
    state = request.app.state
    sync = state.replicas

    admin = is_admin(request)

    def shown(detail: str | None) -> str | None:
        """Anonymous callers (load balancers) get the reason without server paths (app/security.py)."""
        return detail if admin or detail is None else redact_paths(detail)

    def check(name: str, holder: IndexHolder) -> Check:
        problem = sync.lag_problem(name, holder) or holder.problem  # app/replicas.py
        return Check(ok=problem is None, detail=shown(problem or holder.fallback))

    models = {name: check(name, h) for name, h in state.models.holders.items()}
    index = models[state.models.default]
    try:
        db_problem = await database.run(lambda session: database_problem(database.engine, head_revision()))
    except ServiceUnavailable as exc:
        db_problem = exc.message
    database_check = Check(ok=db_problem is None, detail=shown(db_problem))
    ready = Readiness(ready=False, index=index, database=database_check, models=models)
    ready.ready = ready.index.ok and ready.database.ok and all(c.ok for c in models.values())
    if not ready.ready:
        response.status_code = 503
    return ready


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE: {}}, "description": "Prometheus text exposition format."}},
)
async def metrics(database: DatabaseDep) -> Response:
    """Process metrics at once; the database-backed ones only if the database answers in time."""
    try:
        runs = await database.run(evaluation_runs)
    except ServiceUnavailable as exc:
        log.warning("metrics: evaluation runs not counted: %s", exc.message)
        runs = b""
    return Response(render() + runs, media_type=CONTENT_TYPE)
