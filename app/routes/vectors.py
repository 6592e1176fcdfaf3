"""`GET /v1/similarity` (cosine of two phrases) and `GET /v1/vector` (a phrase's vector)."""

from __future__ import annotations

from fastapi import APIRouter

from app.deps import SearcherDep, SettingsDep
from app.related_query import QueryParam, check_query
from app.routes.related import QUERY_ERRORS, served_by
from app.schemas import EmbeddedPhrase, SimilarityResponse, VectorResponse
from index.search import EmbeddedQuery

router = APIRouter(prefix="/v1", tags=["vectors"])


def embedded(e: EmbeddedQuery) -> EmbeddedPhrase:
    return EmbeddedPhrase(
        text=e.text, normalized=" ".join(e.tokens), tokens=e.tokens, known=e.known, oov=e.oov
    )


@router.get(
    "/similarity",
    response_model=SimilarityResponse,
    summary="Cosine similarity of two phrases",
    responses=QUERY_ERRORS,
)
async def similarity(
    searcher: SearcherDep, settings: SettingsDep, a: QueryParam, b: QueryParam
) -> SimilarityResponse:
    check_query(a, settings)
    check_query(b, settings)
    cosine, ea, eb = searcher.similarity(a, b)  # two vocabulary look-ups and a dot product: no search
    return SimilarityResponse(a=embedded(ea), b=embedded(eb), cosine=cosine, served_by=served_by(searcher))


@router.get(
    "/vector", response_model=VectorResponse, summary="The vector of a phrase", responses=QUERY_ERRORS
)
async def vector(searcher: SearcherDep, settings: SettingsDep, q: QueryParam) -> VectorResponse:
    check_query(q, settings)
    e = searcher.embed(q)
    return VectorResponse(
        **embedded(e).model_dump(),
        dim=int(e.vector.shape[0]),
        vector=e.vector.tolist(),
        served_by=served_by(searcher),
    )
