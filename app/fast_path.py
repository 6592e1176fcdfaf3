"""The hot path of `GET /v1/related`: plain, valid queries answered below FastAPI's routing layer.

FastAPI's per-request machinery (exception middleware, routing, dependency solving, parameter validation)
costs about 0.27 ms of CPU per request, more than the search it wraps (bench/request_cpu.py). This ASGI
middleware answers the common case itself and hands everything else to the route unchanged:

- it answers only `GET /v1/related` whose parameters are valid: they are validated with the route's own
  parameter model (`RelatedQuery` in app/related_query.py, through the same pydantic `TypeAdapter`) and its
  limits, so route and fast path accept the same inputs by construction; none of its parameters given twice;
- at start-up it checks that the route reads exactly the parameters of that model (a parameter added to the
  route outside it would otherwise be dropped here) and refuses to start if not;
- it answers only a search that succeeds, with the same bytes as the route (`related_json`);
- anything else (a missing or odd parameter, no index loaded, a query error, any exception) goes to the
  FastAPI route, which validates, answers or raises exactly as it would without this middleware; a query
  that fails is searched again there, which costs only on the error path.

So the route stays the one definition of the endpoint (OpenAPI schema, errors, docs), and this is only a
faster way to produce its 200 answers. `MMWE_FAST_PATH=false` turns it off; the tests compare both ways.
It sits inside the metrics and body-limit middlewares and sets `scope["route"]`, so its requests are counted
under the route's template like any other.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from fastapi.dependencies.utils import get_flat_params
from fastapi.routing import APIRoute, APIRouter
from starlette.datastructures import State
from starlette.types import ASGIApp, Receive, Scope, Send

from app.errors import GatewayTimeout, Overloaded, send_error
from app.registry import ModelRegistry
from app.related_query import (
    CLIENT_HEADER,
    HEADERS,
    MAX_CLIENT_ID,
    PARAMS,
    client_id,
    parse_valid,
    ranking_for,
)
from app.routes.related import MODEL_HEADER, related_json, router
from app.serving import SearchPool
from app.settings import Settings

PATH = "/v1/related"


def find_route(router: APIRouter, path: str, method: str) -> APIRoute:
    """The route of `router` that answers `method path` (a fast path serves exactly one route's requests)."""
    return next(
        r for r in router.routes if isinstance(r, APIRoute) and r.path == path and method in (r.methods or ())
    )


def route_params(route: APIRoute) -> frozenset[str]:
    """Every request parameter (query, header, cookie, path) the route reads, by the name sent."""
    return frozenset(field.alias for field in get_flat_params(route.dependant))


class RelatedFastPath:
    """ASGI middleware answering plain successful `GET /v1/related` requests (see the module docstring)."""

    def __init__(self, app: ASGIApp, state: State) -> None:
        self.app = app
        self.state = state
        self.route = find_route(router, PATH, "GET")
        read = route_params(self.route)
        if read != PARAMS | HEADERS:
            raise RuntimeError(
                f"GET {PATH} reads parameters {sorted(read)} but the fast path parses "
                f"{sorted(PARAMS | HEADERS)}: declare every parameter in app.related_query.RelatedQuery"
            )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET" and route_path(scope) == PATH:
            try:
                answer = await self.answer(scope["query_string"], scope.get("headers", []))
            except (Overloaded, GatewayTimeout) as exc:  # the search limits (app/limits.py): no retry
                scope["route"] = self.route
                await send_error(send, exc)
                return
            if answer is not None:
                body, model = answer
                scope["route"] = self.route
                await send(
                    {
                        "type": "http.response.start",
                        "status": 200,
                        "headers": [
                            (b"content-length", str(len(body)).encode()),
                            (b"content-type", b"application/json"),
                            (MODEL_HEADER.encode(), model.encode()),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)

    async def answer(
        self, query_string: bytes, headers: list[tuple[bytes, bytes]]
    ) -> tuple[bytes, str] | None:
        """(response body, model name), or None when the route must answer (see the module docstring)."""
        settings: Settings = self.state.settings
        params = plain_params(query_string)
        if params is None:
            return None
        query = parse_valid(params, settings)
        if query is None:
            return None
        plain, header = plain_header(headers)
        if not plain:
            return None
        models: ModelRegistry = self.state.models
        if query.model is not None and query.model not in models.holders:
            return None
        name, holder, assignment = models.choose(query.model, client_id(query, header))
        searcher = holder.current
        if searcher is None:
            return None
        pool: SearchPool = self.state.search_pool
        try:
            ranking = ranking_for(query, self.state.ranking)
            found = await pool.related(searcher, query.q, query.k, ranking=ranking, exact=query.exact)
        except (Overloaded, GatewayTimeout):
            raise
        except Exception:  # the route runs it again and answers the error in the API's one format
            return None
        return related_json(found, searcher, assignment), name


def route_path(scope: Scope) -> str:
    """The path the router matches: `path` without the `root_path` prefix (as Starlette's router does)."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


def plain_header(headers: list[tuple[bytes, bytes]]) -> tuple[bool, str | None]:
    """(plain, the client id header as the route reads it); not plain (the route answers) when it is given
    twice, is not ASCII or is too long for the route's limit."""
    found: str | None = None
    name = CLIENT_HEADER.encode()
    for key, value in headers:
        if key.lower() == name:
            if found is not None or len(value) > MAX_CLIENT_ID or not value.isascii():
                return False, None
            found = value.decode("latin-1")
    return True, found


def plain_params(query_string: bytes) -> dict[str, str] | None:
    """The query parameters decoded as Starlette decodes them; None if one of ours is given twice."""
    params: dict[str, str] = {}
    for key, value in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True):
        if key in PARAMS:
            if key in params:
                return None
            params[key] = value
    return params
