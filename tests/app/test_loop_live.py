"""The paper's loop inside the service, end to end over real HTTP (`python -m app serve --workers 2`, issue 17
acceptance): two named models share `GET /v1/related` by an A/B split; simulated users click the on-topic
related phrases of whatever model served them, and the feedback records the model and arm; the admin builds a
click benchmark; evaluations on it rank the model whose suggestions the users clicked first; a gated reload
of a deliberately damaged index (shuffled vectors) onto that model is refused with 409 while it keeps
serving, and a gated reload of an equally good index swaps."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.db.migrate import upgrade
from tests.app.conftest import AUTH, TOPICS, Artifacts, serve, wait_for
from tests.app.test_benchmarks_api import shuffled_index
from tests.app.test_feedback_live import topic_of

pytestmark = pytest.mark.slow  # two uvicorn workers, four evaluation runs

WORDS = [w for ws in TOPICS.values() for w in ws]


def user(base: str, number: int) -> list[tuple[str, str | None]]:
    """One user (one client id): search every topic word, click the on-topic hits, report what served."""
    served = []
    with httpx.Client(base_url=base, timeout=30, headers={"X-Client-Id": f"user-{number}"}) as c:
        for query in WORDS:
            r = c.get("/v1/related", params={"q": query, "k": 8})
            body = r.json()
            assert r.headers["x-mmwe-model"] == body["served_by"]["model"] == body["assignment"]
            hits = [h["phrase"] for h in body["results"]]
            clicked = [h for h in hits if topic_of(h) == topic_of(query)][:2]
            item = {"query": query, "shown": hits, "clicked": clicked, "session": f"user-{number}"}
            item |= {"model": body["served_by"]["model"], "assignment": body["assignment"]}
            assert c.post("/v1/feedback", json=item).status_code == 202
            served.append((body["served_by"]["model"], body["assignment"]))
    return served


def evaluate(c: httpx.Client, suite: str, model: str) -> float:
    run_id = c.post("/v1/admin/evaluations", params={"model": model}, json={"suite": suite}).json()["id"]
    done: dict[str, Any] = {}

    def finished() -> bool:
        done.update(c.get(f"/v1/evaluations/{run_id}").json())
        return done["status"] in ("succeeded", "failed")

    wait_for(finished, timeout=120, interval=0.2)
    assert done["status"] == "succeeded", done
    return float(done["results"][0]["metrics"]["accuracy"])


def test_clicks_rank_the_clicked_model_first_and_gate_the_swap(artifacts: Artifacts, tmp_path: Path) -> None:
    shuffled = shuffled_index(artifacts, artifacts.root / f"shuffled-loop-{tmp_path.name}")
    url = f"sqlite:///{tmp_path / 'live.db'}"
    upgrade(url)
    env = {
        "MMWE_INDEXES": f"good={artifacts.index},bad={shuffled}",
        "MMWE_AB_SPLIT": "good:50,bad:50",
        "MMWE_EVAL_POLL_SECONDS": "0.2",
    }
    with serve(artifacts, tmp_path, url, workers=2, **env) as server:
        with ThreadPoolExecutor(6) as pool:
            served = [s for got in pool.map(lambda n: user(server.url, n), range(8)) for s in got]
        per_model = Counter(model for model, _ in served)
        assert set(per_model) == {"good", "bad"}  # 8 users split between the two models
        with httpx.Client(base_url=server.url, timeout=60, headers=AUTH) as c:
            r = c.post("/v1/admin/benchmarks", json={"name": "loop-clicks", "from": "feedback", "seed": 1})
            assert r.status_code == 201, r.text
            good, bad = evaluate(c, "loop-clicks", "good"), evaluate(c, "loop-clicks", "bad")
            assert good > 0.8 and good - bad > 0.2, (good, bad)  # the clicked model ranks first

            body = {
                "index_dir": str(shuffled),
                "model": "good",
                "gate": {"suite": "loop-clicks"},
                "wait": True,
            }
            refused = c.post("/v1/admin/reload", json=body)
            assert refused.status_code == 409, refused.text
            [row] = refused.json()["error"]["detail"]["comparison"]
            assert row["serving"] == pytest.approx(good) and row["candidate"] == pytest.approx(bad)
            for _ in range(10):  # both workers still serve the good index for the model
                answer = c.get("/v1/related", params={"q": "dog", "model": "good"}).json()
                assert answer["served_by"]["index"] == artifacts.index.name

            body = {"index_dir": str(artifacts.index_hnsw), "model": "good", "gate": {"suite": "loop-clicks"}}
            accepted = c.post("/v1/admin/reload", json={**body, "wait": True})
            assert accepted.status_code == 200 and accepted.json()["status"] == "swapped", accepted.text

            def moved() -> bool:
                seen = {
                    c.get("/v1/related", params={"q": "dog", "model": "good"}).json()["served_by"]["index"]
                    for _ in range(10)
                }
                return seen == {artifacts.index_hnsw.name}

            wait_for(moved, timeout=30)
