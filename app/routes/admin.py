"""Admin only: `POST /v1/admin/reload` (load another index fully, record it as the replicas' desired index,
then swap it in atomically, app/replicas.py; with a `gate`, only if it evaluates no worse than the serving
one, app/gate.py), `GET /v1/admin/reloads/{id}` (a gated reload) and
`GET /v1/admin/export?format=word2vec` (stream the served embeddings in a standard format)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from sqlalchemy.orm import Session

from app.db.access import Database
from app.deps import AdminDep, DatabaseDep, ModelsDep, ReplicasDep, SearcherDep, SettingsDep
from app.errors import Conflict, ServiceUnavailable, Unprocessable
from app.feedback import benchmarks
from app.gate import GateKeeper
from app.metrics import INDEX_RELOADS
from app.routes.evaluations import ADMIN_ERRORS, check_request, pinned_request
from app.routes.info import index_info
from app.routes.replicas import replica_out
from app.schemas import GatedReloadOut, ReloadRequestBody, ReloadResponse, WorkerOut
from app.security import confine, index_roots
from app.settings import Settings
from evaluation import BenchmarkSpec
from index.errors import ArtifactError
from index.interchange import MEDIA_TYPES, word2vec_chunks

router = APIRouter(prefix="/v1/admin", tags=["admin"])


@router.post(
    "/reload",
    response_model=ReloadResponse,
    summary="Serve another index (hot reload)",
    responses={
        **ADMIN_ERRORS,
        403: {
            "description": "Wrong token, admin disabled, or index_dir outside MMWE_DATA_DIR/MMWE_INDEX_ROOTS."
        },
        404: {"description": "Unknown model (`detail.models` lists the served ones)."},
        409: {
            "description": "Gated, with `wait`: the candidate scores worse (`detail.comparison`, per "
            "benchmark: serving, candidate, drop); or a gated reload of the model is in progress."
        },
        422: {"description": "The index is broken, or the gate's suite is; the old one keeps serving."},
        202: {
            "model": ReloadResponse,
            "description": "Applied and recorded as desired, but not every live replica serves it yet "
            "(`replicas`, `status_url`); they converge. Gated: a `GatedReloadOut`, evaluating; poll its "
            "`status_url`.",
        },
        503: {
            "description": "Applied here, but not every worker loaded it in time (`detail` says which); or "
            "the database cannot record the desired index (nothing changed)."
        },
    },
)
async def reload(
    request: Request,
    _admin: AdminDep,
    models: ModelsDep,
    settings: SettingsDep,
    sync: ReplicasDep,
    db: DatabaseDep,
    body: ReloadRequestBody,
    response: Response,
) -> ReloadResponse | JSONResponse:
    """Requests in flight finish on the old index, later ones use the new one. Once the index has loaded
    here it becomes the desired index in the database (app/replicas.py), and every replica follows within
    MMWE_REPLICA_POLL_SECONDS. The answer comes once every worker of this replica serves it (else 503 after
    MMWE_RELOAD_WAIT_S, naming those that do not; they keep retrying), and every live replica does (200), or,
    past MMWE_RELOAD_WAIT_S, 202 with the replicas still behind and `status_url` to follow them. `model`
    names the served model to reload (default: the default model).

    With `gate`, the candidate and the serving index are first evaluated on the gate's suite (two evaluation
    runs) and the candidate is swapped in (as above) only if no benchmark's metric drops by more than
    `max_drop`: 202 with the gated reload to poll (`GET /v1/admin/reloads/{id}`), or with `wait` the
    decision (200 swapped, 409 refused with the numbers side by side, 422 failed). The old index serves
    until a swap."""
    name, holder = models.holder(body.model)
    path = confine(body.index_dir, index_roots(settings), "MMWE_INDEX_ROOTS")
    if body.gate is not None:
        return await gated_reload(request, name, path, body, settings, db)
    previous = holder.source
    started = time.monotonic()
    try:
        searcher = await asyncio.to_thread(holder.reload, path, lambda: sync.publish(name, path))
    except ArtifactError as exc:
        INDEX_RELOADS.labels("rejected").inc()
        raise Unprocessable(
            f"index rejected, the previous one keeps serving: {exc}", detail={"index_dir": str(path)}
        ) from exc
    INDEX_RELOADS.labels("applied").inc()
    generation = holder.generation
    await asyncio.to_thread(sync.report)
    complete, workers = await holder.wait_for_workers(settings.workers, settings.reload_wait_s)
    out = [WorkerOut(**asdict(w)) for w in workers]
    if not complete:
        behind = [w.model_dump() for w in out if w.generation < generation]
        raise ServiceUnavailable(
            f"generation {generation} applied by {len(out) - len(behind)} of {settings.workers} workers "
            f"within {settings.reload_wait_s:g} s; the others keep retrying",
            detail={"generation": generation, "behind": behind, "workers_seen": len(out)},
        )
    left = max(0.0, settings.reload_wait_s - (time.monotonic() - started))
    everywhere, rows = await sync.wait_for(name, generation, left)
    if not everywhere:
        response.status_code = 202
    return ReloadResponse(
        index=index_info(searcher, generation, path),
        previous=str(previous) if previous is not None else None,
        workers=out,
        complete=everywhere,
        replicas=[replica_out(r, sync.desired.get(name)) for r in rows],
        status_url=None if everywhere else f"/v1/admin/replicas?model={name}",
    )


async def gated_reload(
    request: Request, model: str, path: Path, body: ReloadRequestBody, settings: Settings, db: Database
) -> JSONResponse:
    """Check the gate's suite as `POST /v1/admin/evaluations` does (a click benchmark suite, or the default
    suite with the newest click benchmark, is pinned to its files as of now), then start the gate."""
    assert body.gate is not None
    evaluation = body.gate.evaluation()
    suite = evaluation.suite

    def suite_benchmarks(session: Session) -> tuple[list[BenchmarkSpec] | None, list[str]]:
        if suite is None:
            return [], []
        return benchmarks.suite_clicks(session, settings.data_dir, suite), benchmarks.suite_names(session)

    clicks, suites = await db.run(suite_benchmarks)
    pinned = await asyncio.to_thread(check_request, evaluation, settings, clicks, suites)  # 422/403 at once
    gates: GateKeeper = request.app.state.gates
    gate = await gates.start(
        model, path, pinned_request(evaluation, pinned), body.gate.metric, body.gate.max_drop
    )
    if not body.wait:
        return JSONResponse(gate.model_dump(mode="json"), status_code=202)
    gate = await gates.wait(gate.id, settings.gate_wait_s)
    return gate_answer(gate)


def gate_answer(gate: GatedReloadOut) -> JSONResponse:
    """200 swapped, 202 still evaluating; refused and failed are errors naming the numbers and the reason."""
    if gate.status == "refused":
        raise Conflict(
            "the candidate scores worse than the serving index; the old index keeps serving",
            detail=gate.model_dump(mode="json"),
        )
    if gate.status == "failed":
        raise Unprocessable(
            f"gated reload failed, the old index keeps serving: {gate.error}",
            detail=gate.model_dump(mode="json"),
        )
    return JSONResponse(gate.model_dump(mode="json"), status_code=200 if gate.status == "swapped" else 202)


@router.get(
    "/reloads/{gate_id}",
    response_model=GatedReloadOut,
    summary="A gated reload: evaluating, swapped, refused or failed",
    responses={**ADMIN_ERRORS, 404: {"description": "No such gated reload."}},
)
async def get_gated_reload(request: Request, _admin: AdminDep, gate_id: int) -> GatedReloadOut:
    """Status, both evaluation runs' ids and, once decided, the metric per benchmark side by side."""
    gates: GateKeeper = request.app.state.gates
    return await gates.get(gate_id)


@router.get(
    "/export",
    summary="Download the served word embeddings (word2vec text or binary)",
    response_class=StreamingResponse,
    responses={
        **ADMIN_ERRORS,
        200: {
            "description": "The word2vec file, streamed.",
            "content": {t: {} for t in MEDIA_TYPES.values()},
        },
    },
)
def export(
    _admin: AdminDep,
    searcher: SearcherDep,
    format: Annotated[Literal["word2vec", "word2vec-binary"], Query(description="file format")] = "word2vec",
) -> StreamingResponse:
    """The served index's embeddings, read with `gensim.models.KeyedVectors.load_word2vec_format(path,
    binary=format == "word2vec-binary")`; streamed a few hundred rows at a time, so memory stays flat."""
    emb = searcher.embeddings
    name = f"{searcher.path.name}.{'bin' if format == 'word2vec-binary' else 'txt'}"
    return StreamingResponse(
        word2vec_chunks(emb, binary=format == "word2vec-binary"),
        media_type=MEDIA_TYPES[format],
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
