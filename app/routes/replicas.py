"""Admin only: `GET /v1/admin/replicas`: the desired index of each model and what every replica serves."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Query

from app.deps import AdminDep, DatabaseDep, ReplicasDep
from app.replicas import Desired, ReplicaState, list_replicas, read_desired
from app.routes.evaluations import ADMIN_ERRORS
from app.schemas_replicas import DesiredOut, ReplicaOut, ReplicasOut

router = APIRouter(prefix="/v1/admin", tags=["admin"])


def replica_out(row: ReplicaState, desired: Desired | None) -> ReplicaOut:
    current = desired is None or row.generation >= desired.generation
    return ReplicaOut(**asdict(row), current=current)


@router.get(
    "/replicas",
    response_model=ReplicasOut,
    summary="Replicas and the index each serves",
    responses={**ADMIN_ERRORS, 503: {"description": "The database did not answer in time."}},
)
async def replicas(
    _admin: AdminDep,
    database: DatabaseDep,
    sync: ReplicasDep,
    model: Annotated[str | None, Query(max_length=64, description="Only this model's rows.")] = None,
) -> ReplicasOut:
    """Every serving process that reported to the database (one row per process and model), live or stale,
    beside the desired index of each model. A reload's progress: poll this until every live row is current."""
    desired = await database.run(read_desired)
    rows = await database.run(lambda s: list_replicas(s, sync.stale_s, model))
    return ReplicasOut(
        desired=[
            DesiredOut(
                model=d.model,
                index_dir=str(d.index_dir),
                generation=d.generation,
                updated_at=d.updated_at,
                updated_by=d.updated_by,
            )
            for d in desired.values()
            if model is None or d.model == model
        ],
        replicas=[replica_out(r, desired.get(r.model)) for r in rows],
        stale_after_s=sync.stale_s,
    )
