"""Cost limits: the request body size (MMWE_MAX_BODY_BYTES), and the searches of one worker.

Body: a declared `Content-Length` above the limit is refused at once; a chunked body is counted as it
streams and refused when it passes the limit. Both answer 413 with the usual JSON error body.

Searches: `SearchGuard` admits at most MMWE_MAX_CONCURRENT_SEARCHES searches queued or running in a
worker's search pool (503 `overloaded` with `Retry-After` beyond) and waits at most MMWE_SEARCH_TIMEOUT_S
for each (504 `search_timeout` past it). A search that timed out keeps its slot until its thread really
finishes (FAISS cannot be interrupted), so the bound holds for the threads, not only for the requests.
`SearchPool.run` (app/serving.py) applies it, for the route and the fast path alike.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
from typing import TypeVar

from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.errors import GatewayTimeout, Overloaded, PayloadTooLarge, send_error

RETRY_AFTER_S = 1
T = TypeVar("T")


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        message = f"request body larger than {self.max_bytes} bytes (MMWE_MAX_BODY_BYTES)"
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    too_big = int(value) > self.max_bytes
                except ValueError:
                    too_big = False
                if too_big:
                    await send_error(send, PayloadTooLarge(message, {"limit": self.max_bytes}))
                    return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            msg = await receive()
            if msg["type"] == "http.request":
                received += len(msg.get("body", b""))
                if received > self.max_bytes:
                    raise HTTPException(status_code=413, detail=message)
            return msg

        await self.app(scope, counting_receive, send)


class SearchGuard:
    """Admission and deadline for pool searches (see the module docstring). Event-loop only (no lock)."""

    def __init__(self, max_pending: int, timeout_s: float) -> None:
        self.max_pending = max_pending
        self.timeout_s = timeout_s
        self.pending = 0

    def admit(self) -> None:
        if self.pending >= self.max_pending:
            raise Overloaded(
                f"too many searches in progress on this worker ({self.max_pending}, "
                "MMWE_MAX_CONCURRENT_SEARCHES); retry shortly",
                headers={"Retry-After": str(RETRY_AFTER_S)},
            )
        self.pending += 1

    async def wait(self, future: concurrent.futures.Future[T]) -> T:
        """The result of an admitted search's `future`, or 504 after `timeout_s`; frees its slot when the
        search really ends."""
        loop = asyncio.get_running_loop()

        def release(_: object) -> None:
            with contextlib.suppress(RuntimeError):  # the loop closed at shutdown
                loop.call_soon_threadsafe(self.release)

        future.add_done_callback(release)
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), self.timeout_s)
        except TimeoutError:
            raise GatewayTimeout(
                f"the search took longer than {self.timeout_s:g} s (MMWE_SEARCH_TIMEOUT_S)",
                detail={"timeout_s": self.timeout_s},
            ) from None

    def release(self) -> None:
        self.pending -= 1
