"""Response models of the replica routes (`GET /v1/admin/replicas`, the admin reload's `replicas`)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class ReplicaOut(BaseModel):
    """One serving process (a uvicorn worker of one replica) and what it serves for one model."""

    id: str = Field(description='"<launch id>:<pid>": one process of one `python -m app serve` launch.')
    host: str
    pid: int
    model: str = Field(description='The model name ("default").')
    started_at: datetime
    heartbeat_at: datetime = Field(description="Last time the process reported (every poll).")
    index_dir: str | None = Field(description="The index directory it serves; null when nothing is loaded.")
    generation: int = Field(description="The desired-state generation it serves (0: none recorded yet).")
    last_error: str | None = Field(description="Why it does not serve the desired index (it retries), if so.")
    live: bool = Field(description="Heartbeat within MMWE_REPLICA_STALE_SECONDS (stale: not waited on).")
    current: bool = Field(description="Serves the desired generation of its model.")


class DesiredOut(BaseModel):
    """The index every replica should serve under a model name (table `served_index`)."""

    model: str
    index_dir: str
    generation: int
    updated_at: datetime
    updated_by: str | None = Field(description="The process that recorded it.")


class ReplicasOut(BaseModel):
    desired: list[DesiredOut]
    replicas: list[ReplicaOut]
    stale_after_s: float = Field(description="MMWE_REPLICA_STALE_SECONDS.")
