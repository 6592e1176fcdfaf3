"""Engine and session factory. One engine per app; sessions are short-lived, one per request or job."""

from __future__ import annotations

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.close()

        return engine
    return create_engine(
        url, pool_pre_ping=True, pool_size=5, max_overflow=5, connect_args={"connect_timeout": 5}
    )


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


def database_problem(engine: Engine, head: str | None) -> str | None:
    """None when the database answers and is migrated to `head`; otherwise what is wrong, in one line."""
    try:
        with engine.connect() as conn:
            version = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except DBAPIError as exc:
        first = (str(exc.orig or exc).strip().splitlines() or [type(exc).__name__])[0]
        if "alembic_version" in first:
            return "database reachable but not migrated (run `python -m app db upgrade`)"
        return f"database unreachable: {first}"
    except Exception as exc:  # e.g. a bad URL: readiness reports it instead of failing
        return f"database unreachable: {type(exc).__name__}: {exc}".splitlines()[0]
    if head is not None and version != head:
        return (
            f"database schema at revision {version}, this build needs {head} (run `python -m app db upgrade`)"
        )
    return None
