"""Database operations on artifacts, evaluation runs and results.

Status changes are conditional updates (`UPDATE ... WHERE status IN (...)`), so a run is finished exactly once
even when a worker, its evaluation process and a restarting sibling race:
queued -> running -> succeeded | failed.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, selectinload

from app.db.models import Artifact, ArtifactKind, EvaluationResult, EvaluationRun, RunStatus, utcnow
from index.artifacts import MANIFEST, sha256_file
from index.search import PhraseSearcher

ACTIVE = (RunStatus.queued, RunStatus.running)


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


def mark_running(session: Session, run_id: int) -> bool:
    done = session.execute(
        update(EvaluationRun)
        .where(EvaluationRun.id == run_id, EvaluationRun.status == RunStatus.queued)
        .values(status=RunStatus.running, started_at=utcnow())
    )
    session.commit()
    return bool(done.rowcount)  # type: ignore[attr-defined]


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


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def is_stale(owner: str | None, launch_id: str) -> bool:
    """A run is stale when its owner belongs to another launch, or to a dead worker of this one."""
    if not owner or ":" not in owner:
        return True
    launch, _, pid = owner.rpartition(":")
    if launch != launch_id:
        return True
    return not (pid.isdigit() and _pid_alive(int(pid)))


def fail_stale(session: Session, launch_id: str) -> list[int]:
    """Mark runs cut off by a restart (queued or running, owner gone) failed; return their ids."""
    runs = session.scalars(select(EvaluationRun).where(EvaluationRun.status.in_(ACTIVE))).all()
    failed = []
    for run in runs:
        if is_stale(run.owner, launch_id):
            was = run.status.value
            if finish_failed(session, run.id, f"interrupted: the service restarted while the run was {was}"):
                failed.append(run.id)
    return failed


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
