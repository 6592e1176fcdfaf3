"""Optional per-client rate limit (MMWE_RATE_LIMIT), with slowapi; off by default.

`MMWE_RATE_LIMIT="100/second;2000/minute"` (the `limits` package's notation, `;`-separated) limits every
route per client address, counted in memory by each worker process: with N workers a client gets up to N
times the rate, and behind a proxy the address is the proxy's unless uvicorn is told to trust its
`X-Forwarded-For` (`FORWARDED_ALLOW_IPS`). Above the rate: 429 with the usual JSON error body and
`Retry-After`. For a limit shared by all workers and replicas, put it in the proxy in front.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from app.errors import error_body
from app.settings import Settings

RETRY_AFTER_S = 1


def install_rate_limit(app: FastAPI, settings: Settings) -> None:
    """Add the limiter middleware (outside the fast path, so that every request counts) when configured."""
    if not settings.rate_limit:
        return
    from slowapi import Limiter
    from slowapi.errors import RateLimitExceeded
    from slowapi.middleware import SlowAPIASGIMiddleware
    from slowapi.util import get_remote_address

    app.state.limiter = Limiter(
        key_func=get_remote_address, default_limits=[settings.rate_limit], storage_uri="memory://"
    )

    async def rate_limited(_: Request, exc: Exception) -> JSONResponse:
        detail = getattr(exc, "detail", str(exc))
        return JSONResponse(
            status_code=429,
            content=error_body("rate_limited", f"rate limit exceeded: {detail} (MMWE_RATE_LIMIT)"),
            headers={"Retry-After": str(RETRY_AFTER_S)},
        )

    app.add_exception_handler(RateLimitExceeded, rate_limited)
    app.add_middleware(SlowAPIASGIMiddleware)
