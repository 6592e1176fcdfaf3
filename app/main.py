"""The FastAPI application factory. `uvicorn --factory app.main:create_app`, or `python -m app serve`.

The phrase index is loaded in the lifespan (never at import time); a missing or broken index leaves the service
up, answering 503 on query routes with the reason, so that health checks can say what is wrong.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from app.db.session import make_engine, make_sessionmaker
from app.errors import install_error_handlers
from app.routes import health, pages, related
from app.settings import Settings
from index.errors import ArtifactError
from index.search import PhraseSearcher

log = logging.getLogger("mmwe.app")


def load_searcher(app: FastAPI) -> None:
    settings: Settings = app.state.settings
    path = settings.resolved_index_dir
    try:
        app.state.searcher = PhraseSearcher.load(path)
        app.state.searcher_error = None
        log.info("loaded index %s (%d phrases)", path, app.state.searcher.num_phrases)
    except ArtifactError as exc:
        app.state.searcher = None
        app.state.searcher_error = str(exc)
        log.error("index not loaded: %s", exc)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(settings.resolved_database_url)
        app.state.engine = engine
        app.state.sessionmaker = make_sessionmaker(engine)
        load_searcher(app)
        try:
            yield
        finally:
            engine.dispose()

    app = FastAPI(
        title="mmwe",
        version="0.1.0",
        summary="Related phrases from multimodal word embeddings (Mao et al. 2016).",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.searcher = None
    app.state.searcher_error = "not loaded yet"
    install_error_handlers(app)
    app.include_router(health.router)
    app.include_router(related.router)
    app.include_router(pages.router)
    return app
