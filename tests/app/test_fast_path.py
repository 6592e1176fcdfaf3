"""The `GET /v1/related` fast path (app/fast_path.py): the route's answers, for the plain queries only."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.types import Receive, Scope, Send

from app.fast_path import RelatedFastPath, parse_k, plain_params
from app.main import create_app
from tests.app.conftest import Artifacts, make_settings

# Query strings as sent (raw): valid ones, odd-but-valid spellings, and every kind of invalid one.
QUERY_STRINGS = [
    "q=dog",
    "q=hot+dog&k=5",
    "q=hot%20dog&k=3&exclude_query_words=true",
    "q=Dog!&k=010",
    "q=dog&k=+5",
    "q=dog&k=%205",
    "q=dog&k=5.0",
    "q=dog&k=1_0",
    "q=dog&k=0",
    "q=dog&k=-1",
    "q=dog&k=100",
    "q=dog&k=101",
    "q=dog&k=1001",
    "q=dog&k=99999999999999999999",
    "q=dog&k=abc",
    "q=dog&k=",
    "q=dog&exclude_query_words=TRUE",
    "q=dog&exclude_query_words=yes&exact=On",
    "q=dog&exclude_query_words=0&exact=f",
    "q=dog&exact=maybe",
    "q=dog&exact=",
    "q=dog&exact=%20true",
    "q=dog&exact=true",
    "q=dog&q=cat",
    "q=dog&k=3&k=4",
    "q=dog&unknown=1",
    "q=",
    "q=+++",
    "q=" + "a" * 201,
    "q=" + "dog+" * 2600,
    "k=5",
    "",
    "q=zebra",
    "q=%E2%9C%93%F0%9F%90%B6+dog",
    "q=%FF%FEdog",
    "q=dog%00cat",
    "q=hot+dog+zebra&k=3",
]


@pytest.fixture(scope="module")
def clients(
    artifacts: Artifacts, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[TestClient, ...]]:
    from app.db.migrate import upgrade

    url = f"sqlite:///{tmp_path_factory.mktemp('fast-path') / 'app.db'}"
    upgrade(url)
    fast = create_app(make_settings(artifacts, url, fast_path=True))
    slow = create_app(make_settings(artifacts, url, fast_path=False))
    with (
        TestClient(fast, raise_server_exceptions=False) as f,
        TestClient(slow, raise_server_exceptions=False) as s,
    ):
        yield f, s


@pytest.mark.parametrize("query_string", QUERY_STRINGS)
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
    assert parse_k(None, 100) == 10
    assert [parse_k(raw, 100) for raw in ("1", "010", "100", "101", "0", "+1", " 1", "1.0", "\u0661")] == [
        1,
        10,
        100,
        None,
        None,
        None,
        None,
        None,
        None,
    ]
