"""Replicas that agree on the served index: desired state in the database, followed by every serving process.

Several `python -m app serve` launches (replicas, on one host or many) share one database. The index each
model name serves ("default" today) is desired state there: table `served_index` (model, index_dir,
generation). `POST /v1/admin/reload` loads the index in the receiving process first, then writes the desired
state (generation + 1) and swaps (`IndexHolder.reload(path, assign=...)`): a broken index never becomes
desired. Every serving process (each uvicorn worker of each replica) runs `ReplicaSync.watch`: every
MMWE_REPLICA_POLL_SECONDS it reads the desired state, loads a newer generation off to the side and swaps
(`IndexHolder.follow`, retried with backoff on failure while the last good index keeps serving), and
rewrites its row in `replica` (served index and generation, last error, heartbeat). Inside one replica the
launch's reload file still carries the in-replica details (snapshots, the worker board), with the database's
generation as its own, so both views agree.

- Start-up: a process serves the desired index if one is recorded, else its configured MMWE_INDEX_DIR.
- Liveness: a row whose heartbeat is older than MMWE_REPLICA_STALE_SECONDS is stale (its process died or lost
  the database): listed as such, not waited on; rows stale for an hour are deleted at the next start-up.
- Readiness: a process that lags the desired generation longer than MMWE_REPLICA_GRACE_SECONDS answers
  `/readyz` 503 with the reason (`ReplicaSync.lag_problem`), so a load balancer drains it; while it loads
  within the grace period it keeps serving the previous index and stays ready.

Nothing to run by hand: the app's lifespan starts it (app/main.py); `GET /v1/admin/replicas` shows the state.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from app.db.access import Database
from app.db.models import Replica, ServedIndex, utcnow
from app.errors import ServiceUnavailable
from app.serving import IndexHolder, ReloadRequest

log = logging.getLogger("mmwe.app")
DEFAULT_MODEL = "default"
FORGET_AFTER_S = 3600.0  # rows of processes gone this long are deleted when a replica starts


@dataclass(frozen=True)
class Desired:
    model: str
    index_dir: Path
    generation: int
    updated_at: datetime
    updated_by: str | None

    @property
    def request(self) -> ReloadRequest:
        return ReloadRequest(self.generation, self.index_dir)


@dataclass(frozen=True)
class ReplicaState:
    """One row of `replica`, with its liveness judged now."""

    id: str
    model: str
    host: str
    pid: int
    started_at: datetime
    heartbeat_at: datetime
    index_dir: str | None
    generation: int
    last_error: str | None
    live: bool


def aware(value: datetime) -> datetime:
    """SQLite returns naive datetimes (stored as UTC)."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _desired(row: ServedIndex) -> Desired:
    return Desired(row.model, Path(row.index_dir), row.generation, aware(row.updated_at), row.updated_by)


def read_desired(session: Session) -> dict[str, Desired]:
    """Every model's desired index, by model name."""
    return {row.model: _desired(row) for row in session.scalars(select(ServedIndex))}


def _insert(session: Session) -> Callable[..., postgresql.Insert | sqlite.Insert]:
    """The dialect's INSERT with ON CONFLICT (PostgreSQL and SQLite both have it)."""
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


def bump_desired(session: Session, model: str, index_dir: Path, by: str | None) -> int:
    """Make `index_dir` the desired index of `model`, one generation past the last; returns the generation.

    One statement (INSERT ... ON CONFLICT DO UPDATE ... RETURNING): concurrent reloads through different
    replicas each get their own generation, and the last one written wins."""
    now = utcnow()
    stmt = _insert(session)(ServedIndex).values(
        model=model, index_dir=str(index_dir), generation=1, updated_at=now, updated_by=by
    )
    upsert = stmt.on_conflict_do_update(
        index_elements=[ServedIndex.model],
        set_={
            "generation": ServedIndex.generation + 1,
            "index_dir": stmt.excluded.index_dir,
            "updated_at": stmt.excluded.updated_at,
            "updated_by": stmt.excluded.updated_by,
        },
    ).returning(ServedIndex.generation)
    generation = int(session.execute(upsert).scalar_one())
    session.commit()
    return generation


@dataclass(frozen=True)
class Report:
    """What one process serves for one model, as written to its `replica` row."""

    id: str
    model: str
    host: str
    pid: int
    started_at: datetime
    index_dir: str | None
    generation: int
    last_error: str | None


def report(session: Session, rows: Sequence[Report]) -> None:
    """Upsert this process's rows, heartbeat now."""
    now = utcnow()
    for r in rows:
        values = {
            "id": r.id,
            "model": r.model,
            "host": r.host,
            "pid": r.pid,
            "started_at": r.started_at,
            "heartbeat_at": now,
            "index_dir": r.index_dir,
            "generation": r.generation,
            "last_error": r.last_error[:10_000] if r.last_error else None,
        }
        stmt = _insert(session)(Replica).values(**values)
        changed = {k: v for k, v in values.items() if k not in ("id", "model", "started_at")}
        session.execute(stmt.on_conflict_do_update(index_elements=[Replica.id, Replica.model], set_=changed))
    session.commit()


def list_replicas(session: Session, stale_s: float, model: str | None = None) -> list[ReplicaState]:
    query = select(Replica).order_by(Replica.started_at, Replica.id, Replica.model)
    if model is not None:
        query = query.where(Replica.model == model)
    fresh_after = utcnow() - timedelta(seconds=stale_s)
    return [
        ReplicaState(
            id=r.id,
            model=r.model,
            host=r.host,
            pid=r.pid,
            started_at=aware(r.started_at),
            heartbeat_at=aware(r.heartbeat_at),
            index_dir=r.index_dir,
            generation=r.generation,
            last_error=r.last_error,
            live=aware(r.heartbeat_at) >= fresh_after,
        )
        for r in session.scalars(query)
    ]


