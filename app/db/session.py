"""Engine and session factory. One engine per app; sessions are short-lived, one per request or job.

Every engine has timeouts (`timeout_s`, MMWE_DB_TIMEOUT_S): SQLite's busy timeout; PostgreSQL's connect
timeout, statement timeout and lock timeout, with pre-ping so that a connection broken by a database restart
is replaced instead of failing a request.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

DEFAULT_TIMEOUT_S = 3.0


def make_engine(url: str, *, timeout_s: float = DEFAULT_TIMEOUT_S, pool_size: int = 5) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": timeout_s})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.close()

        return engine
    ms = max(1, int(timeout_s * 1000))
    given = make_url(url).query.get("options")  # e.g. a search_path in the URL: keep it
    options = " ".join([*([given] if isinstance(given, str) else given or ()), f"-c statement_timeout={ms}"])
    return create_engine(
        url,
        pool_pre_ping=True,
        pool_size=pool_size,
        max_overflow=2,
        pool_timeout=timeout_s,
        connect_args={
            "connect_timeout": max(1, round(timeout_s)),  # libpq: whole seconds, at least 1
            "options": f"{options} -c lock_timeout={ms}",
        },
    )


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


def sqlite_file(engine: Engine) -> Path | None:
    """The file of a file-backed SQLite database; None for other databases."""
    url = make_url(str(engine.url))
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    return Path(url.database.removeprefix("file:"))


def database_problem(engine: Engine, head: str | None) -> str | None:
    """None when the database answers, is migrated to `head` and accepts writes; otherwise what is wrong.

    For SQLite the file must still exist (a deleted file keeps answering through open connections while
    every write is lost) and take a write lock (a read-only file or mount answers reads only)."""
    db_file = sqlite_file(engine)
    if db_file is not None and not db_file.is_file():
        return f"database file missing: {db_file}"
    try:
        with engine.connect() as conn:
            version = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
            if db_file is not None:  # takes the write lock, changes nothing (rolled back)
                conn.execute(text("UPDATE alembic_version SET version_num = version_num WHERE 0 = 1"))
                conn.rollback()
    except DBAPIError as exc:
        first = (str(exc.orig or exc).strip().splitlines() or [type(exc).__name__])[0]
        if "readonly" in first or "read-only" in first:
            return f"database is read-only: {first}"
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
