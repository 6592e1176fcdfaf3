"""Three replicas behind nginx on one machine (issue 19): separate `python -m app serve` processes (1 worker
each, their own ports) sharing one PostgreSQL schema and one artifact directory, nginx from Debian in front
(tests/app/balancer.py, the deployment's proxy settings). Under a steady query load through the balancer:
a reload through one replica reaches all three; one replica is killed (SIGKILL), a second reload through
another completes without it (its row goes stale), and the killed one, restarted with the old index
configured, comes up on the desired one. Not one query fails through the balancer.

Run: `python -m pytest tests/app/test_replicas.py` (needs nginx: `make system-deps-test`, and PostgreSQL).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.app.balancer import balancer, nginx_binary
from tests.app.conftest import AUTH, Artifacts, LiveServer, free_port, serve, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.postgres]  # four server starts (~20-40 s)

POLL_S = 0.2  # MMWE_REPLICA_POLL_SECONDS
STALE_S = 3.0  # MMWE_REPLICA_STALE_SECONDS
# docs/deployment.md: a replica serves a new generation within MMWE_REPLICA_POLL_SECONDS plus its load time
# (these indexes load in well under a second); the bound below leaves room for a busy 2-core machine.
CONVERGE_S = 15.0


class Load:
    """GET /v1/related through the balancer in a loop, on two threads; counts every outcome."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.outcomes: Counter[str] = Counter()
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(2)]

    def _run(self) -> None:
        with httpx.Client(timeout=10) as c:
            while not self._stop.is_set():
                try:
                    r = c.get(self.url + "/v1/related", params={"q": "dog", "k": 3})
                    outcome = str(r.status_code)
                    if r.status_code != 200:
                        self.failures.append(f"{r.status_code}: {r.text[:300]}")
                except httpx.HTTPError as exc:
                    outcome = type(exc).__name__
                    self.failures.append(repr(exc))
                self.outcomes[outcome] += 1
                time.sleep(0.01)

    def __enter__(self) -> Load:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(15)


def info(server: str) -> dict[str, Any]:
    with httpx.Client(timeout=10) as c:
        r = c.get(server + "/v1/info", headers=AUTH)
    assert r.status_code == 200, r.text
    data: dict[str, Any] = r.json()["index"]
    return data


def replicas(url: str) -> dict[str, Any]:
    with httpx.Client(timeout=10) as c:
        r = c.get(url + "/v1/admin/replicas", headers=AUTH)
    assert r.status_code == 200, r.text
    data: dict[str, Any] = r.json()
    return data


def reload(server: str, index_dir: Path) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    with httpx.Client(timeout=60) as c:
        r = c.post(server + "/v1/admin/reload", json={"index_dir": str(index_dir)}, headers=AUTH)
    return r, time.monotonic() - started


@pytest.fixture
def replica_env(tmp_path: Path) -> dict[str, str]:
    return {
        "MMWE_REPLICA_POLL_SECONDS": str(POLL_S),
        "MMWE_REPLICA_STALE_SECONDS": str(STALE_S),
        "MMWE_REPLICA_GRACE_SECONDS": "10",
        "MMWE_INDEX_ROOTS": str(tmp_path),
        "MMWE_RELOAD_WAIT_S": "30",
    }


def test_three_replicas_converge_behind_nginx(
    artifacts: Artifacts, tmp_path: Path, migrated_postgres_url: str, replica_env: dict[str, str]
) -> None:
    if nginx_binary() is None:
        pytest.skip("nginx is not installed (`make system-deps-test` installs nginx-light)")
    second = tmp_path / "index-v2"
    shutil.copytree(artifacts.index_hnsw, second)
    ports = [free_port() for _ in range(3)]

    def start(port: int) -> contextlib.AbstractContextManager[LiveServer]:
        return serve(artifacts, tmp_path, migrated_postgres_url, workers=1, port=port, **replica_env)

    with contextlib.ExitStack() as stack:
        servers = [stack.enter_context(start(p)) for p in ports]
        lb = stack.enter_context(balancer(tmp_path / "nginx", ports))
        wait_for(lambda: sum(r["live"] for r in replicas(lb)["replicas"]) == 3, timeout=30, interval=0.2)
        with Load(lb) as load:
            time.sleep(1.0)
            # 1. a reload through replica 0 reaches every replica before the answer
            r, took = reload(servers[0].url, artifacts.index_hnsw)
            assert r.status_code == 200, r.text
            body = r.json()
            assert body["complete"] and body["index"]["generation"] == 1 and body["status_url"] is None
            assert took < CONVERGE_S, took
            assert (
                sorted((x["generation"], x["live"], x["current"]) for x in body["replicas"])
                == [(1, 1, 1)] * 3
            )
            for s in servers:
                assert info(s.url)["path"] == str(artifacts.index_hnsw)
            # 2. replica 1 dies; a reload through replica 2 completes once its row goes stale
            killed = servers[1]
            os.kill(killed.proc.pid, signal.SIGKILL)
            killed.proc.wait(10)
            time.sleep(0.5)
            r, took = reload(servers[2].url, second)
            assert r.status_code == 200, r.text
            body = r.json()
            assert body["complete"] and body["index"]["generation"] == 2
            rows = {x["pid"]: x for x in body["replicas"]}
            assert not rows[killed.proc.pid]["live"] and rows[killed.proc.pid]["generation"] == 1
            assert all(x["generation"] == 2 for x in rows.values() if x["live"])
            assert took < CONVERGE_S + STALE_S, took
            # 3. restarted with the Flat index configured, it comes up on the desired index (generation 2)
            restarted = stack.enter_context(start(ports[1]))
            served = info(restarted.url)
            assert served["path"] == str(second) and served["generation"] == 2
            with httpx.Client(timeout=10) as c:
                assert c.get(restarted.url + "/readyz").status_code == 200
            time.sleep(1.0)  # queries reach it through the balancer again
        state = replicas(lb)
        live = [x for x in state["replicas"] if x["live"]]
        assert len(live) == 3 and all(x["generation"] == 2 and x["current"] for x in live), state
        assert state["desired"][0]["generation"] == 2 and state["desired"][0]["index_dir"] == str(second)
    assert not load.failures, (load.failures[:5], load.outcomes)
    assert load.outcomes["200"] > 100, load.outcomes
