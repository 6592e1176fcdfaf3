"""Evaluation-gated reloads (app/gate.py): a damaged index (shuffled vectors) is refused with 409 and the old
index keeps serving; an index that scores as well swaps; both evaluations are stored as runs; the decision
rule; one gate per model at a time; migration 0006 up and down on SQLite and PostgreSQL; real uvicorn."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from app.db.migrate import downgrade, upgrade
from app.db.session import make_engine
from app.gate import compare, reported
from app.main import create_app
from index.artifacts import load_embeddings, write_embeddings
from index.build import BuildConfig, build_index
from tests.app.conftest import AUTH, PHRASES, Artifacts, make_settings, serve

TRIPLETS = (
    "base\tpositive\tnegative\n"
    "dog\tpuppy\tpizza\ncat\tkitten\tblue\npizza\tburger\thorse\nred\torange\tbeach\nriver\tbeach\tsoup\n"
    "hound\tpony\tsalad\nsoup\tbread\tforest\ngreen\tyellow\tcity\nmountain\tforest\tpurple\n"
    "park\tstreet\tbrown\nsandwich\tsalad\tkitten\nhorse\tpuppy\tred\n"
)


@pytest.fixture(scope="module")
def damaged(artifacts: Artifacts) -> Path:
    """The served index's phrases over the same words with their vectors shuffled between words."""
    emb = load_embeddings(artifacts.embeddings)
    rng = np.random.default_rng(7)
    vectors = np.asarray(emb.vectors)[rng.permutation(len(emb.words))]
    root = artifacts.root / "gate-damaged"
    write_embeddings(
        root / "embeddings",
        list(emb.words),
        [int(c) for c in emb.counts],
        vectors,
        model_kind="word2vec",
        corpus={"name": "test-topics", "num_sentences": 0, "num_tokens": 0},
        training={"shuffled": True},
        metrics={},
        seed=7,
    )
    phrases = root / "phrases.txt"
    phrases.write_text("\n".join(list(emb.words) + PHRASES) + "\n", encoding="utf-8")
    out = root / "index"
    build_index(
        root / "embeddings", out, phrase_files=[phrases], config=BuildConfig(factory="Flat", progress=False)
    )
    return out


@pytest.fixture(scope="module")
def gate_spec(artifacts: Artifacts) -> dict[str, Any]:
    path = artifacts.root / "gate-benchmarks" / "triplets.tsv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(TRIPLETS, encoding="utf-8")
    return {"benchmarks": [{"name": "topics", "kind": "triplets", "path": str(path)}], "max_drop": 0.0}