def forget(session: Session, replica_id: str | None = None, older_than_s: float | None = None) -> int:
    """Delete one process's rows (it stops), or the rows of processes silent for `older_than_s`."""
    stmt = delete(Replica)
    if replica_id is not None:
        stmt = stmt.where(Replica.id == replica_id)
    if older_than_s is not None:
        stmt = stmt.where(Replica.heartbeat_at < utcnow() - timedelta(seconds=older_than_s))
    done = session.execute(stmt)
    session.commit()
    return int(done.rowcount)  # type: ignore[attr-defined]


class ReplicaSync:
    """This process's side: follow the desired state, report what it serves, judge its own lag."""

    def __init__(
        self,
        database: Database,
        holders: Callable[[], Mapping[str, IndexHolder]],
        replica_id: str,
        *,
        poll_s: float,
        grace_s: float,
        stale_s: float,
    ) -> None:
        self.database = database
        self.holders = holders
        self.id = replica_id
        self.host = socket.gethostname()
        self.pid = os.getpid()
        self.started_at = utcnow()
        self.poll_s, self.grace_s, self.stale_s = poll_s, grace_s, stale_s
        self.desired: dict[str, Desired] = {}  # as last read
        self.database_error: str | None = None  # why the last poll failed, if it did
        self._behind_since: dict[str, float] = {}  # model -> when this process first saw itself behind

    def start(self) -> dict[str, Desired]:
        """The desired state to serve at start-up ({} if the database cannot say); forgets long-dead rows."""
        try:
            self.desired = self.database.call(read_desired)
            self.database.call(lambda s: forget(s, older_than_s=FORGET_AFTER_S))
        except ServiceUnavailable as exc:
            log.warning("replicas: desired state unknown at start-up, serving the configured index: %s", exc)
        return dict(self.desired)

    def publish(self, model: str, index_dir: Path, by: str | None = None) -> int:
        """Record `index_dir` as `model`'s desired index (the admin reload's `assign`); its generation."""
        generation = self.database.call(lambda s: bump_desired(s, model, index_dir, by or self.id))
        self.desired[model] = Desired(model, index_dir, generation, utcnow(), by or self.id)
        return generation

    def tick(self) -> None:
        """One poll (in a thread): read the desired state, follow it, report; database errors are logged."""
        try:
            self.desired = self.database.call(read_desired)
        except ServiceUnavailable as exc:
            self._database_failed(exc)
            return
        now = time.monotonic()
        for model, holder in self.holders().items():
            wanted = self.desired.get(model)
            if wanted is not None and wanted.generation > holder.generation:
                self._behind_since.setdefault(model, now)
                holder.follow(wanted.request)
            if wanted is None or holder.generation >= wanted.generation:
                self._behind_since.pop(model, None)
        self.report()

    def report(self) -> None:
        rows = [
            Report(
                id=self.id,
                model=model,
                host=self.host,
                pid=self.pid,
                started_at=self.started_at,
                index_dir=str(holder.source) if holder.current is not None and holder.source else None,
                generation=max(holder.generation, 0),
                last_error=holder.load_error or (holder.error if holder.current is None else holder.fallback),
            )
            for model, holder in self.holders().items()
        ]
        try:
            self.database.call(lambda s: report(s, rows))
        except ServiceUnavailable as exc:
            self._database_failed(exc)
            return
        if self.database_error is not None:
            log.info("replicas: database reachable again")
        self.database_error = None

    def _database_failed(self, exc: ServiceUnavailable) -> None:
        if self.database_error is None:
            log.warning("replicas: cannot read or report the desired state (retrying): %s", exc.message)
        self.database_error = exc.message

    def lag_problem(self, model: str, holder: IndexHolder) -> str | None:
        """Why `/readyz` is 503: this process has lagged `model`'s desired generation past the grace."""
        wanted = self.desired.get(model)
        since = self._behind_since.get(model)
        if wanted is None or since is None or holder.generation >= wanted.generation:
            return None
        waited = time.monotonic() - since
        if waited <= self.grace_s:
            return None
        return (
            f"model {model!r}: desired generation {wanted.generation} ({wanted.index_dir}) not served after "
            f"{waited:.0f} s (MMWE_REPLICA_GRACE_SECONDS={self.grace_s:g}); serving generation "
            f"{max(holder.generation, 0)}: {holder.load_error or 'still loading'}"
        )

    async def watch(self) -> None:
        """Poll forever (a lifespan task); the database work and loads run in a thread."""
        while True:
            try:
                await asyncio.to_thread(self.tick)
            except Exception:
                log.exception("replica watcher failed; retrying")
            await asyncio.sleep(self.poll_s)

    async def wait_for(self, model: str, generation: int, timeout: float) -> tuple[bool, list[ReplicaState]]:
        """Wait until every live process serves `generation` of `model`; (all did, the rows of `model`)."""
        deadline = time.monotonic() + timeout
        while True:
            rows = await self.database.run(lambda s: list_replicas(s, self.stale_s, model))
            done = all(r.generation >= generation for r in rows if r.live)
            if done or time.monotonic() >= deadline:
                return done, rows
            await asyncio.sleep(0.1)

    def leave(self) -> None:
        """Delete this process's rows (a clean stop); a process killed instead goes stale."""
        try:
            self.database.call(lambda s: forget(s, replica_id=self.id))
        except ServiceUnavailable as exc:
            log.warning("replicas: rows of %s not removed: %s", self.id, exc.message)
