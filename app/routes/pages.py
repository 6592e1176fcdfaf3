"""The web page at `/` (plain HTML + JS from app/static, no network fetch but this API) and `GET /v1/map`.

The page calls only the JSON API: /v1/related (as you type), /v1/similarity, /v1/evaluations (the chart),
/v1/map (the 2-D phrase map) and /v1/info. Static files are served from a fixed list read at import time, so a
request can never name a path outside app/static.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse
from pydantic import AfterValidator, BaseModel, Field

from app.deps import SearcherDep
from app.errors import NotFound
from app.phrase_map import MapCache

router = APIRouter()

STATIC_DIR = Path(__file__).resolve().parents[1] / "static"
MEDIA_TYPES = {".html": "text/html", ".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}
STATIC_FILES = {p.name: p for p in STATIC_DIR.iterdir() if p.is_file() and p.suffix in MEDIA_TYPES}
# The map's variants are few (72), so that all of them fit in the cache: a caller cannot make every request
# compute a new PCA.
MAP_SIZES = (5, 10, 20, 50, 100, 200, 500, 1000, 2000)


def _map_size(n: int) -> int:
    if n not in MAP_SIZES:
        raise ValueError(f"n must be one of {MAP_SIZES}")
    return n


MapSize = Annotated[int, AfterValidator(_map_size)]
MAX_MIN_WORDS = 4
MAP_VARIANTS = len(MAP_SIZES) * MAX_MIN_WORDS * 2
NO_CACHE = {"Cache-Control": "no-cache"}  # revalidate (ETag) so that an upgrade shows at once


class MapPointOut(BaseModel):
    phrase: str
    count: int = Field(description="Occurrences of the phrase in the corpus the index was mined from.")
    x: float = Field(description="First principal component.")
    y: float = Field(description="Second principal component.")


class MapResponse(BaseModel):
    method: str = Field("pca", description="Projection method.")
    index: str = Field(description="Directory name of the served index.")
    num_phrases: int = Field(description="Phrases in the served index.")
    considered: int = Field(description="Most frequent phrases scanned to pick the points.")
    explained_variance_ratio: list[float] = Field(description="Share of the variance along x and y.")
    points: list[MapPointOut]


@router.get("/", include_in_schema=False)
def page() -> FileResponse:
    return FileResponse(STATIC_FILES["index.html"], media_type="text/html", headers=NO_CACHE)


@router.get("/static/{name}", include_in_schema=False)
def static(name: str) -> FileResponse:
    path = STATIC_FILES.get(name)
    if path is None:
        raise NotFound(f"no static file {name!r}")
    return FileResponse(path, media_type=MEDIA_TYPES[path.suffix], headers=NO_CACHE)


def map_cache(request: Request) -> MapCache:
    cache: MapCache | None = getattr(request.app.state, "phrase_maps", None)
    if cache is None:  # room for every variant: each is computed at most once per served index
        cache = request.app.state.phrase_maps = MapCache(max_entries=MAP_VARIANTS)
    return cache


@router.get(
    "/v1/map",
    response_model=MapResponse,
    tags=["related"],
    summary="2-D map (PCA) of the most frequent phrases of the served index",
)
def phrase_map(
    request: Request,
    searcher: SearcherDep,
    n: Annotated[
        MapSize, Query(description=f"Number of phrases, most frequent first: one of {MAP_SIZES}.")
    ] = 200,
    min_words: Annotated[
        int, Query(ge=1, le=MAX_MIN_WORDS, description="Only phrases with at least this many words.")
    ] = 1,
    stopwords: Annotated[bool, Query(description="Include phrases made only of function words.")] = False,
) -> MapResponse:
    result = map_cache(request).get(searcher, n, min_words, stopwords)
    return MapResponse(
        method="pca",
        index=searcher.path.name,
        num_phrases=searcher.num_phrases,
        considered=result.considered,
        explained_variance_ratio=list(result.explained_variance_ratio),
        points=[MapPointOut(phrase=p.phrase, count=p.count, x=p.x, y=p.y) for p in result.points],
    )
