"""`GET /v1/compare?q=...&models=a,w2v&k=10`: the related phrases of several served models side by side.

Each model answers the query with the ranking options of `GET /v1/related` (in the search pool, all at
once); `overlap` says which phrases they share: the phrases every model returned, the Jaccard index of all
the answers' phrase sets, and of each pair.
"""

from __future__ import annotations

import asyncio
from itertools import combinations
from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import Field

from app.deps import current_searcher
from app.errors import BadRequest
from app.registry import ModelRegistry
from app.related_query import (
    DEFAULT_K,
    MAX_K_PARAM,
    MAX_Q_PARAM,
    RankingParams,
    check_k,
    check_query,
    ranking_for,
)
from app.routes.related import QUERY_ERRORS, hits, served_by
from app.schemas import CompareModel, CompareResponse, ErrorInfo, Overlap, PairOverlap
from app.serving import SearchPool
from app.settings import Settings
from index.errors import QueryError
from index.search import PhraseSearcher, Related

router = APIRouter(prefix="/v1", tags=["related"])
MAX_MODELS_PARAM = 16


class CompareQuery(RankingParams):
    """The query parameters of `GET /v1/compare` (the ranking options are those of `GET /v1/related`)."""

    q: str = Field(description="Query phrase (one or more words).", max_length=MAX_Q_PARAM)
    models: str | None = Field(
        default=None,
        max_length=MAX_MODELS_PARAM * 65,
        description="Comma-separated model names; default: all.",
    )
    k: int = Field(default=DEFAULT_K, ge=1, le=MAX_K_PARAM, description="Related phrases per model.")
    exact: bool = Field(default=False, description="Search exhaustively, bypassing the approximate index.")


def jaccard(a: set[str], b: set[str]) -> float:
    union = a | b
    return len(a & b) / len(union) if union else 1.0


def overlap(names: list[str], sets: list[set[str]]) -> Overlap:
    shared = set.intersection(*sets) if sets else set()
    union = set.union(*sets) if sets else set()
    order = [p for p in dict.fromkeys(p for s in sets for p in sorted(s)) if p in shared]
    return Overlap(
        shared=sorted(order),
        jaccard=len(shared) / len(union) if union else 1.0,
        pairs=[
            PairOverlap(
                a=names[i], b=names[j], shared=len(sets[i] & sets[j]), jaccard=jaccard(sets[i], sets[j])
            )
            for i, j in combinations(range(len(names)), 2)
        ],
    )


@router.get(
    "/compare",
    response_model=CompareResponse,
    summary="Related phrases of several models side by side, with their overlap",
    responses=QUERY_ERRORS,
)
async def compare(request: Request, params: Annotated[CompareQuery, Query()]) -> CompareResponse:
    """A model that cannot answer the query (e.g. every word unknown to it) has an `error` and no results;
    422 when none can."""
    state = request.app.state
    settings: Settings = state.settings
    registry: ModelRegistry = state.models
    pool: SearchPool = state.search_pool
    q, k = check_query(params.q, settings), check_k(params.k, settings)
    given = params.models.split(",") if params.models is not None else registry.names
    names = list(dict.fromkeys(n.strip() for n in given if n.strip()))
    if not names or len(names) > MAX_MODELS_PARAM:
        raise BadRequest(
            f"models must name 1 to {MAX_MODELS_PARAM} served models", detail={"models": registry.names}
        )
    searchers = [current_searcher(registry.holder(name)[1]) for name in names]
    rank = ranking_for(params, state.ranking)

    async def one(searcher: PhraseSearcher) -> Related | QueryError:
        try:
            return await pool.related(searcher, q, k, ranking=rank, exact=params.exact)
        except QueryError as exc:
            return exc

    answers = await asyncio.gather(*(one(s) for s in searchers))
    first = answers[0]
    if isinstance(first, QueryError) and all(isinstance(a, QueryError) for a in answers):
        raise first
    out = []
    for name, searcher, answer in zip(names, searchers, answers, strict=True):
        if isinstance(answer, Related):
            out.append(
                CompareModel(
                    model=name,
                    normalized=answer.normalized,
                    results=hits(answer),
                    oov=answer.oov,
                    served_by=served_by(searcher),
                )
            )
        else:
            out.append(
                CompareModel(
                    model=name,
                    served_by=served_by(searcher),
                    error=ErrorInfo(code="unanswerable_query", message=str(answer)),
                )
            )
    sets = [{h.phrase for h in m.results} for m in out if m.error is None]
    return CompareResponse(
        query=q, k=k, models=out, overlap=overlap([m.model for m in out if m.error is None], sets)
    )
