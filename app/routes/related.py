"""`GET /v1/related`: the k phrases nearest to a query phrase by cosine similarity."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from app.deps import SearcherDep, SettingsDep
from app.errors import BadRequest
from app.schemas import Hit, RelatedResponse, ServedBy
from index.search import PhraseSearcher, Related

router = APIRouter(prefix="/v1", tags=["related"])


def served_by(searcher: PhraseSearcher) -> ServedBy:
    manifest = searcher.manifest
    emb = manifest.get("embeddings", {})
    return ServedBy(
        model_kind=str(emb.get("model_kind", "unknown")),
        embeddings_sha256=emb.get("manifest_sha256"),
        index=searcher.path.name,
        factory=str(manifest.get("factory", "unknown")),
    )


def to_response(related: Related, searcher: PhraseSearcher) -> RelatedResponse:
    return RelatedResponse(
        query=related.query,
        normalized=related.normalized,
        results=[Hit(phrase=h.phrase, score=h.score, count=h.count) for h in related.hits],
        oov=related.oov,
        served_by=served_by(searcher),
    )


def check_query(q: str, settings: SettingsDep) -> str:
    if not q.strip():
        raise BadRequest("q must not be empty")
    if len(q) > settings.max_query_chars:
        raise BadRequest(f"q is longer than {settings.max_query_chars} characters", detail={"length": len(q)})
    return q


@router.get("/related", response_model=RelatedResponse, summary="Phrases related to a query phrase")
def related(
    searcher: SearcherDep,
    settings: SettingsDep,
    q: Annotated[str, Query(description="Query phrase (one or more words).", max_length=10_000)],
    k: Annotated[int, Query(ge=1, le=1000, description="Number of related phrases (at most MMWE_MAX_K).")] = 10,
) -> RelatedResponse:
    check_query(q, settings)
    if k > settings.max_k:
        raise BadRequest(f"k must be at most {settings.max_k}", detail={"k": k})
    return to_response(searcher.related(q, k), searcher)
