"""The `POST /v1/feedback` fast path (app/feedback/fast_path.py): the route's answers and stored rows."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.db.migrate import upgrade
from app.feedback import fast_path
from app.main import create_app
from tests.app.conftest import Artifacts, make_settings
from tests.app.test_feedback import rows

Clients = tuple[TestClient, TestClient, str, str]  # fast path, route only, their database URLs
GOOD = {"query": "dog", "shown": ["puppy", "hound"], "clicked": ["puppy"], "session": "s-1"}
CASES: list[tuple[str, Any, dict[str, str]]] = [
    ("plain", GOOD, {}),
    ("no click", {"query": "red", "shown": ["orange"]}, {}),
    ("charset", GOOD, {"Content-Type": "application/json; charset=utf-8"}),
    ("other model", {**GOOD, "model": "w2v", "assignment": "w2v"}, {}),
    ("not shown", {**GOOD, "clicked": ["pizza"]}, {}),
    ("extra field", {**GOOD, "ip": "1.2.3.4"}, {}),
    ("empty query", {**GOOD, "query": " "}, {}),
    ("not json", b"query=dog", {"Content-Type": "application/json"}),
    ("json, other type", GOOD, {"Content-Type": "text/plain"}),
    ("array", [GOOD], {}),
    ("null", None, {}),
    ("unicode", {"query": "café", "shown": ["crème brûlée"], "clicked": ["crème brûlée"]}, {}),
]


@pytest.fixture
def clients(artifacts: Artifacts, tmp_path: Path) -> Iterator[Clients]:
    urls = []
    for name in ("fast", "slow"):
        url = f"sqlite:///{tmp_path / (name + '.db')}"
        upgrade(url)
        urls.append(url)
    fast = create_app(make_settings(artifacts, urls[0], fast_path=True))
    slow = create_app(make_settings(artifacts, urls[1], fast_path=False))
    with TestClient(fast) as f, TestClient(slow) as s:
        yield f, s, urls[0], urls[1]


def send(client: TestClient, body: Any, headers: dict[str, str]) -> Any:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return client.post(
        "/v1/feedback", content=content, headers={"Content-Type": "application/json", **headers}
    )


def test_the_fast_path_answers_and_stores_as_the_route_does(
    clients: Clients, monkeypatch: pytest.MonkeyPatch
) -> None:
    fast, slow, fast_url, slow_url = clients
    answered: list[int] = []
    original = fast_path.record_feedback

    async def spy(state: Any, body: Any) -> int:
        answered.append(1)
        return await original(state, body)

    monkeypatch.setattr(fast_path, "record_feedback", spy)
    accepted = 0
    for name, body, headers in CASES:
        a, b = send(fast, body, headers), send(slow, body, headers)
        assert (a.status_code, a.content) == (b.status_code, b.content), name
        assert a.headers["content-type"] == b.headers["content-type"], name
        accepted += a.status_code == 202
    assert accepted == len(answered) == 5  # every accepted record went through the fast path

    def stored(url: str) -> list[tuple[Any, ...]]:
        return [(r.id, r.query, r.shown, r.clicked, r.served_by, r.client, r.assignment) for r in rows(url)]

    assert stored(fast_url) == stored(slow_url)


def test_a_body_in_chunks_and_a_duplicate_content_type(
    clients: Clients,
) -> None:
    fast, _, fast_url, _ = clients
    data = json.dumps(GOOD).encode()
    r = fast.post(
        "/v1/feedback",
        content=iter([data[:7], data[7:20], data[20:]]),
        headers={"Content-Type": "application/json"},
    )
    assert r.status_code == 202 and r.json() == {"id": 1}
    twice = [("content-type", "application/json"), ("content-type", "text/plain")]
    r = fast.post("/v1/feedback", content=data, headers=twice)
    assert r.status_code == 202  # the route decides (FastAPI reads the first header): answered all the same
    assert [row.query for row in rows(fast_url)] == ["dog", "dog"]


def test_a_database_error_is_the_routes_503(artifacts: Artifacts, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'gone.db'}"
    upgrade(url)
    with TestClient(create_app(make_settings(artifacts, url))) as client:
        (tmp_path / "gone.db").unlink()
        r = send(client, GOOD, {})
        assert r.status_code == 503 and r.json()["error"]["code"] == "unavailable"
