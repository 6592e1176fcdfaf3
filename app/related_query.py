"""The query contract of `GET /v1/related` and `POST /v1/related/batch`, one for route and fast path.

`RelatedQuery` is the GET route's query-parameter model (FastAPI validates it) and the type the fast path
(app/fast_path.py) validates its parsed query string with, through the same pydantic `TypeAdapter`, so both
accept, coerce and reject exactly the same inputs. `RankingParams` holds the ranking options shared with the
batch body. The served limits (MMWE_MAX_QUERY_CHARS, MMWE_MAX_K) and the server's ranking defaults (MMWE_*
in app/settings.py) are applied here too, by functions both paths call.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query
from pydantic import BaseModel, Field, TypeAdapter, ValidationError

from app.errors import BadRequest
from app.settings import Settings
from index.ranking import Compounds, Ranking, load_denylist

MAX_Q_PARAM = 10_000  # the schema's bounds; the served limits are MMWE_MAX_QUERY_CHARS and MMWE_MAX_K
MAX_K_PARAM = 1000
DEFAULT_K = 10
MAX_CLIENT_ID = 128  # characters of a client id (X-Client-Id, `session`)
CLIENT_HEADER = "x-client-id"

QueryParam = Annotated[str, Query(description="Query phrase (one or more words).", max_length=MAX_Q_PARAM)]


class RankingParams(BaseModel):
    """Ranking options of one request; an absent option takes the server's default (docs/api.md "Ranking")."""

    compounds: Compounds | None = Field(
        default=None,
        description="Phrases sharing a word with the query: `include`, `limit` (at most 30% of k, the rest "
        "associations) or `exclude`. Default MMWE_COMPOUNDS (`limit`).",
    )
    min_count: int | None = Field(
        default=None,
        ge=0,
        le=1_000_000_000,
        description="Only phrases seen at least this often in the corpus. Default MMWE_MIN_COUNT (2).",
    )
    popularity: float | None = Field(
        default=None,
        ge=0.0,
        le=1.0,
        description="Weight w of the popularity prior: rank by cosine + w * ln(1 + count); 0 ranks by "
        "cosine alone. Default MMWE_POPULARITY.",
    )
    collapse: bool = Field(
        default=True,
        description="Show near-duplicates (the same words up to order and plural) once, and no spelling "
        "of the query itself.",
    )
    exclude_query_words: bool = Field(
        default=False, description="Deprecated: the same as `compounds=exclude`, which it overrides."
    )


class RelatedQuery(RankingParams):
    """The query parameters of `GET /v1/related`."""

    q: str = Field(description="Query phrase (one or more words).", max_length=MAX_Q_PARAM)
    k: int = Field(
        default=DEFAULT_K, ge=1, le=MAX_K_PARAM, description="Number of related phrases (at most MMWE_MAX_K)."
    )
    exact: bool = Field(default=False, description="Search exhaustively, bypassing the approximate index.")
    model: str | None = Field(
        default=None,
        max_length=64,
        description="Served model to ask (MMWE_INDEXES); default: the first, or the A/B split's choice "
        "(MMWE_AB_SPLIT).",
    )
    session: str | None = Field(
        default=None,
        max_length=MAX_CLIENT_ID,
        description="An opaque client id for the A/B split (instead of the X-Client-Id header).",
    )


RELATED_QUERY = TypeAdapter(RelatedQuery)
PARAMS = frozenset(RelatedQuery.model_fields)
HEADERS = frozenset({CLIENT_HEADER})  # the request headers the route reads


def client_id(query: RelatedQuery, header: str | None) -> str | None:
    """Who asks, for the A/B split: the X-Client-Id header, else the `session` parameter."""
    return header or query.session or None


def base_ranking(settings: Settings) -> Ranking:
    """The server's default ranking (MMWE_POPULARITY, MMWE_MIN_COUNT, MMWE_COMPOUNDS, MMWE_DENYLIST)."""
    return Ranking(
        popularity=settings.popularity,
        min_count=settings.min_count,
        compounds=settings.compounds,
        denylist=load_denylist(settings.denylist),
    )


def ranking_for(params: RankingParams, base: Ranking) -> Ranking:
    """`base` with the request's options applied."""
    return Ranking(
        popularity=base.popularity if params.popularity is None else params.popularity,
        min_count=base.min_count if params.min_count is None else params.min_count,
        compounds="exclude"
        if params.exclude_query_words
        else (base.compounds if params.compounds is None else params.compounds),
        compound_share=base.compound_share,
        collapse=params.collapse,
        denylist=base.denylist,
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


def parse_valid(params: dict[str, Any], settings: Settings) -> RelatedQuery | None:
    """`params` as the route would accept them, or None where the route would answer an error."""
    try:
        query = RELATED_QUERY.validate_python(params)
    except ValidationError:
        return None
    if query_problem(query.q, settings) is not None or query.k > settings.max_k:
        return None
    return query
