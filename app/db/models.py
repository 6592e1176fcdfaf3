"""Typed ORM models: served artifacts, evaluation runs and their per-benchmark results, users' feedback on
related phrases and the benchmarks built from it."""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Enum, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {
        dict[str, Any]: JSON,
        list[str]: JSON,
        datetime: DateTime(timezone=True),
    }


class ArtifactKind(enum.StrEnum):
    embeddings = "embeddings"
    index = "index"  # type: ignore[assignment]  # the member shadows str.index; values are what matter


class RunStatus(enum.StrEnum):
    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"


class Artifact(Base):
    """A model (embeddings) or phrase index the service has served, identified by its manifest checksum."""

    __tablename__ = "artifacts"
    __table_args__ = (UniqueConstraint("kind", "manifest_sha256", name="uq_artifacts_kind_sha"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[ArtifactKind] = mapped_column(
        Enum(ArtifactKind, name="artifact_kind", native_enum=False, length=16)
    )
    path: Mapped[str] = mapped_column(Text)
    format_version: Mapped[int] = mapped_column(Integer)
    model_kind: Mapped[str | None] = mapped_column(String(32))
    manifest_sha256: Mapped[str] = mapped_column(String(64))
    manifest: Mapped[dict[str, Any]]
    registered_at: Mapped[datetime] = mapped_column(default=utcnow)


class EvaluationRun(Base):
    __tablename__ = "evaluation_runs"
    __table_args__ = (Index("ix_evaluation_runs_status_id", "status", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    status: Mapped[RunStatus] = mapped_column(
        Enum(RunStatus, name="run_status", native_enum=False, length=16), default=RunStatus.queued, index=True
    )
    suite: Mapped[str | None] = mapped_column(String(128))
    request: Mapped[dict[str, Any]]
    requested_by: Mapped[str | None] = mapped_column(String(128))
    artifact_id: Mapped[int | None] = mapped_column(ForeignKey("artifacts.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(Text)
    owner: Mapped[str | None] = mapped_column(String(64))  # "<launch id>:<worker pid>" executing the run
    heartbeat_at: Mapped[datetime | None]  # written while the run executes; stale past the grace period

    artifact: Mapped[Artifact | None] = relationship()
    results: Mapped[list[EvaluationResult]] = relationship(
        back_populates="run", cascade="all, delete-orphan", order_by="EvaluationResult.id"
    )


class EvaluationResult(Base):
    __tablename__ = "evaluation_results"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("evaluation_runs.id", ondelete="CASCADE"), index=True)
    benchmark: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(32))
    metrics: Mapped[dict[str, Any]]
    dataset_sha256: Mapped[str | None] = mapped_column(String(64))

    run: Mapped[EvaluationRun] = relationship(back_populates="results")


class GateStatus(enum.StrEnum):
    evaluating = "evaluating"  # both evaluation runs queued or running
    swapped = "swapped"  # the candidate passed and serves now
    refused = "refused"  # a benchmark's metric dropped more than allowed: the old index keeps serving
    failed = "failed"  # an evaluation or the load failed, or the service stopped: the old index keeps serving


class GatedReload(Base):
    """`POST /v1/admin/reload` with a `gate`: the candidate and the serving model evaluated on the same suite
    (two evaluation runs), and the decision (app/gate.py)."""

    __tablename__ = "gated_reloads"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    status: Mapped[GateStatus] = mapped_column(
        Enum(GateStatus, name="gate_status", native_enum=False, length=16),
        default=GateStatus.evaluating,
        index=True,
    )
    model: Mapped[str] = mapped_column(String(32))
    index_dir: Mapped[str] = mapped_column(Text)  # the candidate
    serving_dir: Mapped[str | None] = mapped_column(Text)  # what served when the gate started
    gate: Mapped[dict[str, Any]]  # {"suite" | "benchmarks", "metric", "max_drop"}
    serving_run_id: Mapped[int | None] = mapped_column(ForeignKey("evaluation_runs.id", ondelete="SET NULL"))
    candidate_run_id: Mapped[int | None] = mapped_column(
        ForeignKey("evaluation_runs.id", ondelete="SET NULL")
    )
    comparison: Mapped[list[Any] | None] = mapped_column(JSON)  # per benchmark: serving, candidate, drop
    error: Mapped[str | None] = mapped_column(Text)
    owner: Mapped[str | None] = mapped_column(String(64))  # "<launch id>:<worker pid>" deciding it
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]


class Feedback(Base):
    """One impression with its clicks (`POST /v1/feedback`): what was shown for a query, what was clicked.

    `client` is the caller's opaque session id (no personal data; addresses are never stored); `assignment`
    is reserved for the A/B split of traffic between named models."""

    __tablename__ = "feedback"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    query: Mapped[str] = mapped_column(Text)
    shown: Mapped[list[str]]
    clicked: Mapped[list[str]]
    served_by: Mapped[str | None] = mapped_column(String(128))  # the model name the client reports
    index_name: Mapped[str | None] = mapped_column(String(256))  # the index directory serving at the time
    index_generation: Mapped[int | None] = mapped_column(Integer)
    client: Mapped[str | None] = mapped_column(String(128))
    assignment: Mapped[str | None] = mapped_column(String(64))


class ClickBenchmark(Base):
    """A triplet benchmark built from feedback (`POST /v1/admin/benchmarks`); the newest of a name is used."""

    __tablename__ = "click_benchmarks"
    __table_args__ = (Index("ix_click_benchmarks_name_id", "name", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    path: Mapped[str] = mapped_column(Text)  # relative to MMWE_DATA_DIR
    rows: Mapped[int] = mapped_column(Integer)
    feedback_records: Mapped[int] = mapped_column(Integer)
    since: Mapped[datetime | None]
    until: Mapped[datetime | None]
    min_impressions: Mapped[int] = mapped_column(Integer)
    seed: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    stats: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


# --- replicas (issue 19): the served index as desired state, and what each serving process serves ----------


class ServedIndex(Base):
    """Desired state: the index every replica should serve under a model name ("default" today).

    `generation` grows by one on every admin reload; replicas poll the row and converge (app/replicas.py)."""

    __tablename__ = "served_index"

    model: Mapped[str] = mapped_column(String(64), primary_key=True)
    index_dir: Mapped[str] = mapped_column(Text)
    generation: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_by: Mapped[str | None] = mapped_column(String(128))


class Replica(Base):
    """What one serving process (a uvicorn worker of one `python -m app serve` launch) serves, per model.

    `id` is "<launch id>:<pid>"; the row is rewritten at every poll (`heartbeat_at`), so a process that died
    shows as stale once its heartbeat is older than MMWE_REPLICA_STALE_SECONDS."""

    __tablename__ = "replica"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    model: Mapped[str] = mapped_column(String(64), primary_key=True)
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime]
    heartbeat_at: Mapped[datetime] = mapped_column(index=True)
    index_dir: Mapped[str | None] = mapped_column(Text)  # the directory served (null: nothing loaded)
    generation: Mapped[int] = mapped_column(Integer)  # the desired-state generation served (0: none yet)
    last_error: Mapped[str | None] = mapped_column(Text)
