"""`Annotated` dependencies shared by the routes: settings, searcher, database session."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from app.errors import ServiceUnavailable
from app.settings import Settings
from index.search import PhraseSearcher


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_searcher(request: Request) -> PhraseSearcher:
    searcher: PhraseSearcher | None = request.app.state.searcher
    if searcher is None:
        reason = request.app.state.searcher_error or "no index loaded"
        raise ServiceUnavailable("the phrase index is not loaded", detail=reason)
    return searcher


def get_session(request: Request) -> Iterator[Session]:
    with request.app.state.sessionmaker() as session:
        yield session


SettingsDep = Annotated[Settings, Depends(get_settings)]
SearcherDep = Annotated[PhraseSearcher, Depends(get_searcher)]
SessionDep = Annotated[Session, Depends(get_session)]
