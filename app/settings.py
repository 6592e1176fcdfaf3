"""The one configuration object, read from the environment (`MMWE_*` variables plus `DATABASE_URL`)."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every variable is documented in README.md ("Configuration") and `.env.example`."""

    model_config = SettingsConfigDict(env_prefix="MMWE_", extra="ignore")

    host: str = Field("127.0.0.1", description="Interface the API binds to.")
    port: int = Field(8000, ge=1, le=65535, description="TCP port of the API.")
    workers: int = Field(1, ge=1, le=64, description="uvicorn worker processes.")
    data_dir: Path = Field(Path("data"), description="Root of corpora, embeddings, indexes and the SQLite file.")
    index_dir: Path | None = Field(None, description="Phrase index served at start-up; default DATA_DIR/index/default.")
    database_url: str | None = Field(
        None,
        validation_alias=AliasChoices("DATABASE_URL", "MMWE_DATABASE_URL"),
        description="SQLAlchemy URL; default sqlite:///DATA_DIR/mmwe.db.",
    )
    admin_token: str | None = Field(None, description="Bearer token for /v1/admin/*; unset = admin refused.")
    max_query_chars: int = Field(200, ge=1, description="Longest accepted query string.")
    max_k: int = Field(100, ge=1, description="Largest k for /v1/related.")
    log_level: str = Field("info", description="uvicorn log level.")

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
