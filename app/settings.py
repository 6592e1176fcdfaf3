"""The one configuration object, read from the environment (`MMWE_*` variables plus `DATABASE_URL`)."""

from __future__ import annotations

import json
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from app.model_names import DEFAULT_MODEL, parse_indexes, parse_split
from index.ranking import DEFAULT_MIN_COUNT, DEFAULT_POPULARITY, Compounds


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
    feedback_token: str | None = Field(
        default=None, description="Bearer token for POST /v1/feedback; unset = feedback open to anyone."
    )
    feedback_linger_ms: float = Field(
        default=10.0,
        ge=0,
        le=1000,
        description="How long a POST /v1/feedback record waits for others to share its transaction "
        "(app/feedback/writer.py); 0 = a record arriving while none is being stored goes alone.",
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
    max_image_bytes: int = Field(
        default=8 << 20, ge=1024, description="Largest image upload to POST /v1/related/image (413 above)."
    )
    max_image_pixels: int = Field(
        default=40_000_000,
        ge=1,
        description="Most pixels (width x height) of an uploaded image, checked before decoding (413 above).",
    )
    search_threads: int = Field(
        default=1, ge=1, le=64, description="FAISS (OpenMP) threads per worker process."
    )
    popularity: float = Field(
        default=DEFAULT_POPULARITY,
        ge=0.0,
        le=1.0,
        description="Default weight w of the popularity prior: rank by cosine + w*ln(1+count).",
    )
    min_count: int = Field(
        default=DEFAULT_MIN_COUNT, ge=0, description="Default least corpus count of a related phrase."
    )
    compounds: Compounds = Field(
        default="limit", description="Default for phrases sharing a query word: include|limit|exclude."
    )
    denylist: str = Field(
        default="default",
        description="Words and phrases never suggested: `default` (index/denylist.txt), `none`, or a file.",
    )
    fast_path: bool = Field(
        default=True,
        description="Answer plain valid GET /v1/related and POST /v1/feedback requests below FastAPI's "
        "routing (app/fast_path.py, app/feedback/fast_path.py).",
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
    eval_cpus: str | None = Field(
        default=None,
        description="CPUs the evaluation processes may run on (a Linux CPU list such as `1` or `2-3`); "
        "unset: any. Give them CPUs the API workers are not pinned to, where there are spare ones.",
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

    # --- replicas (issue 19: launches sharing one database agree on the served index, app/replicas.py)
    replica_poll_seconds: float = Field(
        default=1.0, gt=0, le=60, description="How often each serving process reads the desired index."
    )
    replica_grace_seconds: float = Field(
        default=30.0,
        gt=0,
        description="A process lagging the desired index longer than this answers /readyz 503.",
    )
    replica_stale_seconds: float = Field(
        default=15.0,
        gt=0,
        description="A replica whose heartbeat is older than this is stale: listed so, not waited on.",
    )

    # --- security and cost limits (docs/deployment.md "Security model") -------------------------------------
    benchmark_dirs: Annotated[list[Path], NoDecode] = Field(
        default_factory=list,
        description="Directories (besides DATA_DIR) whose files admin evaluations may read; JSON list or "
        "comma-separated.",
    )
    index_roots: Annotated[list[Path], NoDecode] = Field(
        default_factory=list,
        description="Directories (besides DATA_DIR) under which POST /v1/admin/reload may load an index.",
    )
    allowed_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Accepted Host headers (TrustedHostMiddleware, `*.example.com` allowed); empty = any.",
    )
    search_timeout_s: float = Field(
        default=5.0, gt=0, le=300, description="Deadline of one search in the pool (504 past it)."
    )
    result_cache: int = Field(
        default=8192,
        ge=0,
        le=10_000_000,
        description="Related-query answers kept per worker and loaded index (LRU; 0 = no cache).",
    )
    max_concurrent_searches: int = Field(
        default=32,
        ge=1,
        le=10_000,
        description="Searches queued or running in one worker's pool at once (503 with Retry-After above).",
    )
    max_header_bytes: int = Field(
        default=16_384, ge=1024, le=1 << 20, description="Largest request line + headers (431 above)."
    )
    header_timeout_s: float = Field(
        default=10.0, gt=0, le=300, description="Time to send a request line and headers (408, then closed)."
    )
    body_timeout_s: float = Field(
        default=30.0, gt=0, le=3600, description="Time to send a request body after its headers (408)."
    )
    db_api_role: str = Field(
        default="mmwe_api",
        description="Login role the API connects as; `python -m app db upgrade --api-role` creates it.",
    )
    db_api_password: str | None = Field(
        default=None, description="Password of db_api_role (set by the migration job; compose requires it)."
    )
    rate_limit: str | None = Field(
        default=None,
        description="Requests per client address and worker, e.g. '100/second;2000/minute' (the `limits` "
        "package's notation); unset = off (app/rate_limit.py).",
    )

    # --- several models (issue 17: named indexes, A/B split of /v1/related) --------------------------------
    indexes: str | None = Field(
        default=None,
        description="Named indexes served side by side, `name=dir,name=dir` (dirs under MMWE_DATA_DIR or "
        "MMWE_INDEX_ROOTS; relative: under MMWE_DATA_DIR); the first is the default. Unset: one model "
        "`default` (MMWE_INDEX_DIR).",
    )
    gate_wait_s: float = Field(
        default=600.0,
        gt=0,
        le=3600,
        description="How long POST /v1/admin/reload with a gate and `wait` waits for the decision.",
    )
    ab_split: str | None = Field(
        default=None,
        description="Split of GET /v1/related requests without `model` between models, `name:weight,...` "
        "(by a hash of X-Client-Id or `session`, else at random); unset: the default model serves them.",
    )

    @field_validator("benchmark_dirs", "index_roots", "allowed_hosts", mode="before")
    @classmethod
    def _split_list(cls, value: Any) -> Any:
        """Environment values: a JSON list, or comma-separated items (blank = none)."""
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [item.strip() for item in text.split(",") if item.strip()]
        return value

    @field_validator("rate_limit")
    @classmethod
    def _valid_rate(cls, value: str | None) -> str | None:
        if value:
            from limits import parse_many

            parse_many(value)  # ValueError names what is wrong
        return value or None

    @field_validator("eval_cpus")
    @classmethod
    def _valid_cpus(cls, value: str | None) -> str | None:
        if value and value.strip():
            from app.evaluations.worker import parse_cpus

            parse_cpus(value)  # ValueError names what is wrong
            return value.strip()
        return None

    @model_validator(mode="after")
    def _valid_models(self) -> Settings:
        """MMWE_INDEXES entries well formed and under the allowed index roots; MMWE_AB_SPLIT over them."""
        if self.indexes is not None and not self.indexes.strip():
            self.indexes = None
        if self.ab_split is not None and not self.ab_split.strip():
            self.ab_split = None
        models = self.models  # raises ValueError on a bad MMWE_INDEXES
        if self.indexes is not None:
            roots = [r.resolve() for r in (self.data_dir, *self.index_roots)]
            for name, directory in models.items():
                if not any(directory == r or directory.is_relative_to(r) for r in roots):
                    raise ValueError(
                        f"MMWE_INDEXES: the directory of model {name!r} ({directory}) is outside "
                        "MMWE_DATA_DIR and MMWE_INDEX_ROOTS"
                    )
        if self.ab_split is not None:
            parse_split(self.ab_split, list(models))
        return self

    @cached_property
    def models(self) -> dict[str, Path]:
        """The served models by name, in order (the first is the default); directories resolved."""
        if self.indexes is None:
            return {DEFAULT_MODEL: self.resolved_index_dir}
        return {
            name: (d if d.is_absolute() else self.data_dir / d).resolve()
            for name, d in parse_indexes(self.indexes).items()
        }

    @cached_property
    def split(self) -> list[tuple[str, int]]:
        """MMWE_AB_SPLIT parsed: [(model, weight)]; empty when unset."""
        return parse_split(self.ab_split, list(self.models)) if self.ab_split is not None else []

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
