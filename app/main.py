"""The FastAPI application factory. `uvicorn --factory app.main:create_app`, or `python -m app serve`.

The lifespan (never import time) loads the phrase index (the replicas' desired one when the database records
one, app/replicas.py), starts the evaluation runner (the database is its queue), the reload watcher and the
replica watcher. A missing or broken index leaves the service up,
answering 503 on query routes with the reason; a database that is down leaves the query routes answering
(they never touch it) and `/readyz` saying what is wrong.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import faiss
from fastapi import FastAPI
from fastapi.telemetry import TelemetryConfig
from starlette.middleware.trustedhost import TrustedHostMiddleware

from app.db.access import Database
from app.errors import install_error_handlers
from app.evaluations.runner import EvaluationRunner, RunnerConfig
from app.fast_path import RelatedFastPath
from app.feedback.fast_path import FeedbackFastPath
from app.feedback.writer import FeedbackWriter
from app.gate import GateKeeper
from app.launch import SnapshotStore, WorkerBoard
from app.limits import BodyLimitMiddleware
from app.metrics import MetricsMiddleware, set_index, set_model_index
from app.rate_limit import RateLimit
from app.registry import ModelRegistry
from app.related_query import base_ranking
from app.replicas import ReplicaSync
from app.result_cache import ResultCache
from app.routes import (
    admin,
    api_docs,
    benchmarks,
    compare,
    evaluations,
    feedback,
    health,
    image,
    info,
    pages,
    related,
    replicas,
    vectors,
)
from app.security import AdminGuard, SecurityHeaders
from app.serving import SEARCH_POOL_THREADS, IndexHolder, SearchPool
from app.settings import Settings
from index.search import PhraseSearcher

log = logging.getLogger("mmwe.app")
IMAGE_FORM_OVERHEAD = 64 << 10  # multipart headers around an image upload of MMWE_MAX_IMAGE_BYTES


def runner_config(settings: Settings, owner: str) -> RunnerConfig:
    return RunnerConfig(
        database_url=settings.resolved_database_url,
        owner=owner,
        nice=settings.eval_nice,
        poll_s=settings.eval_poll_seconds,
        timeout_s=settings.eval_timeout_s,
        heartbeat_s=settings.eval_heartbeat_s,
        grace_s=settings.eval_heartbeat_grace_s,
        max_running=settings.eval_max_running,
        cpus=settings.eval_cpus,
    )


def build_models(settings: Settings) -> ModelRegistry:
    """One `IndexHolder` per served model. Unset MMWE_INDEXES: the one model `default` with the launch's
    reload file and worker board as before; named models: each under `<launch dir>/models/<name>/`."""
    launch_dir = settings.reload_file.parent if settings.reload_file is not None else None
    named = settings.indexes is not None
    holders: dict[str, IndexHolder] = {}
    for i, name in enumerate(settings.models):
        primary = i == 0

        def on_swap(searcher: PhraseSearcher | None, name: str = name, primary: bool = primary) -> None:
            if primary:
                set_index(searcher)
            set_model_index(name, searcher)

        base = launch_dir / "models" / name if named and launch_dir is not None else launch_dir
        reload_file = base / "reload.json" if named and base is not None else settings.reload_file
        holders[name] = IndexHolder(
            reload_file,
            on_swap=on_swap,
            board=WorkerBoard(base / "workers") if base is not None else None,
            name=name,
            primary=primary,
        )
    return ModelRegistry(holders, settings.split)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        faiss.omp_set_num_threads(settings.search_threads)
        app.state.search_pool = SearchPool(
            SEARCH_POOL_THREADS,
            settings.search_threads,
            max_pending=settings.max_concurrent_searches,
            timeout_s=settings.search_timeout_s,
            cache=ResultCache(settings.result_cache),
        )
        database = Database(settings.resolved_database_url, settings.db_timeout_s, settings.db_threads)
        app.state.database = database
        app.state.engine = database.engine
        app.state.sessionmaker = database.sessionmaker
        app.state.feedback_writer = FeedbackWriter(database, linger_s=settings.feedback_linger_ms / 1000)
        models: ModelRegistry = app.state.models
        private_snapshots = None
        if settings.snapshot_dir is not None:
            snapshot_root = settings.snapshot_dir
        elif settings.reload_file is not None:
            snapshot_root = settings.reload_file.parent / "snapshots"
        else:  # one process on its own (tests, `uvicorn --factory` by hand): own copies, removed at exit
            snapshot_root = private_snapshots = Path(tempfile.mkdtemp(prefix="mmwe-snapshots-"))
        named = settings.indexes is not None
        sync = app.state.replicas = ReplicaSync(
            database,
            lambda: models.holders,
            app.state.owner,
            poll_s=settings.replica_poll_seconds,
            grace_s=settings.replica_grace_seconds,
            stale_s=settings.replica_stale_seconds,
        )
        desired = await asyncio.to_thread(sync.start)
        for name, holder in models.holders.items():  # each model its own copies and last known good
            holder.snapshots = SnapshotStore(snapshot_root / name if named else snapshot_root)
            wanted = desired.get(name)
            await asyncio.to_thread(
                holder.load_initial, settings.models[name], wanted.request if wanted else None
            )
        replica_watcher = asyncio.create_task(sync.watch())
        app.state.runner = EvaluationRunner(database.sessionmaker, runner_config(settings, app.state.owner))
        app.state.gates = GateKeeper(database, app.state.runner, models, settings, app.state.owner, sync)
        watchers = [
            asyncio.create_task(holder.watch(settings.reload_poll_seconds))
            for holder in models.holders.values()
            if holder.reload_file
        ]
        try:
            yield
        finally:
            for task in (*watchers, replica_watcher):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await app.state.gates.stop()
            await asyncio.to_thread(sync.leave)
            await asyncio.to_thread(app.state.runner.stop)
            app.state.search_pool.close()
            database.close()
            if private_snapshots is not None:
                shutil.rmtree(private_snapshots, ignore_errors=True)

    app = FastAPI(
        title="mmwe",
        version="0.1.0",
        summary="Related phrases from multimodal word embeddings (Mao et al. 2016).",
        description="See docs/api.md for limits, errors and configuration.",
        lifespan=lifespan,
        docs_url=None,  # /docs is served by app/routes/api_docs.py, without a CDN
        redoc_url=None,
        telemetry=TelemetryConfig(
            tracing=settings.opentelemetry, metrics=settings.opentelemetry, logs=settings.opentelemetry
        ),
    )
    app.state.settings = settings
    app.state.ranking = base_ranking(settings)  # loads MMWE_DENYLIST: a bad path stops the start here
    app.state.models = build_models(settings)
    app.state.holder = app.state.models.holders[app.state.models.default]  # the default model's
    app.state.launch_id = settings.launch_id or uuid.uuid4().hex[:16]
    app.state.owner = f"{app.state.launch_id}:{os.getpid()}"
    install_error_handlers(app)
    queries = (health, related, compare, image, vectors, info)
    routers = (*queries, evaluations, feedback, benchmarks, admin, replicas, pages, api_docs)
    for module in routers:
        app.include_router(module.router)
    if settings.fast_path:  # innermost of ours: inside the body limit, the feedback token and the metrics
        app.add_middleware(RelatedFastPath, state=app.state)
        app.add_middleware(FeedbackFastPath, state=app.state)
    app.add_middleware(AdminGuard, settings=settings)  # 401/403 before an admin body is read
    image_limit = (settings.max_image_bytes + IMAGE_FORM_OVERHEAD, "MMWE_MAX_IMAGE_BYTES")
    app.add_middleware(
        BodyLimitMiddleware,
        max_bytes=settings.max_body_bytes,
        path_limits={"/v1/related/image": image_limit},
    )
    if settings.rate_limit:  # outside the fast path: every request counts
        app.add_middleware(RateLimit, rate=settings.rate_limit)
    if settings.allowed_hosts:
        app.add_middleware(TrustedHostMiddleware, allowed_hosts=settings.allowed_hosts)
    app.add_middleware(MetricsMiddleware)
    app.add_middleware(SecurityHeaders)  # outermost: every answer gets the headers
    return app
