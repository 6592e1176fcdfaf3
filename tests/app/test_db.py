from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from app.db.migrate import downgrade, upgrade
from app.db.models import Artifact, ArtifactKind, Base, EvaluationResult, EvaluationRun, RunStatus
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
