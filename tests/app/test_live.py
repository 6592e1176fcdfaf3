"""The service over real HTTP: `python -m app serve --workers 2` on a free port (see `live_server`)."""

from __future__ import annotations

import re
import time
from datetime import datetime
from typing import Any

import httpx
import pytest

from tests.app.conftest import AUTH, Artifacts, LiveServer, wait_for

pytestmark = pytest.mark.slow  # starts two uvicorn worker processes (several seconds)


def fresh_get(url: str, headers: dict[str, str] | None = None, **params: Any) -> httpx.Response:
    """One request on a new connection, so that either worker may accept it."""
    with httpx.Client(timeout=10) as c:
        return c.get(url, params=params, headers=headers)


def test_queries_over_http(live_server: LiveServer) -> None:
    r = fresh_get(live_server.url + "/v1/related", q="puppy", k=3)
    assert r.status_code == 200 and len(r.json()["results"]) == 3
    r = fresh_get(live_server.url + "/v1/related", q="zebra")
    assert r.status_code == 422 and r.json()["error"]["code"] == "unanswerable_query"
    with httpx.Client(timeout=10) as c:
        r = c.post(live_server.url + "/v1/related/batch", json={"queries": ["dog", "cat"] * 200, "k": 2})
        assert r.status_code == 200 and len(r.json()["results"]) == 400


def test_reload_reaches_every_worker_and_metrics_add_up(
    live_server: LiveServer, artifacts: Artifacts
) -> None:
    pids_before = set()

    def both_workers_seen() -> bool:
        r = fresh_get(live_server.url + "/v1/info", AUTH)  # a worker still starting answers 503
        if r.status_code == 200:
            pids_before.add(r.json()["worker_pid"])
        return len(pids_before) == 2

    wait_for(both_workers_seen, timeout=30, interval=0)
    with httpx.Client(timeout=30) as c:
        r = c.post(
            live_server.url + "/v1/admin/reload", json={"index_dir": str(artifacts.index_hnsw)}, headers=AUTH
        )
    assert r.status_code == 200, r.text
    time.sleep(1.0)  # > MMWE_RELOAD_POLL_SECONDS (0.2) plus the load
    seen: dict[int, str] = {}

    def every_worker_on_the_new_index() -> bool:
        info = fresh_get(live_server.url + "/v1/info", AUTH).json()  # pids and paths: admin only
        seen[info["worker_pid"]] = info["index"]["path"]
        return len(seen) == 2

    wait_for(every_worker_on_the_new_index, timeout=30, interval=0)
    assert set(seen.values()) == {str(artifacts.index_hnsw)}, seen
    with httpx.Client(timeout=30) as c:
        r = c.post(
            live_server.url + "/v1/admin/reload", json={"index_dir": str(artifacts.index)}, headers=AUTH
        )
    assert r.status_code == 200

    n = 30
    for _ in range(n):
        assert fresh_get(live_server.url + "/v1/similarity", a="dog", b="cat").status_code == 200
    text = fresh_get(live_server.url + "/metrics").text
    total = sum(
        float(m.group(1))
        for m in re.finditer(
            r'^mmwe_http_requests_total\{method="GET",route="/v1/similarity",status="200"\} (\S+)$',
            text,
            re.M,
        )
    )
    assert total == n, text  # both workers' counts, aggregated
    assert re.search(r"^mmwe_index_phrases \d", text, re.M)
    assert re.search(r'^mmwe_http_request_duration_seconds_bucket\{.*route="/v1/similarity"', text, re.M)


def test_evaluations_over_http_run_one_at_a_time(live_server: LiveServer) -> None:
    """Two runs (likely taken by different workers) both succeed, and never run at the same time."""
    ids = []
    for _ in range(2):
        with httpx.Client(timeout=30) as c:
            r = c.post(live_server.url + "/v1/admin/evaluations", json={"suite": "similarity"}, headers=AUTH)
        assert r.status_code == 202, r.text
        ids.append(r.json()["id"])

    def finished() -> bool:
        runs = [fresh_get(f"{live_server.url}/v1/evaluations/{i}").json() for i in ids]
        return all(run["status"] in ("succeeded", "failed") for run in runs)

    wait_for(finished, timeout=120, interval=0.2)
    runs = [fresh_get(f"{live_server.url}/v1/evaluations/{i}").json() for i in ids]
    for run in runs:
        assert run["status"] == "succeeded", run["error"]
        assert [b["benchmark"] for b in run["results"]] == ["ws353", "simlex999"]
    first, second = sorted(runs, key=lambda run: run["started_at"])
    assert datetime.fromisoformat(first["finished_at"]) <= datetime.fromisoformat(second["started_at"])
