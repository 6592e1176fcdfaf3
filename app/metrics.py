"""Prometheus metrics: requests and latency by route and status, index size, evaluation runs by status.

Request metrics are recorded by `MetricsMiddleware` (a plain ASGI middleware; the route label is the route's
path template, so unknown paths cannot blow up cardinality). With several workers, `python -m app serve` sets
`PROMETHEUS_MULTIPROC_DIR` and every worker's `/metrics` aggregates all workers. Evaluation runs by status are
counted in the database at scrape time (the database is their source of truth across workers and restarts).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.db.models import EvaluationRun, RunStatus
from index.search import PhraseSearcher

log = logging.getLogger("mmwe.app")

REQUESTS = Counter(
    "mmwe_http_requests", "HTTP requests by method, route template and status.", ["method", "route", "status"]
)
LATENCY = Histogram(
    "mmwe_http_request_duration_seconds",
    "HTTP request latency by method, route template and status.",
    ["method", "route", "status"],
    buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0),
)
INDEX_PHRASES = Gauge("mmwe_index_phrases", "Phrases in the served index.", multiprocess_mode="mostrecent")
INDEX_BYTES = Gauge("mmwe_index_memory_bytes", "Memory of the served index.", multiprocess_mode="mostrecent")
INDEX_GENERATION = Gauge(
    "mmwe_index_generation",
    "Reload generation each worker has loaded and serves (0: the start-up index; -1: a fallback).",
    ["worker"],
    multiprocess_mode="mostrecent",
)
MODEL_GENERATION = Gauge(
    "mmwe_model_generation",
    "Reload generation each worker has loaded, per served model (MMWE_INDEXES).",
    ["model", "worker"],
    multiprocess_mode="mostrecent",
)
MODEL_PHRASES = Gauge(
    "mmwe_model_phrases", "Phrases in each served model's index.", ["model"], multiprocess_mode="mostrecent"
)
MODEL_BYTES = Gauge(
    "mmwe_model_memory_bytes",
    "Memory of each served model's index.",
    ["model"],
    multiprocess_mode="mostrecent",
)
INDEX_LOAD_FAILURES = Counter("mmwe_index_load_failures", "Index loads that failed (retried with backoff).")
INDEX_RELOADS = Counter("mmwe_index_reloads", "Index reloads by outcome.", ["outcome"])
RESULT_CACHE_LOOKUPS = Counter(
    "mmwe_related_cache_lookups", "Related-query result cache lookups by outcome.", ["outcome"]
)

CONTENT_TYPE = CONTENT_TYPE_LATEST


def set_index(searcher: PhraseSearcher | None) -> None:
    INDEX_PHRASES.set(searcher.num_phrases if searcher is not None else 0)
    INDEX_BYTES.set(searcher.memory_bytes() if searcher is not None else 0)


def set_model_index(model: str, searcher: PhraseSearcher | None) -> None:
    MODEL_PHRASES.labels(model).set(searcher.num_phrases if searcher is not None else 0)
    MODEL_BYTES.labels(model).set(searcher.memory_bytes() if searcher is not None else 0)


class MetricsMiddleware:
    """Counts and times every HTTP request; the labelled series are looked up once per label set."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._series: dict[tuple[str, str, str], tuple[Counter, Histogram]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            labels = (scope["method"], route, str(status))
            series = self._series.get(labels)
            if series is None:  # bounded: route templates x methods x statuses
                series = self._series[labels] = (REQUESTS.labels(*labels), LATENCY.labels(*labels))
            series[0].inc()
            series[1].observe(time.perf_counter() - start)


def evaluation_runs(session: Session) -> bytes:
    """`mmwe_evaluation_runs{status}`, counted in the database (the source of truth across workers)."""
    family = GaugeMetricFamily("mmwe_evaluation_runs", "Evaluation runs by status.", labels=["status"])
    query = select(EvaluationRun.status, func.count()).group_by(EvaluationRun.status)
    rows = {status: count for status, count in session.execute(query).all()}
    for status in RunStatus:
        family.add_metric([status.value], float(rows.get(status, 0)))
    registry = CollectorRegistry()
    registry.register(_Fixed([family]))
    return generate_latest(registry)


class _Fixed(Collector):
    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> Iterable[Metric]:
        return self.families


def render() -> bytes:
    """The exposition text of process-wide (or, with several workers, all workers') metrics."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry)
    from prometheus_client import REGISTRY

    return generate_latest(REGISTRY)
