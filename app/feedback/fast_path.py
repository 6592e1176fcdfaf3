"""The hot path of `POST /v1/feedback`: valid JSON records stored below FastAPI's routing layer.

A search front end posts one record per impression, so feedback arrives at the rate of queries; through
FastAPI each costs its routing, dependency and body-parsing machinery (about as much CPU as the related
search it reports on), on the event loop that also answers `/v1/related`. This ASGI middleware, beside the
related fast path (app/fast_path.py) and built the same way, answers the common case itself and hands
everything else to the route unchanged:

- it answers only `POST /v1/feedback` with a `Content-Type: application/json` body that parses
  (`json.loads`, as FastAPI parses it) and validates with the route's own body model (`FeedbackRequest`,
  through a pydantic `TypeAdapter`), so the route and the fast path accept the same records by construction;
- the record is stored by the route's own function (`record_feedback`: the group-commit writer), and the
  answer has the route's bytes (202, `{"id": N}`);
- anything else (another content type, a body that does not parse or validate, a database error) goes to the
  FastAPI route with the body it already read replayed, which answers or raises exactly as it would without
  this middleware (a record that failed to store is tried once more there: a cost on the error path only).

The feedback token (MMWE_FEEDBACK_TOKEN) is checked before this, by `AdminGuard` (app/security.py), and the
body size by `BodyLimitMiddleware`, both outside it. `MMWE_FAST_PATH=false` turns it off with the related one.
"""

from __future__ import annotations

import json

from pydantic import TypeAdapter, ValidationError
from starlette.datastructures import State
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.fast_path import find_route, route_path
from app.routes.feedback import record_feedback, router
from app.schemas_feedback import FeedbackRequest
from app.security import FEEDBACK_PATH

BODY = TypeAdapter(FeedbackRequest)


class FeedbackFastPath:
    """ASGI middleware storing plain valid `POST /v1/feedback` records (see the module docstring)."""

    def __init__(self, app: ASGIApp, state: State) -> None:
        self.app = app
        self.state = state
        self.route = find_route(router, FEEDBACK_PATH, "POST")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not (scope["type"] == "http" and scope["method"] == "POST" and route_path(scope) == FEEDBACK_PATH):
            await self.app(scope, receive, send)
            return
        body, complete = await read_body(receive)
        record = parse(body) if complete and is_json(scope.get("headers", [])) else None
        if record is not None:
            try:
                feedback_id = await record_feedback(self.state, record)
            except Exception:  # the route tries again and answers the error in the API's one format
                feedback_id = None
            if feedback_id is not None:
                answer = b'{"id":%d}' % feedback_id
                scope["route"] = self.route
                await send(
                    {
                        "type": "http.response.start",
                        "status": 202,
                        "headers": [
                            (b"content-length", str(len(answer)).encode()),
                            (b"content-type", b"application/json"),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": answer})
                return
        await self.app(scope, replay(body, complete, receive), send)


async def read_body(receive: Receive) -> tuple[bytes, bool]:
    """The request body, and False when the client went away before sending all of it."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":  # http.disconnect
            return b"".join(chunks), False
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks), True


def replay(body: bytes, complete: bool, receive: Receive) -> Receive:
    """A `receive` that gives the body already read once (whole), then defers to the real one."""
    sent = False

    async def again() -> Message:
        nonlocal sent
        if sent or not complete:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return again


def is_json(headers: list[tuple[bytes, bytes]]) -> bool:
    """Exactly one Content-Type header, `application/json` (parameters such as charset allowed)."""
    types = [value for key, value in headers if key.lower() == b"content-type"]
    return len(types) == 1 and types[0].split(b";", 1)[0].strip().lower() == b"application/json"


def parse(body: bytes) -> FeedbackRequest | None:
    try:
        return BODY.validate_python(json.loads(body))
    except (ValueError, ValidationError):  # json.JSONDecodeError and UnicodeDecodeError are ValueErrors
        return None
