"""Shared fixtures. Tests that read ../shared/data skip with a clear message when it is absent."""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data not found at {SHARED_DATA} (only benchmarks/experiments need it)")
    return SHARED_DATA


# --- databases: every DB test runs on SQLite and on the local PostgreSQL ---

import contextlib  # noqa: E402
import os  # noqa: E402
import uuid  # noqa: E402
from collections.abc import Iterator  # noqa: E402

PG_ADMIN_URL = os.environ.get("MMWE_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def _postgres_available() -> str | None:
    import sqlalchemy as sa

    try:
        engine = sa.create_engine(PG_ADMIN_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(sa.text("select 1"))
        engine.dispose()
        return None
    except Exception as exc:  # any driver/connection error means "not reachable"
        return f"{type(exc).__name__}: {exc}".splitlines()[0]


@contextlib.contextmanager
def postgres_schema() -> Iterator[str]:
    """A URL of a fresh private schema in the local PostgreSQL (skips, or fails under CI, if unreachable)."""
    import sqlalchemy as sa

    problem = _postgres_available()
    if problem is not None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"PostgreSQL unreachable at {PG_ADMIN_URL} under CI=true: {problem}")
        pytest.skip(f"PostgreSQL unreachable at {PG_ADMIN_URL}: {problem}")
    schema = f"mmwe_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(PG_ADMIN_URL)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{PG_ADMIN_URL}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database URL: a SQLite file, or a private schema in the local PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'test.db'}"
        return
    with postgres_schema() as url:
        yield url


@pytest.fixture
def migrated_postgres_url() -> Iterator[str]:
    """A migrated private PostgreSQL schema (for tests about PostgreSQL itself, e.g. replicas sharing it)."""
    from app.db.migrate import upgrade

    with postgres_schema() as url:
        upgrade(url)
        yield url


@pytest.fixture
def migrated_database_url(database_url: str) -> str:
    """`database_url` with the schema built by `alembic upgrade head`, as in production."""
    from app.db.migrate import upgrade

    upgrade(database_url)
    return database_url
