"""One error hierarchy for the API, mapped to JSON by one handler.

Body: `{"error": {"code", "message", "detail"}}`."""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Send

from index.errors import ArtifactError, QueryError

log = logging.getLogger("mmwe.app")


class ApiError(Exception):
    status_code = 500
    code = "internal_error"

    def __init__(self, message: str, detail: Any = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail
        self.headers = headers


class BadRequest(ApiError):
    status_code = 400
    code = "bad_request"


class Unauthorized(ApiError):
    status_code = 401
    code = "unauthorized"


class Forbidden(ApiError):
    status_code = 403
    code = "forbidden"


class NotFound(ApiError):
    status_code = 404
    code = "not_found"


class Unprocessable(ApiError):
    status_code = 422
    code = "unprocessable"


class Conflict(ApiError):
    status_code = 409
    code = "conflict"


class ServiceUnavailable(ApiError):
    status_code = 503
    code = "unavailable"


class PayloadTooLarge(ApiError):
    status_code = 413
    code = "payload_too_large"


class UnsupportedMediaType(ApiError):
    status_code = 415
    code = "unsupported_media_type"


class NotImplementedHere(ApiError):
    """A feature of an optional extra that this installation lacks (the message says what to install)."""

    status_code = 501
    code = "not_implemented"


class Overloaded(ServiceUnavailable):
    code = "overloaded"


class GatewayTimeout(ApiError):
    status_code = 504
    code = "search_timeout"


def database_error(exc: BaseException) -> ServiceUnavailable:
    """The 503 for a database failure: its first line, no traceback (a database fault is never a 500)."""
    orig = getattr(exc, "orig", None) or exc
    first = (str(orig).strip().splitlines() or [type(exc).__name__])[0]
    return ServiceUnavailable(f"database unavailable: {first}", headers={"Retry-After": "5"})


HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large", 400: "bad_request"}


def error_body(code: str, message: str, detail: Any = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "detail": detail}}


async def send_error(send: Send, error: ApiError) -> None:
    """Answer `error` from an ASGI middleware (below FastAPI's exception handlers)."""
    body = json.dumps(error_body(error.code, error.message, error.detail)).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    headers += [(k.lower().encode(), v.encode()) for k, v in (error.headers or {}).items()]
    await send({"type": "http.response.start", "status": error.status_code, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _json(
    status: int, code: str, message: str, detail: Any = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(status_code=status, content=error_body(code, message, detail), headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> JSONResponse:
        return _json(exc.status_code, exc.code, exc.message, exc.detail, exc.headers)

    @app.exception_handler(QueryError)
    async def query_error(_: Request, exc: QueryError) -> JSONResponse:
        return _json(422, "unanswerable_query", str(exc))

    @app.exception_handler(ArtifactError)
    async def artifact_error(_: Request, exc: ArtifactError) -> JSONResponse:
        return _json(422, "bad_artifact", str(exc))

    @app.exception_handler(SQLAlchemyError)
    async def sqlalchemy_error(_: Request, exc: SQLAlchemyError) -> JSONResponse:
        log.warning("database error: %s", str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        return await api_error(_, database_error(exc))

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        detail = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
            for e in exc.errors()
        ]
        return _json(422, "validation_error", "request parameters are invalid", detail)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = HTTP_CODES.get(exc.status_code, "http_error")
        return _json(exc.status_code, code, str(exc.detail), headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", exc_info=exc)
        return _json(500, "internal_error", "internal server error")
