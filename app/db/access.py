"""Database work off the event loop and off the shared thread pool: `Database.run(fn)` calls `fn(session)`
(`run_core(fn)`: `fn(connection)` in one transaction, for single cheap statements) in a small executor of
its own (MMWE_DB_THREADS threads, as many pooled connections), bounded by MMWE_DB_TIMEOUT_S.

A database that hangs (a PostgreSQL that accepts connections and never answers) then ties up only these
threads: query routes, which never touch the database, keep their own threads and answer as before, and a
request that needs the database answers 503 with the reason when the time is up, never 500.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from sqlalchemy import Connection
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from app.db.session import make_engine, make_sessionmaker, sqlite_file
from app.errors import ServiceUnavailable, database_error

log = logging.getLogger("mmwe.app")
T = TypeVar("T")


class Database:
    def __init__(self, url: str, timeout_s: float, threads: int) -> None:
        self.url = url
        self.timeout_s = timeout_s
        self.engine = make_engine(url, timeout_s=timeout_s, pool_size=threads)
        self.sessionmaker = make_sessionmaker(self.engine)
        self.sqlite_file = sqlite_file(self.engine)
        db_file = self.sqlite_file
        self._sqlite_inode: int | None = (  # the file's inode when first seen (`_check_file`)
            db_file.stat().st_ino if db_file is not None and db_file.is_file() else None
        )
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="mmwe-db")

    def call(self, fn: Callable[[Session], T]) -> T:
        """`fn(session)` in the calling thread; SQLAlchemy errors become ServiceUnavailable."""
        self._check_file()
        try:
            with self.sessionmaker() as session:
                return fn(session)
        except SQLAlchemyError as exc:
            raise database_error(exc) from exc

    def _check_file(self) -> None:
        """A SQLite file deleted, or deleted and created again (any new connection creates an empty one), is
        a 503: open connections would go on using the deleted file, and every write would be lost."""
        if self.sqlite_file is None:
            return
        try:
            inode = self.sqlite_file.stat().st_ino if self.sqlite_file.is_file() else None
        except OSError:
            inode = None
        if inode is None:
            raise ServiceUnavailable(f"database unavailable: database file missing: {self.sqlite_file}")
        if self._sqlite_inode is None:
            self._sqlite_inode = inode
        elif inode != self._sqlite_inode:
            raise ServiceUnavailable(
                f"database unavailable: database file replaced since first used: {self.sqlite_file}"
            )

    def call_core(self, fn: Callable[[Connection], T]) -> T:
        """`fn(connection)` in one transaction (committed when `fn` returns), without an ORM session: about
        a third of the CPU of `call` for a single statement (e.g. one INSERT per request)."""
        self._check_file()
        try:
            with self.engine.begin() as connection:
                return fn(connection)
        except SQLAlchemyError as exc:
            raise database_error(exc) from exc

    async def run(self, fn: Callable[[Session], T]) -> T:
        """`fn(session)` in the database executor; ServiceUnavailable on an error or past the deadline.

        The deadline is twice the driver's timeouts (connect, then a statement), plus a second: the driver
        normally gives up first and says why; this bounds what it does not cover (a full pool, a lock)."""
        return await self._in_executor(self.call, fn)

    async def run_core(self, fn: Callable[[Connection], T]) -> T:
        """`fn(connection)` in one transaction in the database executor (`call_core`), as `run`."""
        return await self._in_executor(self.call_core, fn)

    async def _in_executor(self, call: Callable[[Callable[[Any], T]], T], fn: Callable[[Any], T]) -> T:
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self._executor, call, fn)
        try:
            return await asyncio.wait_for(future, 2 * self.timeout_s + 1)
        except TimeoutError as exc:
            raise ServiceUnavailable(
                f"database unavailable: no answer within {2 * self.timeout_s + 1:g} s",
                headers={"Retry-After": "5"},
            ) from exc

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
        self.engine.dispose()
