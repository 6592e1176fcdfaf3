from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from app.db.migrate import downgrade, upgrade
from app.db.models import Artifact, ArtifactKind, Base, EvaluationResult, EvaluationRun, Feedback, RunStatus
from app.db.session import make_engine, make_sessionmaker


def test_migrations_create_the_model_schema(migrated_database_url: str) -> None:
    engine = make_engine(migrated_database_url)
    inspector = sa.inspect(engine)
    tables = set(inspector.get_table_names())
    assert {"artifacts", "evaluation_runs", "evaluation_results", "alembic_version"} <= tables
    for table in Base.metadata.sorted_tables:
        db_cols = {c["name"]: c for c in inspector.get_columns(table.name)}
        assert set(db_cols) == {c.name for c in table.columns}, table.name
        for col in table.columns:
            assert db_cols[col.name]["nullable"] == col.nullable, f"{table.name}.{col.name}"
    engine.dispose()


def test_runs_results_round_trip_and_cascade(migrated_database_url: str) -> None:
    engine = make_engine(migrated_database_url)
    factory = make_sessionmaker(engine)
    with factory() as s:
        art = Artifact(
            kind=ArtifactKind.index,
            path="/x",
            format_version=1,
            model_kind="a",
            manifest_sha256="f" * 64,
            manifest={"format": "mmwe.index"},
        )
        run = EvaluationRun(suite="default", request={"suite": "default"}, requested_by="admin", artifact=art)
        run.results.append(
            EvaluationResult(
                benchmark="ws353", kind="similarity", metrics={"spearman": 0.61}, dataset_sha256=None
            )
        )
        s.add(run)
        s.commit()
        run_id = run.id
    with factory() as s:
        got = s.get(EvaluationRun, run_id)
        assert got is not None and got.status is RunStatus.queued
        assert got.results[0].metrics == {"spearman": 0.61}
        assert got.created_at.replace(tzinfo=got.created_at.tzinfo or UTC) <= datetime.now(UTC)
        s.delete(got)
        s.commit()
        assert s.scalar(sa.select(sa.func.count()).select_from(EvaluationResult)) == 0
    with factory() as s:
        for _ in range(2):
            s.add(
                Artifact(
                    kind=ArtifactKind.index,
                    path="/y",
                    format_version=1,
                    model_kind=None,
                    manifest_sha256="a" * 64,
                    manifest={},
                )
            )
        with pytest.raises(IntegrityError):
            s.commit()
    engine.dispose()


def test_downgrade_to_base_removes_tables(migrated_database_url: str) -> None:
    downgrade(migrated_database_url, "base")
    engine = make_engine(migrated_database_url)
    assert "evaluation_runs" not in sa.inspect(engine).get_table_names()
    engine.dispose()
    upgrade(migrated_database_url)


def test_migration_0004_adds_and_removes_the_feedback_tables(migrated_database_url: str) -> None:
    engine = make_engine(migrated_database_url)
    with make_sessionmaker(engine)() as s:
        s.add(Feedback(query="dog", shown=["puppy", "pizza"], clicked=["puppy"], client="s1"))
        s.commit()
    downgrade(migrated_database_url, "0003")
    tables = set(sa.inspect(engine).get_table_names())
    assert "feedback" not in tables and "click_benchmarks" not in tables
    assert {"artifacts", "evaluation_runs", "evaluation_results"} <= tables
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar() == "0003"
    upgrade(migrated_database_url)
    engine.dispose()
    engine = make_engine(migrated_database_url)
    inspector = sa.inspect(engine)
    assert {"feedback", "click_benchmarks"} <= set(inspector.get_table_names())
    assert {i["name"] for i in inspector.get_indexes("feedback")} == {"ix_feedback_created_at"}
    with make_sessionmaker(engine)() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Feedback)) == 0
        s.add(Feedback(query="cat", shown=["kitten"], clicked=[]))
        s.commit()
        got = s.scalars(sa.select(Feedback)).one()
        assert (got.shown, got.clicked, got.served_by, got.assignment) == (["kitten"], [], None, None)
    engine.dispose()
