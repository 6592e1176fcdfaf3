"""Request body size limit (MMWE_MAX_BODY_BYTES), enforced before the body is parsed.

A declared `Content-Length` above the limit is refused at once; a chunked body is counted as it streams and
refused when it passes the limit. Both answer 413 with the usual JSON error body.
"""

from __future__ import annotations

import json

from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.errors import error_body


class BodyLimitMiddleware:
    """`path_limits` maps a path to its own (limit, setting name), e.g. image uploads."""

    def __init__(
        self, app: ASGIApp, max_bytes: int, path_limits: dict[str, tuple[int, str]] | None = None
    ) -> None:
        self.app = app
        self.limits = path_limits or {}
        self.default = (max_bytes, "MMWE_MAX_BODY_BYTES")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        max_bytes, setting = self.limits.get(scope["path"], self.default)
        message = f"request body larger than {max_bytes} bytes ({setting})"
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    too_big = int(value) > max_bytes
                except ValueError:
                    too_big = False
                if too_big:
                    body = json.dumps(error_body("payload_too_large", message, {"limit": max_bytes})).encode()
                    await send(
                        {
                            "type": "http.response.start",
                            "status": 413,
                            "headers": [
                                (b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode()),
                            ],
                        }
                    )
                    await send({"type": "http.response.body", "body": body})
                    return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            msg = await receive()
            if msg["type"] == "http.request":
                received += len(msg.get("body", b""))
                if received > max_bytes:
                    raise HTTPException(status_code=413, detail=message)
            return msg

        await self.app(scope, counting_receive, send)
