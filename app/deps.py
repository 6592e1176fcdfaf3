"""`Annotated` dependencies shared by the routes: settings, searcher, database session, admin auth.

The cheap ones are `async def` so that FastAPI does not send each to the thread pool.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from app.db.access import Database
from app.errors import ServiceUnavailable
from app.registry import ModelRegistry
from app.replicas import ReplicaSync
from app.security import admin_problem
from app.serving import IndexHolder, SearchPool
from app.settings import Settings
from index.search import PhraseSearcher


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_holder(request: Request) -> IndexHolder:
    holder: IndexHolder = request.app.state.holder
    return holder


ModelParam = Annotated[
    str | None,
    Query(
        max_length=64,
        description="Served model to ask (MMWE_INDEXES; GET /v1/info lists them); default: the first.",
    ),
]


async def get_models(request: Request) -> ModelRegistry:
    models: ModelRegistry = request.app.state.models
    return models


def current_searcher(holder: IndexHolder) -> PhraseSearcher:
    """The holder's searcher now (503 with the reason when its model has no index loaded)."""
    searcher = holder.current
    if searcher is None:
        raise ServiceUnavailable(
            f"the phrase index of model {holder.name!r} is not loaded",
            detail=holder.error or "no index loaded",
        )
    return searcher


async def get_searcher(request: Request, model: ModelParam = None) -> PhraseSearcher:
    """The searcher of `?model=` (default: the default model) at the time the request starts: a reload
    during the request does not affect it. 404 listing the served models for an unknown name."""
    registry: ModelRegistry = request.app.state.models
    _, holder = registry.holder(model)
    return current_searcher(holder)


async def get_pool(request: Request) -> SearchPool:
    pool: SearchPool = request.app.state.search_pool
    return pool


async def get_database(request: Request) -> Database:
    database: Database = request.app.state.database
    return database


async def get_replicas(request: Request) -> ReplicaSync:
    sync: ReplicaSync = request.app.state.replicas
    return sync


def get_session(request: Request) -> Iterator[Session]:
    with request.app.state.sessionmaker() as session:
        yield session


_bearer = HTTPBearer(
    auto_error=False, scheme_name="AdminToken", description="`Authorization: Bearer <MMWE_ADMIN_TOKEN>`"
)


async def require_admin(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> str:
    """401 without a bearer token, 403 with a wrong one; with no token configured admin is always refused.

    `app.security.AdminGuard` already ran this check before the body was read; this dependency documents
    the scheme in OpenAPI and keeps the check next to the route."""
    settings: Settings = request.app.state.settings
    given = f"Bearer {credentials.credentials}" if credentials is not None else None
    problem = admin_problem(settings, given)
    if problem is not None:
        raise problem
    return "admin"


SettingsDep = Annotated[Settings, Depends(get_settings)]
HolderDep = Annotated[IndexHolder, Depends(get_holder)]
SearcherDep = Annotated[PhraseSearcher, Depends(get_searcher)]
ModelsDep = Annotated[ModelRegistry, Depends(get_models)]
PoolDep = Annotated[SearchPool, Depends(get_pool)]
SessionDep = Annotated[Session, Depends(get_session)]
DatabaseDep = Annotated[Database, Depends(get_database)]
AdminDep = Annotated[str, Depends(require_admin)]
ReplicasDep = Annotated[ReplicaSync, Depends(get_replicas)]
