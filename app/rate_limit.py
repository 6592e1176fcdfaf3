"""Optional per-client rate limit (MMWE_RATE_LIMIT), counted with the `limits` library; off by default.

`MMWE_RATE_LIMIT="100/second;2000/minute"` (the `limits` notation, `;`-separated) limits each client address
across all routes but the probes (`/healthz`, `/readyz`, `/metrics`), in fixed windows kept in memory by
each worker process: with N workers a client gets up to N times the rate, and behind a proxy the address is
the proxy's unless uvicorn trusts its `X-Forwarded-For` (`FORWARDED_ALLOW_IPS`). Above the rate: 429 with
the usual JSON error body and `Retry-After` (seconds until the window resets). For one limit shared by all
workers and replicas, put it in the proxy in front.

slowapi (the usual FastAPI wrapper of `limits`) was tried first: it finds the route of a request by walking
`app.routes` for an `endpoint`, which FastAPI's included routers no longer expose, so it exempted every
route. This middleware needs no route: it runs outside the fast path and the router.
"""

from __future__ import annotations

import math
import time

from limits import parse_many
from limits.storage import MemoryStorage
from limits.strategies import FixedWindowRateLimiter
from starlette.types import ASGIApp, Receive, Scope, Send

from app.errors import ApiError, send_error

EXEMPT = frozenset({"/healthz", "/readyz", "/metrics"})


class RateLimited(ApiError):
    status_code = 429
    code = "rate_limited"


class RateLimit:
    """ASGI middleware: `rate` per client address (see the module docstring)."""

    def __init__(self, app: ASGIApp, rate: str) -> None:
        self.app = app
        self.rate = rate
        self.items = parse_many(rate)
        self.limiter = FixedWindowRateLimiter(MemoryStorage())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] not in EXEMPT:
            client = scope.get("client")
            key = client[0] if client else "unknown"
            for item in self.items:
                if not self.limiter.hit(item, key):
                    reset = self.limiter.get_window_stats(item, key).reset_time
                    retry = max(1, math.ceil(reset - time.time()))
                    error = RateLimited(
                        f"rate limit exceeded: {item} per client (MMWE_RATE_LIMIT)",
                        detail={"limit": str(item)},
                        headers={"Retry-After": str(retry)},
                    )
                    await send_error(send, error)
                    return
        await self.app(scope, receive, send)