def poll(get: Any, gate_id: int, timeout: float = 120.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body: dict[str, Any] = get(f"/v1/admin/reloads/{gate_id}", headers=AUTH).json()
        if body["status"] != "evaluating":
            return body
        time.sleep(0.2)
    raise AssertionError(f"gated reload {gate_id} undecided after {timeout} s")


def served_index(get: Any) -> str:
    return str(get("/v1/related", params={"q": "dog"}).json()["served_by"]["index"])


def test_compare_rule() -> None:
    def result(value: float | None, metric: str = "accuracy") -> dict[str, Any]:
        return {"primary_metric": metric, "metrics": {metric: value, "other": 0.5}}

    serving = {"a": result(0.8), "b": result(0.5, "spearman"), "c": result(None), "d": result(0.7)}
    candidate = {"a": result(0.8), "b": result(0.45, "spearman"), "c": result(0.1), "d": result(None)}
    rows = {r.benchmark: r for r in compare(serving, candidate, "primary", 0.0)}
    assert rows["a"].passed and rows["a"].drop == 0.0
    assert not rows["b"].passed and rows["b"].drop == pytest.approx(0.05) and rows["b"].metric == "spearman"
    assert rows["c"].passed and rows["c"].drop is None  # nothing served to compare with
    assert not rows["d"].passed  # the candidate cannot answer what the serving index could
    loose = {r.benchmark: r for r in compare(serving, candidate, "primary", 0.06)}
    assert loose["b"].passed and not loose["d"].passed
    assert all(r.passed and r.metric == "other" for r in compare(serving, candidate, "other", 0.0))
    assert [r.metric for r in compare(serving, candidate, "missing", 0.0)] == ["missing"] * 4
    assert reported(serving.values(), "primary") and reported(serving.values(), "other")
    assert not reported(serving.values(), "missing")  # the gate fails rather than pass on nothing


def test_a_damaged_index_is_refused_and_an_equal_one_swaps(
    artifacts: Artifacts, sqlite_url: str, damaged: Path, gate_spec: dict[str, Any]
) -> None:
    with TestClient(create_app(make_settings(artifacts, sqlite_url)), raise_server_exceptions=False) as c:
        r = c.post(
            "/v1/admin/reload",
            json={"index_dir": str(damaged), "gate": gate_spec, "wait": True},
            headers=AUTH,
        )
        assert r.status_code == 409, r.text
        gate = r.json()["error"]["detail"]
        assert gate["status"] == "refused" and gate["model"] == "default"
        [row] = gate["comparison"]
        assert row["benchmark"] == "topics" and row["metric"] == "accuracy" and not row["passed"]
        assert row["serving"] > 0.9 and row["drop"] == pytest.approx(row["serving"] - row["candidate"])
        assert row["drop"] > 0.2
        assert served_index(c.get) == "index-flat"  # the old index keeps serving
        assert c.get(f"/v1/admin/reloads/{gate['id']}", headers=AUTH).json()["status"] == "refused"
        runs = {
            role: c.get(f"/v1/evaluations/{gate[f'{role}_run_id']}", headers=AUTH).json()
            for role in ("serving", "candidate")
        }
        for role, run in runs.items():  # both stored as evaluation runs, linked to the gate
            assert run["status"] == "succeeded" and run["request"]["gate"] == {
                "id": gate["id"],
                "role": role,
                "model": "default",
            }
        assert runs["serving"]["results"][0]["metrics"]["accuracy"] == row["serving"]
        assert runs["candidate"]["results"][0]["metrics"]["accuracy"] == row["candidate"]
        assert 'mmwe_index_reloads_total{outcome="refused"}' in c.get("/metrics").text

        # The same embeddings under another index (more phrases, HNSW): no drop, so it swaps (async: 202).
        accepted = c.post(
            "/v1/admin/reload", json={"index_dir": "index-hnsw", "gate": gate_spec}, headers=AUTH
        )
        assert accepted.status_code == 202, accepted.text
        assert accepted.json()["status"] == "evaluating"
        assert served_index(c.get) == "index-flat"  # nothing changes until the gate passes
        done = poll(c.get, accepted.json()["id"])
        assert done["status"] == "swapped", done
        assert done["comparison"][0]["drop"] == 0.0 and done["comparison"][0]["passed"]
        assert served_index(c.get) == "index-hnsw"


def test_gate_refuses_bad_requests_at_once(
    artifacts: Artifacts, sqlite_url: str, tmp_path: Path, gate_spec: dict[str, Any]
) -> None:
    broken = artifacts.root / f"gate-broken-{tmp_path.name}"
    broken.mkdir()
    (broken / "manifest.json").write_text("{")
    with TestClient(create_app(make_settings(artifacts, sqlite_url)), raise_server_exceptions=False) as c:
        cases = [
            ({"index_dir": str(broken), "gate": gate_spec}, 422),  # does not load
            ({"index_dir": "index-hnsw", "gate": {"suite": "nope"}}, 422),
            (
                {
                    "index_dir": "index-hnsw",
                    "gate": {"suite": "default", "benchmarks": gate_spec["benchmarks"]},
                },
                422,
            ),
            ({"index_dir": "index-hnsw", "gate": {"max_drop": -1}}, 422),
            ({"index_dir": "index-hnsw", "gate": {"metric": ""}}, 422),
            (
                {
                    "index_dir": "index-hnsw",
                    "gate": {"benchmarks": [{"name": "x", "kind": "triplets", "path": "/etc/passwd"}]},
                },
                403,
            ),
            ({"index_dir": str(tmp_path), "gate": gate_spec}, 403),
            ({"index_dir": "index-hnsw", "model": "nope", "gate": gate_spec}, 404),
        ]
        for body, status in cases:
            r = c.post("/v1/admin/reload", json=body, headers=AUTH)
            assert r.status_code == status, (body, r.text)
        first = c.post("/v1/admin/reload", json={"index_dir": "index-hnsw", "gate": gate_spec}, headers=AUTH)
        assert first.status_code == 202
        second = c.post("/v1/admin/reload", json={"index_dir": "index-hnsw", "gate": gate_spec}, headers=AUTH)
        assert second.status_code == 409 and second.json()["error"]["detail"]["gate"] == first.json()["id"]
        assert c.get("/v1/admin/reloads/999", headers=AUTH).status_code == 404
        assert c.get(f"/v1/admin/reloads/{first.json()['id']}").status_code == 401
        assert poll(c.get, first.json()["id"])["status"] == "swapped"
        assert served_index(c.get) == "index-hnsw"


def test_a_gate_that_cannot_decide_fails_and_the_old_index_serves(
    artifacts: Artifacts, sqlite_url: str, gate_spec: dict[str, Any]
) -> None:
    with TestClient(create_app(make_settings(artifacts, sqlite_url)), raise_server_exceptions=False) as c:
        body = {"index_dir": "index-hnsw", "gate": {**gate_spec, "metric": "no_such_metric"}, "wait": True}
        r = c.post("/v1/admin/reload", json=body, headers=AUTH)
        assert r.status_code == 422, r.text
        gate = r.json()["error"]["detail"]
        assert gate["status"] == "failed" and "no_such_metric" in gate["error"]
        assert served_index(c.get) == "index-flat"
        # a failed gate does not block the next one
        r = c.post("/v1/admin/reload", json={**body, "gate": gate_spec}, headers=AUTH)
        assert r.status_code == 200 and r.json()["status"] == "swapped", r.text


def test_a_gate_undecided_at_shutdown_fails(
    artifacts: Artifacts, sqlite_url: str, gate_spec: dict[str, Any]
) -> None:
    with TestClient(create_app(make_settings(artifacts, sqlite_url)), raise_server_exceptions=False) as c:
        r = c.post("/v1/admin/reload", json={"index_dir": "index-hnsw", "gate": gate_spec}, headers=AUTH)
        assert r.status_code == 202
    engine = make_engine(sqlite_url)
    with engine.connect() as conn:
        status, error = conn.execute(sa.text("SELECT status, error FROM gated_reloads")).one()
    engine.dispose()
    assert status == "failed" and error.startswith("interrupted")
    with TestClient(create_app(make_settings(artifacts, sqlite_url)), raise_server_exceptions=False) as c:
        assert served_index(c.get) == "index-flat"


def test_a_candidate_changed_after_its_evaluation_is_not_swapped(
    artifacts: Artifacts, sqlite_url: str, tmp_path: Path, gate_spec: dict[str, Any]
) -> None:
    import json
    import shutil

    candidate = artifacts.root / f"gate-changing-{tmp_path.name}"
    shutil.copytree(artifacts.index_hnsw, candidate)
    app = create_app(make_settings(artifacts, sqlite_url))
    with TestClient(app, raise_server_exceptions=False) as c:
        r = c.post("/v1/admin/reload", json={"index_dir": str(candidate), "gate": gate_spec}, headers=AUTH)
        assert r.status_code == 202
        manifest = candidate / "manifest.json"  # rewritten while it is evaluated: another index now
        manifest.write_text(json.dumps(json.loads(manifest.read_text()), indent=1), encoding="utf-8")
        done = poll(c.get, r.json()["id"])
        assert done["status"] == "failed" and "changed since it was evaluated" in done["error"], done
        assert served_index(c.get) == "index-flat"
        good = app.state.holder.snapshots.last_good()
        assert good is not None and good[0] == artifacts.index  # the fallback is still the serving index


def test_a_gated_reload_of_a_named_model(
    artifacts: Artifacts, sqlite_url: str, damaged: Path, gate_spec: dict[str, Any]
) -> None:
    settings = make_settings(artifacts, sqlite_url, indexes="flat=index-flat,other=index-flat")
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        body = {"index_dir": str(damaged), "model": "other", "gate": gate_spec, "wait": True}
        r = c.post("/v1/admin/reload", json=body, headers=AUTH)
        assert r.status_code == 409 and r.json()["error"]["detail"]["model"] == "other"
        body = {"index_dir": "index-hnsw", "model": "other", "gate": gate_spec, "wait": True}
        r = c.post("/v1/admin/reload", json=body, headers=AUTH)
        assert r.status_code == 200 and r.json()["status"] == "swapped", r.text
        assert (
            c.get("/v1/related", params={"q": "dog", "model": "other"}).json()["served_by"]["index"]
            == "index-hnsw"
        )
        assert served_index(c.get) == "index-flat"  # the default model is untouched


def test_migration_0006_upgrade_and_downgrade(database_url: str) -> None:
    upgrade(database_url, "0005")
    upgrade(database_url, "0006")
    engine = make_engine(database_url)
    inspector = sa.inspect(engine)
    assert "gated_reloads" in inspector.get_table_names()
    assert "ix_gated_reloads_status" in {i["name"] for i in inspector.get_indexes("gated_reloads")}
    engine.dispose()
    downgrade(database_url, "0005")
    engine = make_engine(database_url)
    assert "gated_reloads" not in sa.inspect(engine).get_table_names()
    assert {"evaluation_runs", "feedback", "served_index"} <= set(sa.inspect(engine).get_table_names())
    engine.dispose()


@pytest.mark.slow
def test_gated_reload_on_real_uvicorn(
    artifacts: Artifacts, tmp_path: Path, damaged: Path, gate_spec: dict[str, Any]
) -> None:
    """Two workers: a refused gate leaves both on the old index; a passed one moves both to the new."""
    url = f"sqlite:///{tmp_path / 'live.db'}"
    upgrade(url)
    with (
        serve(artifacts, tmp_path, url, workers=2) as server,
        httpx.Client(base_url=server.url, timeout=60) as c,
    ):
        r = c.post(
            "/v1/admin/reload",
            json={"index_dir": str(damaged), "gate": gate_spec, "wait": True},
            headers=AUTH,
        )
        assert r.status_code == 409, r.text
        assert {served_index(c.get) for _ in range(20)} == {"index-flat"}
        accepted = c.post(
            "/v1/admin/reload", json={"index_dir": "index-hnsw", "gate": gate_spec}, headers=AUTH
        )
        assert accepted.status_code == 202, accepted.text
        assert poll(c.get, accepted.json()["id"])["status"] == "swapped"
        deadline = time.monotonic() + 30
        while {served_index(c.get) for _ in range(20)} != {"index-hnsw"}:  # the other worker follows
            assert time.monotonic() < deadline, "a worker did not follow the gated swap"
            time.sleep(0.2)
