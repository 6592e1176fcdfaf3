"""Admin only: `POST /v1/admin/reload` (load another index fully, record it as the replicas' desired index,
then swap it in atomically; app/replicas.py) and
`GET /v1/admin/export?format=word2vec` (stream the served embeddings in a standard format)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import asdict
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response
from fastapi.responses import StreamingResponse

from app.deps import AdminDep, HolderDep, ReplicasDep, SearcherDep, SettingsDep
from app.errors import ServiceUnavailable, Unprocessable
from app.metrics import INDEX_RELOADS
from app.replicas import DEFAULT_MODEL
from app.routes.evaluations import ADMIN_ERRORS
from app.routes.info import index_info
from app.routes.replicas import replica_out
from app.schemas import ReloadRequestBody, ReloadResponse, WorkerOut
from app.security import confine, index_roots
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
        422: {"description": "The index is broken; the old one keeps serving."},
        202: {
            "model": ReloadResponse,
            "description": "Applied and recorded as desired, but not every live replica serves it yet "
            "(`replicas`, `status_url`); they converge.",
        },
        503: {
            "description": "Applied here, but not every worker loaded it in time (`detail` says which); or "
            "the database cannot record the desired index (nothing changed)."
        },
    },
)
async def reload(
    _admin: AdminDep,
    holder: HolderDep,
    settings: SettingsDep,
    sync: ReplicasDep,
    body: ReloadRequestBody,
    response: Response,
) -> ReloadResponse:
    """Requests in flight finish on the old index, later ones use the new one. Once the index has loaded
    here it becomes the desired index in the database (app/replicas.py), and every replica follows within
    MMWE_REPLICA_POLL_SECONDS. The answer comes once every worker of this replica serves it (else 503 after
    MMWE_RELOAD_WAIT_S, naming those that do not; they keep retrying), and every live replica does (200), or,
    past MMWE_RELOAD_WAIT_S, 202 with the replicas still behind and `status_url` to follow them."""
    path = confine(body.index_dir, index_roots(settings), "MMWE_INDEX_ROOTS")
    previous = holder.source
    started = time.monotonic()
    try:
        searcher = await asyncio.to_thread(holder.reload, path, lambda: sync.publish(DEFAULT_MODEL, path))
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
    everywhere, rows = await sync.wait_for(DEFAULT_MODEL, generation, left)
    if not everywhere:
        response.status_code = 202
    return ReloadResponse(
        index=index_info(searcher, generation, path),
        previous=str(previous) if previous is not None else None,
        workers=out,
        complete=everywhere,
        replicas=[replica_out(r, sync.desired.get(DEFAULT_MODEL)) for r in rows],
        status_url=None if everywhere else f"/v1/admin/replicas?model={DEFAULT_MODEL}",
    )


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
