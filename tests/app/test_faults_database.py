"""Fault injection, the database (issue 14, item 12): a PostgreSQL that accepts connections and never answers
(a local TCP listener), a read-only and a deleted SQLite file.

Query routes never wait for the database; routes that need it answer 503 with the reason within
MMWE_DB_TIMEOUT_S (never 500), and /readyz says what is wrong.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from tests.app.conftest import Artifacts, make_settings, serve


@pytest.fixture
def blackhole() -> Iterator[int]:
    """A TCP port that accepts connections and never answers: a hung PostgreSQL."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(512)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield int(server.getsockname()[1])
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    server.close()


@pytest.mark.slow
def test_a_hung_postgresql_never_slows_query_routes(
    artifacts: Artifacts, tmp_path: Path, blackhole: int
) -> None:
    """200 concurrent database-backed requests (/v1/info, /readyz, /metrics, /v1/evaluations) against a
    PostgreSQL that never answers used to fill the shared thread pool for 5 s each, so /v1/map took 14.7 s."""
    url = f"postgresql://mmwe@127.0.0.1:{blackhole}/mmwe"
    env = {"MMWE_DB_TIMEOUT_S": "1", "MMWE_TEST_NOT_READY": "1"}
    with serve(artifacts, tmp_path, url, **env) as s:
        for path in ("/v1/map?q=dog", "/v1/related?q=dog&k=3", "/v1/similarity?a=dog&b=cat"):
            for _ in range(4):  # both workers warm (the map's layout is computed once per worker)
                assert httpx.get(s.url + path, timeout=60).status_code == 200

        async def storm() -> tuple[list[httpx.Response], dict[str, float]]:
            async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=300)) as c:
                paths = ["/v1/info", "/readyz", "/metrics", "/v1/evaluations"] * 50
                pending = [asyncio.create_task(c.get(s.url + p)) for p in paths]
                await asyncio.sleep(0.5)  # the storm is in flight
                quick: dict[str, float] = {}
                async with httpx.AsyncClient(timeout=60) as q:
                    for path in ("/v1/map?q=dog", "/v1/related?q=dog&k=3", "/v1/similarity?a=dog&b=cat"):
                        t0 = time.perf_counter()
                        r = await q.get(s.url + path)
                        assert r.status_code == 200, (path, r.text)
                        quick[path] = time.perf_counter() - t0
                return list(await asyncio.gather(*pending)), quick

        t0 = time.perf_counter()
        answers, quick = asyncio.run(storm())
        storm_s = time.perf_counter() - t0
    assert all(v < 2.0 for v in quick.values()), quick
    by_path: dict[str, set[int]] = {}
    for r in answers:
        by_path.setdefault(r.request.url.path, set()).add(r.status_code)
    assert by_path["/v1/info"] == {200}  # without `latest_evaluation`, saying why
    assert by_path["/readyz"] == {503}
    assert by_path["/metrics"] == {200}
    assert by_path["/v1/evaluations"] == {503}  # never 500
    assert storm_s < 60


def test_readyz_is_red_on_a_read_only_sqlite_file(artifacts: Artifacts, sqlite_url: str) -> None:
    """A read-only file (or mount) answers reads: /readyz used to stay green while every write failed."""
    path = sqlite_url.removeprefix("sqlite:///")
    ro = f"sqlite:///file:{path}?mode=ro&uri=true"
    with TestClient(create_app(make_settings(artifacts, ro))) as c:
        r = c.get("/readyz")
        assert r.status_code == 503 and "read-only" in r.json()["database"]["detail"], r.text
        assert c.get("/v1/related", params={"q": "dog"}).status_code == 200


def test_a_deleted_sqlite_file_is_503_never_500(artifacts: Artifacts, sqlite_url: str) -> None:
    with TestClient(create_app(make_settings(artifacts, sqlite_url)), raise_server_exceptions=False) as c:
        assert c.get("/readyz").status_code == 200
        Path(sqlite_url.removeprefix("sqlite:///")).unlink()
        r = c.get("/readyz")
        assert r.status_code == 503 and "missing" in r.json()["database"]["detail"], r.text
        for path in ("/v1/evaluations", "/v1/evaluations/1"):
            r = c.get(path)
            assert r.status_code == 503 and r.json()["error"]["code"] == "unavailable", (path, r.text)
            assert "database" in r.json()["error"]["message"]
        assert c.get("/v1/related", params={"q": "dog"}).status_code == 200
        assert c.get("/v1/info").json()["database"]["ok"] is False
