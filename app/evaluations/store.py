"""Database operations on artifacts, evaluation runs and results.

Status changes are conditional updates (`UPDATE ... WHERE status IN (...)`), so a run is finished exactly once
even when a worker, its evaluation process and a restarting sibling race:
queued -> running -> succeeded | failed. The table is the queue (`claim_next`), and a running run is alive
while its `heartbeat_at` is fresh (`heartbeat`, `fail_expired`): no file lock, no process ids across hosts.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, or_, select, text, update
from sqlalchemy.orm import Session, selectinload

from app.db.models import Artifact, ArtifactKind, EvaluationResult, EvaluationRun, RunStatus, utcnow
from index.artifacts import MANIFEST, sha256_file
from index.search import PhraseSearcher

ACTIVE = (RunStatus.queued, RunStatus.running)
QUEUE_LOCK_KEY = 0x6D6D7765  # "mmwe": the PostgreSQL advisory lock serialising queue claims


@dataclass(frozen=True)
class ResultRow:
    benchmark: str
    kind: str
    metrics: dict[str, Any]
    dataset_sha256: str | None


def _register(session: Session, kind: ArtifactKind, path: Path, manifest: dict[str, Any]) -> Artifact:
    sha = sha256_file(path / MANIFEST)
    found = session.scalar(select(Artifact).where(Artifact.kind == kind, Artifact.manifest_sha256 == sha))
    if found is not None:
        return found
    model_kind = manifest.get("model_kind") or manifest.get("embeddings", {}).get("model_kind")
    artifact = Artifact(
        kind=kind,
        path=str(path),
        format_version=int(manifest.get("version", 1)),
        model_kind=model_kind,
        manifest_sha256=sha,
        manifest=manifest,
    )
    session.add(artifact)
    session.flush()
    return artifact


def register_served(session: Session, searcher: PhraseSearcher) -> Artifact:
    """Record the served index and its embeddings (idempotent); return the embeddings artifact."""
    _register(session, ArtifactKind.index, searcher.path, searcher.manifest)
    emb = searcher.embeddings
    emb_path = emb.path if emb.path is not None else searcher.path / "embeddings"
    return _register(session, ArtifactKind.embeddings, emb_path, emb.manifest)


def create_run(
    session: Session, request: dict[str, Any], artifact: Artifact, owner: str, requested_by: str
) -> EvaluationRun:
    run = EvaluationRun(
        status=RunStatus.queued,
        suite=request.get("suite"),
        request=request,
        requested_by=requested_by,
        artifact_id=artifact.id,
        owner=owner,
    )
    session.add(run)
    session.commit()
    return run


def finish_succeeded(session: Session, run_id: int, rows: Iterable[ResultRow]) -> bool:
    """Store the results and mark the run succeeded in one transaction, if it is still running."""
    done = session.execute(
        update(EvaluationRun)
        .where(EvaluationRun.id == run_id, EvaluationRun.status == RunStatus.running)
        .values(status=RunStatus.succeeded, finished_at=utcnow(), error=None)
    )
    if not done.rowcount:  # type: ignore[attr-defined]
        session.rollback()
        return False
    session.add_all(
        EvaluationResult(
            run_id=run_id,
            benchmark=r.benchmark,
            kind=r.kind,
            metrics=r.metrics,
            dataset_sha256=r.dataset_sha256,
        )
        for r in rows
    )
    session.commit()
    return True


def finish_failed(session: Session, run_id: int, error: str) -> bool:
    done = session.execute(
        update(EvaluationRun)
        .where(EvaluationRun.id == run_id, EvaluationRun.status.in_(ACTIVE))
        .values(status=RunStatus.failed, finished_at=utcnow(), error=error[:10_000])
    )
    session.commit()
    return bool(done.rowcount)  # type: ignore[attr-defined]


def claim_next(session: Session, owner: str, max_running: int = 1) -> int | None:
    """Take the oldest queued run for `owner` (queued -> running, heartbeat now); None when there is none or
    `max_running` runs are running already.

    The database is the queue, so workers and replicas sharing it run each run exactly once. PostgreSQL:
    claimers are serialised by a transaction-scoped advisory lock (for the running count), and the row is
    taken with `SELECT ... FOR UPDATE SKIP LOCKED`. SQLite: one conditional UPDATE (SQLite runs one writer at
    a time, and the statement re-checks `status = 'queued'`), whose RETURNING says whether it claimed.
    """
    now = utcnow()
    values = {"status": RunStatus.running, "owner": owner, "started_at": now, "heartbeat_at": now}
    running = select(func.count()).select_from(EvaluationRun).where(EvaluationRun.status == RunStatus.running)
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": QUEUE_LOCK_KEY})
        if (session.scalar(running) or 0) >= max_running:
            session.rollback()
            return None
        run_id = session.scalar(
            select(EvaluationRun.id)
            .where(EvaluationRun.status == RunStatus.queued)
            .order_by(EvaluationRun.id)
            .limit(1)
            .with_for_update(skip_locked=True)
        )
        if run_id is None:
            session.rollback()
            return None
        session.execute(update(EvaluationRun).where(EvaluationRun.id == run_id).values(**values))
        session.commit()
        return run_id
    oldest = (
        select(func.min(EvaluationRun.id)).where(EvaluationRun.status == RunStatus.queued).scalar_subquery()
    )
    claimed = session.execute(
        update(EvaluationRun)
        .where(
            EvaluationRun.id == oldest,
            EvaluationRun.status == RunStatus.queued,
            running.scalar_subquery() < max_running,
        )
        .values(**values)
        .returning(EvaluationRun.id)
        .execution_options(synchronize_session=False)
    ).scalar()
    session.commit()
    return claimed


def heartbeat(session: Session, run_id: int, owner: str) -> bool:
    """Record that `owner` still executes `run_id`; False when the run is no longer its running run."""
    done = session.execute(
        update(EvaluationRun)
        .where(
            EvaluationRun.id == run_id,
            EvaluationRun.status == RunStatus.running,
            EvaluationRun.owner == owner,
        )
        .values(heartbeat_at=utcnow())
    )
    session.commit()
    return bool(done.rowcount)  # type: ignore[attr-defined]


def fail_expired(session: Session, grace_s: float, timeout_s: float) -> list[int]:
    """Fail running runs nobody keeps alive: heartbeat older than `grace_s` (its worker died, or lost the
    database), or started longer ago than `timeout_s + grace_s` (its worker should have killed it).
    Any worker of any replica may call this; each run is failed once (conditional update)."""
    now = utcnow()
    stale_before = now - timedelta(seconds=grace_s)
    started_before = now - timedelta(seconds=timeout_s + grace_s)
    rows = session.execute(
        select(EvaluationRun.id, EvaluationRun.heartbeat_at, EvaluationRun.started_at).where(
            EvaluationRun.status == RunStatus.running,
            or_(
                EvaluationRun.heartbeat_at.is_(None),
                EvaluationRun.heartbeat_at < stale_before,
                EvaluationRun.started_at < started_before,
            ),
        )
    ).all()
    failed = []
    for run_id, beat, started in rows:
        if beat is not None and started is not None and _aware(started) < started_before:
            reason = f"timed out: still running {timeout_s:g} s after it started, and its worker is gone"
        else:
            seen = f"last heartbeat {_aware(beat).isoformat()}" if beat is not None else "no heartbeat"
            reason = f"interrupted: its worker stopped answering ({seen}, grace {grace_s:g} s)"
        if finish_failed(session, run_id, reason):
            failed.append(run_id)
    return failed


def _aware(value: datetime) -> datetime:
    """SQLite returns naive datetimes (stored as UTC)."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def fail_owned(session: Session, owner: str, reason: str) -> list[int]:
    ids = session.scalars(
        select(EvaluationRun.id).where(EvaluationRun.owner == owner, EvaluationRun.status.in_(ACTIVE))
    ).all()
    return [i for i in ids if finish_failed(session, i, reason)]


def get_run(session: Session, run_id: int) -> EvaluationRun | None:
    return session.scalar(
        select(EvaluationRun).where(EvaluationRun.id == run_id).options(selectinload(EvaluationRun.results))
    )


def list_runs(session: Session, limit: int, offset: int) -> tuple[Sequence[EvaluationRun], int]:
    total = session.scalar(select(func.count()).select_from(EvaluationRun)) or 0
    runs = session.scalars(
        select(EvaluationRun)
        .order_by(EvaluationRun.id.desc())
        .limit(limit)
        .offset(offset)
        .options(selectinload(EvaluationRun.results))
    ).all()
    return runs, total


def latest_for_embeddings(session: Session, manifest_sha256: str) -> EvaluationRun | None:
    return session.scalar(
        select(EvaluationRun)
        .join(Artifact, EvaluationRun.artifact_id == Artifact.id)
        .where(Artifact.kind == ArtifactKind.embeddings, Artifact.manifest_sha256 == manifest_sha256)
        .order_by(EvaluationRun.id.desc())
        .limit(1)
        .options(selectinload(EvaluationRun.results))
    )
