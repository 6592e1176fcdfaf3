"""`GET /v1/related`, `POST /v1/related/batch`: the k phrases related to a query phrase.

The query contract (parameters, limits, ranking options) is app/related_query.py, shared with the fast path.

The search itself (CPU-bound, FAISS releases the GIL) runs in the search pool, off the event loop, except a
small single search (`SearchPool.related` says which and why). `GET /v1/related` is the hot path: it reads
settings and the pool from the app state (each FastAPI dependency costs tens of microseconds per request) and
writes its `RelatedResponse` JSON directly (pydantic-core, no validation of its own output); the schema in
OpenAPI is still `RelatedResponse`, and the tests check the body against it.
"""

from __future__ import annotations

import weakref
from typing import Annotated, Any

import pydantic_core
from fastapi import APIRouter, Header, Query, Request, Response

from app.deps import PoolDep, SearcherDep, SettingsDep, current_searcher
from app.errors import Unprocessable
from app.model_names import DEFAULT_MODEL
from app.registry import ModelRegistry
from app.related_query import (
    MAX_CLIENT_ID,
    RelatedQuery,
    check_k,
    check_query,
    client_id,
    query_problem,
    ranking_for,
)
from app.schemas import BatchItem, BatchRequest, BatchResponse, ErrorInfo, Hit, RelatedResponse, ServedBy
from app.serving import MODEL_NAMES, SearchPool
from app.settings import Settings
from index.search import PhraseSearcher, Related

router = APIRouter(prefix="/v1", tags=["related"])

SERVED_BY: weakref.WeakKeyDictionary[PhraseSearcher, ServedBy] = weakref.WeakKeyDictionary()

QUERY_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "Empty query, or longer than MMWE_MAX_QUERY_CHARS; k above MMWE_MAX_K."},
    404: {"description": "Unknown model (`detail.models` lists the served ones)."},
    422: {"description": "Invalid parameters, or a query with no word the model knows."},
    503: {"description": "No index is loaded."},
}


def served_by(searcher: PhraseSearcher) -> ServedBy:
    """What serves the answer; computed once per loaded index (the hot path asks on every request)."""
    cached = SERVED_BY.get(searcher)
    if cached is None:
        cached = SERVED_BY[searcher] = describe(searcher)
    return cached


def describe(searcher: PhraseSearcher) -> ServedBy:
    manifest = searcher.manifest
    emb = manifest.get("embeddings", {})
    return ServedBy(
        model=MODEL_NAMES.get(searcher, DEFAULT_MODEL),
        model_kind=str(emb.get("model_kind", "unknown")),
        embeddings_sha256=emb.get("manifest_sha256"),
        index=searcher.path.name,
        factory=str(manifest.get("factory", "unknown")),
    )


def hits(related: Related) -> list[Hit]:
    return [Hit(phrase=h.phrase, score=h.score, count=h.count) for h in related.hits]


def related_json(found: Related, searcher: PhraseSearcher, assignment: str | None = None) -> bytes:
    """The `RelatedResponse` of `found` as JSON (the same bytes as the model would serialise to)."""
    return pydantic_core.to_json(
        {
            "query": found.query,
            "normalized": found.normalized,
            "results": [{"phrase": h.phrase, "score": h.score, "count": h.count} for h in found.hits],
            "oov": found.oov,
            "served_by": served_by(searcher),
            "assignment": assignment,
        }
    )


MODEL_HEADER = "x-mmwe-model"  # every GET /v1/related answer names the model that served it


@router.get(
    "/related",
    response_model=RelatedResponse,
    summary="Phrases related to a query phrase",
    responses=QUERY_ERRORS,
)
async def related(
    request: Request,
    params: Annotated[RelatedQuery, Query()],
    x_client_id: Annotated[
        str | None,
        Header(
            max_length=MAX_CLIENT_ID, description="An opaque client id for the A/B split (MMWE_AB_SPLIT)."
        ),
    ] = None,
) -> Response:
    """Ranked by cosine and popularity, compounds limited, duplicates collapsed (docs/api.md "Ranking").

    The model is `model`, else the default one, else (with MMWE_AB_SPLIT) the split's arm for the client
    id; the `X-Mmwe-Model` header and `served_by.model` name it, `assignment` is the arm (null when the
    split did not choose)."""
    state = request.app.state
    settings: Settings = state.settings
    pool: SearchPool = state.search_pool
    models: ModelRegistry = state.models
    name, holder, assignment = models.choose(params.model, client_id(params, x_client_id))
    searcher = current_searcher(holder)
    check_query(params.q, settings)
    check_k(params.k, settings)
    ranking = ranking_for(params, state.ranking)
    found = await pool.related(searcher, params.q, params.k, ranking=ranking, exact=params.exact)
    return Response(
        related_json(found, searcher, assignment),
        media_type="application/json",
        headers={MODEL_HEADER: name},
    )


@router.post(
    "/related/batch",
    response_model=BatchResponse,
    summary="Related phrases for many queries",
    responses={**QUERY_ERRORS, 413: {"description": "Body larger than MMWE_MAX_BODY_BYTES."}},
)
async def related_batch(
    request: Request, searcher: SearcherDep, settings: SettingsDep, pool: PoolDep, body: BatchRequest
) -> BatchResponse:
    """Up to MMWE_MAX_BATCH queries; a query that cannot be answered gets an `error`, not the batch."""
    if len(body.queries) > settings.max_batch:
        raise Unprocessable(
            f"at most {settings.max_batch} queries per batch (MMWE_MAX_BATCH)",
            detail={"queries": len(body.queries)},
        )
    check_k(body.k, settings)
    items: list[BatchItem | None] = []
    valid: list[str] = []
    for q in body.queries:
        problem = query_problem(q, settings)
        items.append(
            BatchItem(query=q, error=ErrorInfo(code="bad_query", message=problem)) if problem else None
        )
        if problem is None:
            valid.append(q)
    answers = (
        await pool.run(
            searcher.related_batch,
            valid,
            body.k,
            ranking=ranking_for(body, request.app.state.ranking),
            exact=body.exact,
        )
        if valid
        else []
    )
    it = iter(answers)
    out: list[BatchItem] = []
    for q, item in zip(body.queries, items, strict=True):
        if item is not None:
            out.append(item)
            continue
        answer = next(it)
        if isinstance(answer, Related):
            out.append(BatchItem(query=q, normalized=answer.normalized, results=hits(answer), oov=answer.oov))
        else:
            out.append(BatchItem(query=q, error=ErrorInfo(code="unanswerable_query", message=str(answer))))
    return BatchResponse(results=out, served_by=served_by(searcher))
