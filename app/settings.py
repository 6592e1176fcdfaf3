"""The one configuration object, read from the environment (`MMWE_*` variables plus `DATABASE_URL`)."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every variable is documented in README.md ("Configuration") and docs/api.md ("Limits")."""

    model_config = SettingsConfigDict(env_prefix="MMWE_", extra="ignore")

    host: str = Field(default="127.0.0.1", description="Interface the API binds to.")
    port: int = Field(default=8000, ge=1, le=65535, description="TCP port of the API.")
    workers: int = Field(default=1, ge=1, le=64, description="uvicorn worker processes.")
    data_dir: Path = Field(
        default=Path("data"), description="Root of corpora, embeddings, indexes and the SQLite file."
    )
    index_dir: Path | None = Field(
        default=None, description="Phrase index served at start-up; default DATA_DIR/index/default."
    )
    database_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("DATABASE_URL", "MMWE_DATABASE_URL"),
        description="SQLAlchemy URL; default sqlite:///DATA_DIR/mmwe.db.",
    )
    admin_token: str | None = Field(
        default=None, description="Bearer token for /v1/admin/*; unset = admin refused."
    )
    max_query_chars: int = Field(default=200, ge=1, le=10_000, description="Longest accepted query string.")
    max_k: int = Field(
        default=100, ge=1, le=1000, description="Largest k for /v1/related and /v1/related/batch."
    )
    max_batch: int = Field(
        default=1000, ge=1, le=10_000, description="Most queries in one /v1/related/batch call."
    )
    max_body_bytes: int = Field(
        default=1 << 20, ge=1024, description="Largest accepted request body (413 above)."
    )
    search_threads: int = Field(
        default=1, ge=1, le=64, description="FAISS (OpenMP) threads per worker process."
    )
    fast_path: bool = Field(
        default=True,
        description="Answer plain valid GET /v1/related requests below FastAPI's routing (app/fast_path.py).",
    )
    opentelemetry: bool = Field(
        default=False,
        description="FastAPI's native OpenTelemetry spans, metrics and logs (needs an SDK set up by the "
        "operator); off, the service's metrics are its Prometheus /metrics, and requests skip the check.",
    )
    reload_file: Path | None = Field(
        default=None,
        description="File through which workers share /v1/admin/reload; `python -m app serve` sets it.",
    )
    reload_poll_seconds: float = Field(
        default=1.0, gt=0, description="How often workers check the reload file."
    )
    launch_id: str | None = Field(
        default=None,
        description="One `python -m app serve` launch (set by it); other launches' runs are stale.",
    )
    eval_nice: int = Field(
        default=19, ge=0, le=19, description="Niceness of evaluation processes (they also run SCHED_IDLE)."
    )
    log_level: str = Field(default="info", description="uvicorn log level.")

    # --- availability and consistency (issue 14: evaluation queue and supervision, database faults, index
    # snapshots). Grouped here so that they merge cleanly with the security settings.
    eval_poll_seconds: float = Field(
        default=1.0, gt=0, le=60, description="How often each worker looks for queued evaluation runs."
    )
    eval_timeout_s: float = Field(
        default=3600.0, gt=0, description="Longest an evaluation run may take; it is then killed and failed."
    )
    eval_heartbeat_s: float = Field(
        default=5.0, gt=0, le=300, description="How often a worker records that its evaluation is alive."
    )
    eval_heartbeat_grace_s: float = Field(
        default=60.0,
        gt=0,
        description="A running evaluation whose heartbeat is older than this is failed by any worker.",
    )
    eval_max_running: int = Field(
        default=1,
        ge=1,
        le=64,
        description="Evaluation runs at once across all workers sharing the database.",
    )
    db_timeout_s: float = Field(
        default=3.0,
        gt=0,
        le=300,
        description="Database connect, statement and lock timeout; past it a request answers 503.",
    )
    db_threads: int = Field(
        default=4, ge=1, le=64, description="Threads (and pooled connections) for database work per worker."
    )
    snapshot_dir: Path | None = Field(
        default=None,
        description="Where loaded indexes are copied and served from (immutable copies, last known good); "
        "default: the launch's temporary directory.",
    )
    reload_wait_s: float = Field(
        default=30.0, gt=0, le=600, description="How long an admin reload waits for every worker to follow."
    )

    @cached_property
    def resolved_index_dir(self) -> Path:
        return self.index_dir if self.index_dir is not None else self.data_dir / "index" / "default"

    @cached_property
    def resolved_database_url(self) -> str:
        url = self.database_url or f"sqlite:///{(self.data_dir / 'mmwe.db').resolve()}"
        # Plain postgres URLs select the psycopg (v3) driver, the one this project installs.
        for prefix in ("postgresql://", "postgres://"):
            if url.startswith(prefix):
                return "postgresql+psycopg://" + url[len(prefix) :]
        return url
