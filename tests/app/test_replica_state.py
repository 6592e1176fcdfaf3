"""The replicas' desired state (app/replicas.py) on SQLite and PostgreSQL, without HTTP: generations, reports,
liveness, following, a failed load, the readiness grace, start-up; migration 0005 up and down."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from app.db.access import Database
from app.db.migrate import downgrade, upgrade
from app.replicas import DEFAULT_MODEL, ReplicaSync, bump_desired, forget, list_replicas, read_desired, report
from app.replicas import Report as Row
from app.serving import IndexHolder
from tests.app.conftest import Artifacts


@pytest.fixture
def database(migrated_database_url: str) -> Iterator[Database]:
    db = Database(migrated_database_url, timeout_s=5.0, threads=2)
    yield db
    db.close()


def make_sync(database: Database, holder: IndexHolder, name: str, grace_s: float = 30.0) -> ReplicaSync:
    return ReplicaSync(
        database, lambda: {DEFAULT_MODEL: holder}, name, poll_s=0.1, grace_s=grace_s, stale_s=5.0
    )


def test_generations_grow_per_model(database: Database, tmp_path: Path) -> None:
    assert database.call(read_desired) == {}
    assert database.call(lambda s: bump_desired(s, "default", tmp_path / "a", "r1")) == 1
    assert database.call(lambda s: bump_desired(s, "default", tmp_path / "b", "r2")) == 2
    assert database.call(lambda s: bump_desired(s, "w2v", tmp_path / "c", None)) == 1
    desired = database.call(read_desired)
    assert {m: (d.index_dir, d.generation, d.updated_by) for m, d in desired.items()} == {
        "default": (tmp_path / "b", 2, "r2"),
        "w2v": (tmp_path / "c", 1, None),
    }
    assert desired["default"].updated_at.tzinfo is not None


def test_reports_are_upserted_and_judged_live_or_stale(database: Database) -> None:
    from app.db.models import utcnow

    started = utcnow()
    row = Row("launch:1", "default", "host-a", 1, started, "/idx", 3, None)
    database.call(lambda s: report(s, [row, Row("launch:1", "w2v", "host-a", 1, started, None, 0, "boom")]))
    database.call(lambda s: report(s, [Row("launch:1", "default", "host-a", 1, started, "/idx2", 4, None)]))
    rows = database.call(lambda s: list_replicas(s, stale_s=5.0))
    assert [(r.model, r.index_dir, r.generation, r.last_error, r.live) for r in rows] == [
        ("default", "/idx2", 4, None, True),
        ("w2v", None, 0, "boom", True),
    ]
    assert [r.model for r in database.call(lambda s: list_replicas(s, 5.0, "w2v"))] == ["w2v"]
    time.sleep(0.2)
    assert not any(r.live for r in database.call(lambda s: list_replicas(s, stale_s=0.1)))
    assert database.call(lambda s: forget(s, older_than_s=3600)) == 0
    assert database.call(lambda s: forget(s, older_than_s=0.1)) == 2
    assert database.call(lambda s: list_replicas(s, 5.0)) == []


def test_replicas_converge_and_one_that_cannot_load_keeps_its_index(
    database: Database, artifacts: Artifacts, tmp_path: Path
) -> None:
    a, b = IndexHolder(), IndexHolder()
    a.load_initial(artifacts.index)
    b.load_initial(artifacts.index)
    sync_a, sync_b = make_sync(database, a, "r:a"), make_sync(database, b, "r:b", grace_s=0.3)
    for sync in (sync_a, sync_b):
        sync.tick()
    # a reload through A: loaded there first, then recorded (generation 1), then swapped
    a.reload(artifacts.index_hnsw, lambda: sync_a.publish(DEFAULT_MODEL, artifacts.index_hnsw))
    assert a.generation == 1 and a.source == artifacts.index_hnsw
    assert b.generation == 0
    sync_b.tick()
    assert b.generation == 1 and b.source == artifacts.index_hnsw and b.current is not None
    sync_a.report()
    rows = database.call(lambda s: list_replicas(s, 5.0))
    assert {(r.id, r.generation, r.index_dir) for r in rows} == {
        ("r:a", 1, str(artifacts.index_hnsw)),
        ("r:b", 1, str(artifacts.index_hnsw)),
    }
    # generation 2 names an index B cannot read (say, not on its volume): B keeps generation 1 and says why
    broken = tmp_path / "broken"
    shutil.copytree(artifacts.index, broken)
    (broken / "index.faiss").write_bytes(b"not an index")
    assert sync_a.publish(DEFAULT_MODEL, broken) == 2
    sync_b.tick()
    assert b.generation == 1 and b.source == artifacts.index_hnsw
    assert b.current is not None and b.current.related("dog", k=2).hits
    row = next(r for r in database.call(lambda s: list_replicas(s, 5.0)) if r.id == "r:b")
    assert row.generation == 1 and "index.faiss" in (row.last_error or "")
    assert b.problem is not None and "generation 2" in b.problem  # the failure shows at once ...
    assert sync_b.lag_problem(DEFAULT_MODEL, b) is None  # ... the lag only past the grace
    time.sleep(0.35)
    lag = sync_b.lag_problem(DEFAULT_MODEL, b)
    assert lag is not None and "desired generation 2" in lag and "index.faiss" in lag
    # the index is fixed in place; B's retry (after its backoff) loads it and catches up
    shutil.rmtree(broken)
    shutil.copytree(artifacts.index, broken)
    deadline = time.monotonic() + 10
    while b.generation < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
        sync_b.tick()
    assert b.generation == 2 and b.load_error is None and sync_b.lag_problem(DEFAULT_MODEL, b) is None
    assert next(r for r in database.call(lambda s: list_replicas(s, 5.0)) if r.id == "r:b").last_error is None
    sync_b.leave()
    assert [r.id for r in database.call(lambda s: list_replicas(s, 5.0))] == ["r:a"]


def test_a_replica_starts_on_the_desired_index(database: Database, artifacts: Artifacts) -> None:
    database.call(lambda s: bump_desired(s, DEFAULT_MODEL, artifacts.index_hnsw, "elsewhere"))
    database.call(lambda s: bump_desired(s, DEFAULT_MODEL, artifacts.index_hnsw, "elsewhere"))
    holder = IndexHolder()
    sync = make_sync(database, holder, "r:new")
    desired = sync.start()[DEFAULT_MODEL]
    holder.load_initial(artifacts.index, desired.request)  # configured: the Flat index; desired: HNSW
    assert holder.source == artifacts.index_hnsw and holder.generation == 2
    sync.tick()
    assert sync.lag_problem(DEFAULT_MODEL, holder) is None


def test_a_database_that_fails_leaves_the_served_index(artifacts: Artifacts, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'gone.db'}"
    upgrade(url)
    database = Database(url, timeout_s=1.0, threads=1)
    try:
        holder = IndexHolder()
        holder.load_initial(artifacts.index)
        sync = make_sync(database, holder, "r:x")
        (tmp_path / "gone.db").unlink()
        assert sync.start() == {}
        sync.tick()
        assert sync.database_error is not None and "missing" in sync.database_error
        assert holder.current is not None and holder.generation == 0
    finally:
        database.close()


def test_migration_0005_upgrade_and_downgrade(database_url: str) -> None:
    upgrade(database_url, "0004")
    upgrade(database_url, "0005")
    engine = sa.create_engine(database_url)
    inspector = sa.inspect(engine)
    assert {"served_index", "replica"} <= set(inspector.get_table_names())
    assert {c["name"] for c in inspector.get_columns("replica")} == {
        "id",
        "model",
        "host",
        "pid",
        "started_at",
        "heartbeat_at",
        "index_dir",
        "generation",
        "last_error",
    }
    assert inspector.get_pk_constraint("replica")["constrained_columns"] == ["id", "model"]
    engine.dispose()
    downgrade(database_url, "0004")
    engine = sa.create_engine(database_url)
    tables = set(sa.inspect(engine).get_table_names())
    assert "served_index" not in tables and "replica" not in tables and "feedback" in tables
    engine.dispose()


def test_replicas_route_reload_and_readiness(artifacts: Artifacts, sqlite_url: str, tmp_path: Path) -> None:
    """Through the app (one process, SQLite): the route needs the token; a reload records the desired index
    and lists this process as current; a desired index it cannot load makes /readyz 503 past the grace."""
    from fastapi.testclient import TestClient

    from app.main import create_app
    from tests.app.conftest import AUTH, make_settings, wait_for

    settings = make_settings(
        artifacts, sqlite_url, replica_poll_seconds=0.1, replica_grace_seconds=0.5, index_roots=[tmp_path]
    )
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        assert c.get("/v1/admin/replicas").status_code == 401
        r = c.post("/v1/admin/reload", json={"index_dir": str(artifacts.index_hnsw)}, headers=AUTH)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["complete"] and body["status_url"] is None
        assert [(x["generation"], x["live"], x["current"]) for x in body["replicas"]] == [(1, True, True)]
        listed = c.get("/v1/admin/replicas", headers=AUTH).json()
        assert [(d["model"], d["index_dir"], d["generation"]) for d in listed["desired"]] == [
            ("default", str(artifacts.index_hnsw), 1)
        ]
        assert listed["replicas"][0]["index_dir"] == str(artifacts.index_hnsw)
        assert c.get("/v1/admin/replicas", params={"model": "other"}, headers=AUTH).json()["replicas"] == []
        # another replica records an index this one cannot load: it keeps serving, then is drained
        broken = tmp_path / "broken"
        shutil.copytree(artifacts.index, broken)
        (broken / "index.faiss").write_bytes(b"not an index")
        database = Database(sqlite_url, timeout_s=5.0, threads=1)
        assert database.call(lambda s: bump_desired(s, DEFAULT_MODEL, broken, "elsewhere")) == 2
        database.close()

        def drained() -> bool:
            ready = c.get("/readyz")
            return ready.status_code == 503 and "desired generation 2" in (
                ready.json()["index"]["detail"] or ""
            )

        wait_for(drained, timeout=20, interval=0.1)
        assert c.get("/v1/related", params={"q": "dog"}).status_code == 200
        row = c.get("/v1/admin/replicas", headers=AUTH).json()["replicas"][0]
        assert row["generation"] == 1 and not row["current"] and "index.faiss" in row["last_error"]


def test_a_reload_answers_202_while_a_live_replica_is_behind(
    artifacts: Artifacts, tmp_path: Path, sqlite_url: str
) -> None:
    """Two apps (two replicas in one process) on one database; B polls only every 60 s, so A's reload cannot
    see it converge within MMWE_RELOAD_WAIT_S: 202, `complete: false`, B's row behind, the status URL."""
    from fastapi.testclient import TestClient

    from app.main import create_app
    from tests.app.conftest import AUTH, make_settings

    a = create_app(make_settings(artifacts, sqlite_url, replica_poll_seconds=0.1, reload_wait_s=1.0))
    b = create_app(make_settings(artifacts, sqlite_url, replica_poll_seconds=60.0))
    with TestClient(b) as cb, TestClient(a) as ca:
        r = ca.post("/v1/admin/reload", json={"index_dir": str(artifacts.index_hnsw)}, headers=AUTH)
        assert r.status_code == 202, r.text
        body = r.json()
        assert not body["complete"] and body["status_url"] == "/v1/admin/replicas?model=default"
        rows = {x["id"]: x for x in body["replicas"]}
        assert (rows[a.state.owner]["generation"], rows[a.state.owner]["current"]) == (1, True)
        assert (rows[b.state.owner]["generation"], rows[b.state.owner]["current"]) == (0, False)
        assert rows[b.state.owner]["live"]
        followed = cb.get(body["status_url"], headers=AUTH).json()
        assert followed["desired"][0]["generation"] == 1
