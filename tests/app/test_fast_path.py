"""The `GET /v1/related` fast path (app/fast_path.py): the route's answers, for the plain queries only."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import quote, quote_plus

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from starlette.types import Receive, Scope, Send

from app.fast_path import RelatedFastPath, plain_params, route_params
from app.main import create_app
from app.related_query import HEADERS, PARAMS
from tests.app.conftest import Artifacts, make_settings

# Values worth trying for each parameter: valid ones, odd-but-valid spellings, and every kind of invalid one.
VALUES = {
    "q": st.sampled_from(
        ["dog", "hot dog", "Dog!", "zebra", "hot dog zebra", "", "   ", "a" * 201, "dog\x00cat"]
    )
    | st.text(max_size=12),
    "k": st.sampled_from(
        ["1", "3", "010", "+5", " 5", "5.0", "1_0", "0", "-1", "100", "101", "1001", "abc", ""]
    )
    | st.integers(-5, 2000).map(str),
    "exact": st.sampled_from(["true", "TRUE", "On", "f", "0", "no", "maybe", "", " true"]),
    "exclude_query_words": st.sampled_from(["true", "yes", "0", "false", "N", "x"]),
    "compounds": st.sampled_from(["include", "limit", "exclude", "LIMIT", "none", ""]),
    "min_count": st.sampled_from(["0", "1", "2", "5", "-1", "1e3", "2.0", "x", "1000000001"]),
    "collapse": st.sampled_from(["true", "false", "0", "off", "nope"]),
    "popularity": st.sampled_from(["0", "0.02", "1", "1.5", "-0.1", "nan", "inf", "1e-3", ".5", "x"]),
    "model": st.sampled_from(["default", "Default", "nope", "", "a" * 65]),
    "session": st.sampled_from(["u1", "", "x" * 129]) | st.text(max_size=4),
    "other": st.text(max_size=4),
}
PARAM = st.sampled_from(sorted(VALUES))


@st.composite
def query_strings(draw: st.DrawFn) -> str:
    """A raw query string: some of the route's parameters (perhaps repeated, perhaps unknown), encoded."""
    names = draw(st.lists(PARAM, max_size=6))
    if draw(st.booleans()):
        names.insert(0, "q")
    pairs = [(name, draw(VALUES[name])) for name in names]
    raw = draw(st.booleans())  # the pairs as a browser encodes them, or with bytes no encoder would send
    encoded = "&".join(
        f"{quote_plus(n)}={quote_plus(v) if not raw else quote(v, safe='+ ')}" for n, v in pairs
    )
    return encoded


@pytest.fixture(scope="module")
def clients(fast_and_route: tuple[TestClient, TestClient]) -> tuple[TestClient, TestClient]:
    return fast_and_route


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(query_string=query_strings())
@example(query_string="q=dog")
@example(query_string="q=dog&q=cat")
@example(query_string="q=%FF%FEdog")
@example(query_string="q=" + "dog+" * 2600)
@example(query_string="q=hot+dog&compounds=include&min_count=0&popularity=0")
def test_fast_path_answers_exactly_as_the_route(
    clients: tuple[TestClient, TestClient], query_string: str
) -> None:
    fast, slow = clients
    a, b = fast.get("/v1/related?" + query_string), slow.get("/v1/related?" + query_string)
    assert a.status_code == b.status_code, (a.text, b.text)
    assert a.status_code < 500
    assert a.content == b.content
    assert a.headers["content-type"] == b.headers["content-type"]
    assert a.headers["content-length"] == b.headers["content-length"]
    assert a.headers.get("x-mmwe-model") == b.headers.get("x-mmwe-model")


class Recorder:
    """The app below the fast path: records what reaches it."""

    def __init__(self) -> None:
        self.calls: list[bytes] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.calls.append(scope["query_string"])
        await send({"type": "http.response.start", "status": 299, "headers": []})
        await send({"type": "http.response.body", "body": b""})


async def call(middleware: RelatedFastPath, path: str, query_string: bytes, method: str = "GET") -> int:
    scope = {"type": "http", "method": method, "path": path, "root_path": "", "query_string": query_string}
    sent: list[dict[str, object]] = []

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    await middleware(scope, receive, send)  # type: ignore[arg-type]
    status = sent[0]["status"]
    assert isinstance(status, int)
    if status == 200:
        assert scope["route"].path == "/v1/related"  # type: ignore[attr-defined]  # the metrics' label
    return status


@pytest.fixture
def started(artifacts: Artifacts, sqlite_url: str) -> Iterator[FastAPI]:
    app = create_app(make_settings(artifacts, sqlite_url))
    with TestClient(app):  # runs the lifespan: index loaded, search pool started
        yield app


def test_fast_path_answers_plain_queries_and_hands_on_the_rest(started: FastAPI) -> None:
    import anyio

    inner = Recorder()
    fast = RelatedFastPath(inner, started.state)

    async def scenario() -> None:
        for qs in (b"q=dog", b"q=hot+dog&k=7&exclude_query_words=1&exact=no", b"k=3&q=cat&extra=x"):
            assert await call(fast, "/v1/related", qs) == 200
        assert inner.calls == []
        handed = [b"q=dog&k=abc", b"q=zebra", b"q=", b"q=dog&q=cat", b"k=2", b"q=dog&k=101", b"q=dog&exact=x"]
        for qs in handed:
            assert await call(fast, "/v1/related", qs) == 299
        assert inner.calls == handed
        assert await call(fast, "/v1/related", b"q=dog", method="POST") == 299
        assert await call(fast, "/v1/related/batch", b"q=dog") == 299
        assert await call(fast, "/v1/similarity", b"q=dog") == 299

    anyio.run(scenario)


def test_no_index_goes_to_the_route(started: FastAPI) -> None:
    import anyio

    inner = Recorder()
    fast = RelatedFastPath(inner, started.state)
    started.state.holder.current = None
    assert anyio.run(call, fast, "/v1/related", b"q=dog") == 299 and inner.calls == [b"q=dog"]


def test_parameter_parsing() -> None:
    assert plain_params(b"q=hot+dog&k=5&other=1&other=2") == {"q": "hot dog", "k": "5"}
    assert plain_params(b"q=%E2%9C%93") == {"q": "\u2713"}
    assert plain_params(b"q=a&q=b") is None


def test_the_fast_path_parses_every_parameter_of_the_route(started: FastAPI) -> None:
    fast = RelatedFastPath(Recorder(), started.state)
    assert route_params(fast.route) == PARAMS | HEADERS
    assert {
        "q",
        "k",
        "exact",
        "compounds",
        "min_count",
        "popularity",
        "collapse",
        "exclude_query_words",
        "model",
        "session",
    } == PARAMS
    assert {"x-client-id"} == HEADERS


def test_a_route_parameter_unknown_to_the_fast_path_stops_the_start(started: FastAPI) -> None:
    from fastapi.routing import APIRoute

    from app.routes.related import router

    route = next(r for r in router.routes if isinstance(r, APIRoute) and r.path == "/v1/related")
    original = route.dependant.query_params
    extra = APIRoute("/x", lambda lang: None, methods=["GET"]).dependant.query_params
    route.dependant.query_params = [*original, *extra]
    try:
        with pytest.raises(RuntimeError, match="lang"):
            RelatedFastPath(Recorder(), started.state)
    finally:
        route.dependant.query_params = original
