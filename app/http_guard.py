"""Limits below the ASGI app, in uvicorn's HTTP protocol: header size, header and body read timeouts.

uvicorn's httptools protocol (the fast one, used by `python -m app serve`) accepts headers of any size and
waits forever for a request that is sent slowly or not at all (only idle keep-alive connections time out).
`GuardedHttpToolsProtocol` adds, per connection:

- MMWE_MAX_HEADER_BYTES: a request line plus headers larger than this is answered 431 and the connection
  closed, before the headers are parsed;
- MMWE_HEADER_TIMEOUT_S: from the connection's start (or the first byte of a following request) to the end
  of its headers; past it: 408 and close;
- MMWE_BODY_TIMEOUT_S: from the end of the headers to the end of the body; past it: 408 (if no answer has
  started) and close.

So a half-sent request holds a connection for at most the header timeout (10 s by default) plus, once the
headers are in, the body timeout (30 s). Sizes are counted on the raw bytes received while headers are
expected, so a single huge header line cannot grow in memory either. `python -m app serve` passes the class
to uvicorn (`http=`); it reads the limits from the environment (`Settings`) once per process.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from app.settings import Settings

log = logging.getLogger("mmwe.app")

HEADERS_END = b"\r\n\r\n"


@functools.cache
def limits() -> tuple[int, float, float]:
    """This process's limits, read from the environment once (uvicorn's worker processes inherit it)."""
    settings = Settings()
    return settings.max_header_bytes, settings.header_timeout_s, settings.body_timeout_s


def plain_response(status: int, reason: str, text: str) -> bytes:
    body = text.encode()
    return (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: text/plain; charset=utf-8\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    ).encode() + body


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """HttpToolsProtocol with the header size limit and read timeouts of the module docstring."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.max_header_bytes, self.header_timeout_s, self.body_timeout_s = limits()
        self._reading_headers = True
        self._header_bytes = 0
        self._tail = b""
        self._timer: asyncio.TimerHandle | None = None

    # --- timers -----------------------------------------------------------------------------------------
    def _arm(self, seconds: float, what: str) -> None:
        self._disarm()
        self._timer = self.loop.call_later(seconds, self._expired, what)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expired(self, what: str) -> None:
        self._timer = None
        if self.transport.is_closing():
            return
        log.info("%s: request %s not received in time; closing the connection", self.client, what)
        answering = self.cycle is not None and not self.cycle.response_complete
        if what == "headers" and not answering:
            self.transport.write(
                plain_response(408, "Request Timeout", "request headers not received in time")
            )
        elif what == "body" and self.cycle is not None and not self.cycle.response_started:
            self.transport.write(plain_response(408, "Request Timeout", "request body not received in time"))
        if self.cycle is not None and not self.cycle.response_complete:
            self.cycle.disconnected = True  # the app's receive() says http.disconnect, its send() is dropped
            self.cycle.message_event.set()
        self.transport.close()

    # --- protocol hooks ---------------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm(self.header_timeout_s, "headers")

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._reading_headers and self._too_large(data):
            self._disarm()
            self.transport.write(
                plain_response(431, "Request Header Fields Too Large", "request headers too large")
            )
            self.transport.close()
            return
        super().data_received(data)

    def _too_large(self, data: bytes) -> bool:
        """Count `data` against the header limit; the bytes after the end of the headers do not count."""
        end = (self._tail + data).find(HEADERS_END)
        used = len(data) if end < 0 else end + len(HEADERS_END) - len(self._tail)
        self._header_bytes += used
        self._tail = (self._tail + data)[-3:]
        return self._header_bytes > self.max_header_bytes

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._timer is None:  # a following request on a kept-alive connection
            self._arm(self.header_timeout_s, "headers")

    def on_headers_complete(self) -> None:
        self._reading_headers = False
        self._header_bytes = 0
        self._tail = b""
        self._arm(self.body_timeout_s, "body")
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._disarm()
        self._reading_headers = True
        super().on_message_complete()
