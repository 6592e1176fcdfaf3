"""The click loop over real HTTP (`python -m app serve --workers 2`): simulated users search, click the
related phrases of their query's topic, and the feedback of both workers lands in the database; the admin
builds a click benchmark from it, and an evaluation on it ranks the served model (whose neighbours the users
clicked) above a reloaded model with the same vocabulary and shuffled vectors."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.db.migrate import upgrade
from tests.app.conftest import AUTH, TOPICS, Artifacts, serve, wait_for
from tests.app.test_benchmarks_api import shuffled_index

pytestmark = pytest.mark.slow  # two uvicorn workers and two evaluation runs


def topic_of(phrase: str) -> str | None:
    """The topic all of a phrase's words belong to (None: mixed or unknown)."""
    topics = [next((t for t, words in TOPICS.items() if word in words), None) for word in phrase.split()]
    return topics[0] if len(set(topics)) == 1 else None


def user(base: str, number: int, queries: list[str]) -> list[int]:
    """One user on their own connection: search each query, click its on-topic hits (at most two)."""
    ids = []
    with httpx.Client(base_url=base, timeout=30) as c:
        for query in queries:
            hits = [h["phrase"] for h in c.get("/v1/related", params={"q": query, "k": 8}).json()["results"]]
            clicked = [h for h in hits if topic_of(h) == topic_of(query)][:2]
            body = {"query": query, "shown": hits, "clicked": clicked, "session": f"user-{number}"}
            r = c.post("/v1/feedback", json=body)
            assert r.status_code == 202, r.text
            ids.append(r.json()["id"])
    return ids


def evaluate(base: str, suite: str) -> dict[str, Any]:
    with httpx.Client(base_url=base, timeout=30, headers=AUTH) as c:
        run_id = c.post("/v1/admin/evaluations", json={"suite": suite}).json()["id"]
        done: dict[str, Any] = {}

        def finished() -> bool:
            done.update(c.get(f"/v1/evaluations/{run_id}").json())
            return done["status"] in ("succeeded", "failed")

        wait_for(finished, timeout=120, interval=0.2)
    assert done["status"] == "succeeded", done
    return done


def test_users_clicks_build_a_benchmark_that_ranks_the_clicked_model_first(
    artifacts: Artifacts, tmp_path: Path
) -> None:
    shuffled = shuffled_index(artifacts, artifacts.root / f"shuffled-live-{tmp_path.name}")
    url = f"sqlite:///{tmp_path / 'live.db'}"
    upgrade(url)
    words = [w for ws in TOPICS.values() for w in ws]
    with serve(artifacts, tmp_path, url, workers=2, MMWE_EVAL_POLL_SECONDS="0.2") as server:
        with ThreadPoolExecutor(6) as pool:
            ids = [i for got in pool.map(lambda n: user(server.url, n, words), range(6)) for i in got]
        assert len(set(ids)) == 6 * len(words)
        with httpx.Client(base_url=server.url, timeout=30, headers=AUTH) as c:
            export = c.get("/v1/admin/feedback/export").text.splitlines()
            assert len(export) == 1 + 6 * len(words) * 8
            r = c.post("/v1/admin/benchmarks", json={"name": "live-clicks", "from": "feedback", "seed": 1})
            assert r.status_code == 201, r.text
            bench = r.json()
            assert bench["feedback_records"] == 6 * len(words) and bench["rows"] > len(words)
        clicked = evaluate(server.url, "live-clicks")
        with httpx.Client(base_url=server.url, timeout=60, headers=AUTH) as c:
            assert c.post("/v1/admin/reload", json={"index_dir": str(shuffled)}).status_code == 200
            assert c.get("/v1/related", params={"q": "dog"}).json()["served_by"]["index"] == shuffled.name
        other = evaluate(server.url, "live-clicks")
    good = clicked["results"][0]["metrics"]["accuracy"]
    bad = other["results"][0]["metrics"]["accuracy"]
    assert clicked["results"][0]["dataset_sha256"] == bench["sha256"] == other["results"][0]["dataset_sha256"]
    assert good > 0.85 and good - bad > 0.2, (good, bad)
