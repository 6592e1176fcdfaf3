"""Liveness (`/healthz`), readiness (`/readyz`: index loaded and database reachable) and `/metrics`."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from app.db.migrate import head_revision
from app.db.session import database_problem
from app.metrics import CONTENT_TYPE, render
from app.schemas import Check, Health, Readiness

router = APIRouter(tags=["health"])


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
def readyz(request: Request, response: Response) -> Readiness:
    state = request.app.state
    index = Check(ok=state.holder.current is not None, detail=state.holder.error)
    problem = database_problem(state.engine, head_revision())
    ready = Readiness(ready=False, index=index, database=Check(ok=problem is None, detail=problem))
    ready.ready = ready.index.ok and ready.database.ok
    if not ready.ready:
        response.status_code = 503
    return ready


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE: {}}, "description": "Prometheus text exposition format."}},
)
def metrics(request: Request) -> Response:
    return Response(render(request.app.state.sessionmaker), media_type=CONTENT_TYPE)
