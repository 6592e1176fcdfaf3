"""`GET /v1/info`: the model and index being served, and the latest evaluation of the served embeddings."""

from __future__ import annotations

import os
from typing import Any

from fastapi import APIRouter, Request

from app.deps import SearcherDep
from app.evaluations import store
from app.schemas import Check, EvaluationRunOut, IndexInfo, InfoResponse, ModelInfo
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


def index_info(searcher: PhraseSearcher, generation: int) -> IndexInfo:
    m: dict[str, Any] = searcher.manifest
    return IndexInfo(
        path=str(searcher.path),
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


@router.get(
    "/info",
    response_model=InfoResponse,
    summary="The model and index served, and the latest evaluation",
    responses={503: {"description": "No index is loaded."}},
)
def info(request: Request, searcher: SearcherDep) -> InfoResponse:
    """Answers without the database too: then `latest_evaluation` is null and `database` says why.

    Without the admin token the index path is its directory name, `worker_pid` is null and evaluation
    errors are withheld."""
    model = model_info(searcher)
    latest: EvaluationRunOut | None = None
    database = Check(ok=True)
    try:
        with request.app.state.sessionmaker() as session:
            run = store.latest_for_embeddings(session, model.manifest_sha256 or "")
            latest = EvaluationRunOut.model_validate(run) if run is not None else None
    except Exception as exc:  # the database is optional for this route
        database = Check(ok=False, detail=f"{type(exc).__name__}: {exc}".splitlines()[0])
    response = InfoResponse(
        model=model,
        index=index_info(searcher, request.app.state.holder.generation),
        latest_evaluation=latest,
        database=database,
        worker_pid=os.getpid(),
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
