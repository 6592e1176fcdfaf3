"""`GET /v1/info`: the model and index being served, and the latest evaluation of the served embeddings."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy.orm import Session

from app.deps import DatabaseDep, ModelParam, SearcherDep
from app.errors import ServiceUnavailable
from app.evaluations import store
from app.registry import ModelRegistry
from app.schemas import Check, EvaluationRunOut, IndexInfo, InfoResponse, ModelInfo, ServedModelOut
from app.security import is_admin, public_run, strip_paths
from index.artifacts import MANIFEST, sha256_file
from index.search import PhraseSearcher

router = APIRouter(prefix="/v1", tags=["info"])


def embeddings_sha(searcher: PhraseSearcher) -> str | None:
    path = searcher.embeddings.path
    return sha256_file(path / MANIFEST) if path is not None else None


def model_info(searcher: PhraseSearcher) -> ModelInfo:
    m = searcher.embeddings.manifest
    return ModelInfo(
        model_kind=str(m.get("model_kind", "unknown")),
        dim=searcher.dim,
        vocab_size=len(searcher.embeddings.words),
        corpus=dict(m.get("corpus") or {}),
        metrics=dict(m.get("metrics") or {}),
        seed=m.get("seed"),
        created_at=m.get("created_at"),
        manifest_sha256=embeddings_sha(searcher),
    )


def index_info(searcher: PhraseSearcher, generation: int, source: Path | None = None) -> IndexInfo:
    """`source`: the directory the index was loaded from (it is served from a private copy)."""
    m: dict[str, Any] = searcher.manifest
    return IndexInfo(
        path=str(source or searcher.path),
        factory=str(m.get("factory", "unknown")),
        metric=m.get("metric"),
        num_phrases=searcher.num_phrases,
        dim=searcher.dim,
        memory_bytes=searcher.memory_bytes(),
        memory=searcher.memory_report(),
        build_seconds=m.get("build_seconds"),
        search_params=dict(m.get("search_params") or {}),
        recall=m.get("recall"),
        phrase_sources=dict(m.get("phrase_sources") or {}),
        created_at=m.get("created_at"),
        generation=generation,
    )


def served_models(registry: ModelRegistry, split: list[tuple[str, int]]) -> list[ServedModelOut]:
    weights = dict(split)
    out = []
    for name, holder in registry.holders.items():
        searcher = holder.current
        out.append(
            ServedModelOut(
                name=name,
                default=name == registry.default,
                ab_weight=weights.get(name),
                index=str(holder.source) if holder.source is not None else None,
                model_kind=searcher.embeddings.manifest.get("model_kind") if searcher is not None else None,
                num_phrases=searcher.num_phrases if searcher is not None else None,
                generation=holder.generation,
                problem=holder.problem,
            )
        )
    return out


@router.get(
    "/info",
    response_model=InfoResponse,
    summary="The model and index served, and the latest evaluation",
    responses={503: {"description": "No index is loaded."}},
)
async def info(
    request: Request, searcher: SearcherDep, db: DatabaseDep, model: ModelParam = None
) -> InfoResponse:
    """`model` and `index` describe `?model=` (default: the default model); `models` lists every served
    model. Answers without the database too (within MMWE_DB_TIMEOUT_S when it hangs): then
    `latest_evaluation` is null and `database` says why.

    Without the admin token the index path is its directory name, `worker_pid` is null and evaluation
    errors are withheld."""
    registry: ModelRegistry = request.app.state.models
    _, holder = registry.holder(model)
    info = await asyncio.to_thread(model_info, searcher)  # hashes the embeddings manifest

    def latest_run(session: Session) -> EvaluationRunOut | None:
        run = store.latest_for_embeddings(session, info.manifest_sha256 or "")
        return EvaluationRunOut.model_validate(run) if run is not None else None

    latest: EvaluationRunOut | None = None
    database = Check(ok=True)
    try:
        latest = await db.run(latest_run)
    except ServiceUnavailable as exc:  # the database is optional for this route
        database = Check(ok=False, detail=exc.message)
    response = InfoResponse(
        model=info,
        index=index_info(searcher, holder.generation, holder.source),
        latest_evaluation=latest,
        database=database,
        worker_pid=os.getpid(),
        models=served_models(registry, request.app.state.settings.split),
    )
    if is_admin(request):
        return response
    # absolute paths, pids and error texts are for the admin token only
    public = InfoResponse.model_validate(
        strip_paths(response.model_dump(exclude={"latest_evaluation", "database", "worker_pid"}))
        | {
            "latest_evaluation": public_run(latest) if latest is not None else None,
            "database": database
            if database.ok
            else Check(ok=False, detail="database unavailable (details with the admin token)"),
            "worker_pid": None,
        }
    )
    return public
