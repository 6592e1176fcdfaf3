"""`GET /v1/related`, `POST /v1/related/batch`: the k phrases nearest to a query phrase by cosine.

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
from fastapi import APIRouter, Query, Request, Response

from app.deps import PoolDep, SearcherDep, SettingsDep
from app.errors import BadRequest, Unprocessable
from app.schemas import BatchItem, BatchRequest, BatchResponse, ErrorInfo, Hit, RelatedResponse, ServedBy
from app.serving import SearchPool
from app.settings import Settings
from index.search import PhraseSearcher, Related

router = APIRouter(prefix="/v1", tags=["related"])

SERVED_BY: weakref.WeakKeyDictionary[PhraseSearcher, ServedBy] = weakref.WeakKeyDictionary()

QUERY_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "Empty query, or longer than MMWE_MAX_QUERY_CHARS; k above MMWE_MAX_K."},
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
        model_kind=str(emb.get("model_kind", "unknown")),
        embeddings_sha256=emb.get("manifest_sha256"),
        index=searcher.path.name,
        factory=str(manifest.get("factory", "unknown")),
    )


def hits(related: Related) -> list[Hit]:
    return [Hit(phrase=h.phrase, score=h.score, count=h.count) for h in related.hits]


def related_json(found: Related, searcher: PhraseSearcher) -> bytes:
    """The `RelatedResponse` of `found` as JSON (the same bytes as the model would serialise to)."""
    return pydantic_core.to_json(
        {
            "query": found.query,
            "normalized": found.normalized,
            "results": [{"phrase": h.phrase, "score": h.score, "count": h.count} for h in found.hits],
            "oov": found.oov,
            "served_by": served_by(searcher),
        }
    )


def query_problem(q: str, settings: Settings) -> str | None:
    if not q.strip():
        return "q must not be empty"
    if len(q) > settings.max_query_chars:
        return f"q is longer than {settings.max_query_chars} characters (MMWE_MAX_QUERY_CHARS)"
    return None


def check_query(q: str, settings: Settings) -> str:
    problem = query_problem(q, settings)
    if problem is not None:
        raise BadRequest(problem, detail={"length": len(q)})
    return q


def check_k(k: int, settings: Settings) -> int:
    if k > settings.max_k:
        raise BadRequest(f"k must be at most {settings.max_k} (MMWE_MAX_K)", detail={"k": k})
    return k


MAX_Q_PARAM = 10_000  # the schema's bounds; the served limits are MMWE_MAX_QUERY_CHARS and MMWE_MAX_K
MAX_K_PARAM = 1000
DEFAULT_K = 10

QueryParam = Annotated[str, Query(description="Query phrase (one or more words).", max_length=MAX_Q_PARAM)]
KParam = Annotated[
    int, Query(ge=1, le=MAX_K_PARAM, description="Number of related phrases (at most MMWE_MAX_K).")
]
ExcludeParam = Annotated[
    bool, Query(description="Drop phrases sharing a word with the query (as the paper's positives do).")
]
ExactParam = Annotated[bool, Query(description="Search exhaustively, bypassing the approximate index.")]


@router.get(
    "/related",
    response_model=RelatedResponse,
    summary="Phrases related to a query phrase",
    responses=QUERY_ERRORS,
)
async def related(
    request: Request,
    searcher: SearcherDep,
    q: QueryParam,
    k: KParam = DEFAULT_K,
    exclude_query_words: ExcludeParam = False,
    exact: ExactParam = False,
) -> Response:
    state = request.app.state
    settings: Settings = state.settings
    pool: SearchPool = state.search_pool
    check_query(q, settings)
    check_k(k, settings)
    found = await pool.related(searcher, q, k, exclude_query_words=exclude_query_words, exact=exact)
    return Response(related_json(found, searcher), media_type="application/json")


@router.post(
    "/related/batch",
    response_model=BatchResponse,
    summary="Related phrases for many queries",
    responses={**QUERY_ERRORS, 413: {"description": "Body larger than MMWE_MAX_BODY_BYTES."}},
)
async def related_batch(
    searcher: SearcherDep, settings: SettingsDep, pool: PoolDep, body: BatchRequest
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
            exclude_query_words=body.exclude_query_words,
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
