"""The evaluation queue in the database (app/evaluations/store.py), on SQLite and PostgreSQL: each queued run
is claimed exactly once however many workers race, at most `max_running` run at once, heartbeats keep a run
alive and their absence fails it; migration 0003 goes up and down."""

from __future__ import annotations

import threading
from datetime import timedelta

import sqlalchemy as sa

from app.db.migrate import downgrade, upgrade
from app.db.models import Artifact, ArtifactKind, EvaluationRun, RunStatus, utcnow
from app.db.session import make_engine, make_sessionmaker
from app.evaluations import store


def queue_runs(factory: sa.orm.sessionmaker[sa.orm.Session], n: int) -> list[int]:
    with factory() as s:
        art = Artifact(
            kind=ArtifactKind.embeddings,
            path="/x",
            format_version=1,
            model_kind="a",
            manifest_sha256="e" * 64,
            manifest={},
        )
        s.add(art)
        s.commit()
        return [store.create_run(s, {"suite": "similarity"}, art, "q:1", "admin").id for _ in range(n)]


def test_each_run_is_claimed_exactly_once_by_racing_workers(migrated_database_url: str) -> None:
    engine = make_engine(migrated_database_url, pool_size=8)
    factory = make_sessionmaker(engine)
    ids = queue_runs(factory, 12)
    claimed: dict[str, list[int]] = {}
    errors: list[BaseException] = []
    start = threading.Barrier(6)

    def worker(name: str) -> None:
        mine = claimed.setdefault(name, [])
        start.wait()
        try:
            for _ in range(40):
                with factory() as s:
                    got = store.claim_next(s, name, max_running=100)
                if got is not None:
                    mine.append(got)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(f"w{i}:{i}",)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    every = sorted(i for got in claimed.values() for i in got)
    assert every == ids  # all claimed, none twice
    with factory() as s:
        rows = s.execute(sa.select(EvaluationRun.id, EvaluationRun.owner, EvaluationRun.status)).all()
    owners = {run_id: owner for run_id, owner, _ in rows}
    for name, got in claimed.items():
        assert all(owners[i] == name for i in got)
    assert {status for *_, status in rows} == {RunStatus.running}
    engine.dispose()


def test_max_running_heartbeat_and_expiry(migrated_database_url: str) -> None:
    engine = make_engine(migrated_database_url)
    factory = make_sessionmaker(engine)
    first, second = queue_runs(factory, 2)
    with factory() as s:
        assert store.claim_next(s, "a:1", max_running=1) == first
        assert store.claim_next(s, "b:2", max_running=1) is None  # one at a time
        assert store.heartbeat(s, first, "a:1")
        assert not store.heartbeat(s, first, "b:2")  # not its run
        assert store.fail_expired(s, grace_s=60, timeout_s=3600) == []  # fresh heartbeat: alive
        s.execute(
            sa.update(EvaluationRun)
            .where(EvaluationRun.id == first)
            .values(heartbeat_at=utcnow() - timedelta(seconds=120))
        )
        s.commit()
        assert store.fail_expired(s, grace_s=60, timeout_s=3600) == [first]
        run = s.get(EvaluationRun, first)
        assert run is not None and run.status is RunStatus.failed and "heartbeat" in (run.error or "")
        assert not store.heartbeat(s, first, "a:1")  # its supervisor learns it was failed
        assert store.claim_next(s, "b:2", max_running=1) == second
        s.execute(
            sa.update(EvaluationRun)
            .where(EvaluationRun.id == second)
            .values(started_at=utcnow() - timedelta(hours=2))
        )
        s.commit()
        assert store.fail_expired(s, grace_s=60, timeout_s=3600) == [second]
        run = s.get(EvaluationRun, second)
        assert run is not None and "timed out" in (run.error or "")
    engine.dispose()


def test_migration_0003_upgrade_and_downgrade(database_url: str) -> None:
    upgrade(database_url, "0002")
    engine = make_engine(database_url)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO evaluation_runs (status, request, created_at) VALUES ('queued', '{}', :now)"
            ),
            {"now": utcnow()},
        )
    upgrade(database_url, "0003")
    columns = {c["name"] for c in sa.inspect(engine).get_columns("evaluation_runs")}
    assert "heartbeat_at" in columns
    indexes = {i["name"] for i in sa.inspect(engine).get_indexes("evaluation_runs")}
    assert "ix_evaluation_runs_status_id" in indexes
    with make_sessionmaker(engine)() as s:  # the run queued before the upgrade is claimable
        assert store.claim_next(s, "m:1") is not None
    downgrade(database_url, "0002")
    engine.dispose()
    engine = make_engine(database_url)
    inspector = sa.inspect(engine)
    assert "heartbeat_at" not in {c["name"] for c in inspector.get_columns("evaluation_runs")}
    assert "ix_evaluation_runs_status_id" not in {i["name"] for i in inspector.get_indexes("evaluation_runs")}
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM evaluation_runs")).scalar() == 1
    engine.dispose()
