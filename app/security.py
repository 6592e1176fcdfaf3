"""Who may do what, and where: allowed roots for server paths, the admin check, security headers.

- Paths: a benchmark file (`POST /v1/admin/evaluations`) must lie under MMWE_DATA_DIR or one of
  MMWE_BENCHMARK_DIRS, an index directory (`POST /v1/admin/reload`) under MMWE_DATA_DIR or one of
  MMWE_INDEX_ROOTS. The path is resolved first (symlinks followed, `..` removed), so a link or `..` cannot
  leave a root. The built-in suites' files (shipped inside the gensim wheel) are named by the server, not
  the caller, and are always allowed.
- Admin: `AdminGuard` answers 401/403 for `/v1/admin/*` from the `Authorization` header alone, before the
  body is read or parsed (so an anonymous caller never learns what a valid body looks like); the
  `require_admin` dependency (app/deps.py) runs the same check for the OpenAPI description. It also answers
  401 for `POST /v1/feedback` without MMWE_FEEDBACK_TOKEN when that token is set (open when unset).
- What anonymous callers see: `is_admin(request)` decides whether paths, pids and error texts are shown.
- `SecurityHeaders` adds a Content-Security-Policy without inline script, nosniff, frame-ancestors and
  Referrer-Policy to every response.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from typing import Any

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.errors import ApiError, Forbidden, Unauthorized, Unprocessable, send_error
from app.schemas import EvaluationRunOut
from app.settings import Settings

ADMIN_PREFIX = "/v1/admin/"
FEEDBACK_PATH = "/v1/feedback"
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "font-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
OTHER_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
]
SECURITY_HEADERS = [(b"content-security-policy", CSP.encode()), *OTHER_HEADERS]
# Swagger UI (/docs) sets inline styles; scripts stay 'self' only.
DOCS_HEADERS = [
    (
        b"content-security-policy",
        CSP.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'").encode(),
    ),
    *OTHER_HEADERS,
]


class PathNotAllowed(Forbidden):
    code = "path_not_allowed"


def confine(path: Path | str, roots: Sequence[Path], setting: str) -> Path:
    """`path` resolved (symlinks, `..`), if it lies under one of `roots` (also resolved); else 403.

    A relative path is taken relative to the first root (MMWE_DATA_DIR)."""
    candidate = Path(path)
    if not candidate.is_absolute():
        candidate = roots[0] / candidate
    try:
        resolved = candidate.resolve()
        allowed = [root.resolve() for root in roots]
    except ValueError as exc:  # a NUL byte
        raise Unprocessable(f"not a valid path: {exc}") from exc
    except (OSError, RuntimeError) as exc:  # a symlink loop
        raise PathNotAllowed(f"path cannot be resolved: {type(exc).__name__}") from exc
    if not any(resolved == root or resolved.is_relative_to(root) for root in allowed):
        raise PathNotAllowed(
            f"path is outside the allowed directories (MMWE_DATA_DIR, {setting})",
            detail={"path": str(path)},
        )
    return resolved


def benchmark_roots(settings: Settings) -> list[Path]:
    return [settings.data_dir, *settings.benchmark_dirs]


def index_roots(settings: Settings) -> list[Path]:
    return [settings.data_dir, *settings.index_roots]


def admin_problem(settings: Settings, authorization: str | None) -> ApiError | None:
    """Why a request with this `Authorization` header is not admin, or None when it is."""
    if not settings.admin_token:
        return Forbidden("admin endpoints are disabled: MMWE_ADMIN_TOKEN is not set on the server")
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return Unauthorized("admin token required", headers={"WWW-Authenticate": "Bearer"})
    given = token.strip().encode("utf-8", "surrogateescape")
    if not hmac.compare_digest(given, settings.admin_token.encode("utf-8")):
        return Forbidden("invalid admin token")
    return None


def feedback_problem(settings: Settings, authorization: str | None) -> ApiError | None:
    """Why a request may not send feedback (MMWE_FEEDBACK_TOKEN set, and not given), or None."""
    if not settings.feedback_token:
        return None
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return Unauthorized("feedback token required", headers={"WWW-Authenticate": "Bearer"})
    given = token.strip().encode("utf-8", "surrogateescape")
    if not hmac.compare_digest(given, settings.feedback_token.encode("utf-8")):
        return Unauthorized("invalid feedback token", headers={"WWW-Authenticate": "Bearer"})
    return None


ABSOLUTE_PATH = re.compile(r"(?<![\w.~-])/(?:[^\s'\"(),;:/]+/)*([^\s'\"(),;:/]*)")


def redact_paths(text: str) -> str:
    """`text` with every absolute path cut to its last part ("/srv/data/index/a/manifest.json" -> ".../
    manifest.json"): what anonymous callers may see of a server-side message (the admin sees it whole)."""
    return ABSOLUTE_PATH.sub(lambda m: ".../" + m.group(1), text)


def is_admin(request: Request) -> bool:
    """True when the request carries the admin token (used to show internal details)."""
    settings: Settings = request.app.state.settings
    return admin_problem(settings, request.headers.get("authorization")) is None


class AdminGuard:
    """401/403 for `/v1/admin/*`, 401 for `/v1/feedback` (when it has a token), before the body is read."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        root: str = scope.get("root_path", "")
        if root and path.startswith(root):  # the path the router matches (as app/fast_path.py)
            path = path[len(root) :]
        if scope["type"] == "http" and (path.startswith(ADMIN_PREFIX) or path == FEEDBACK_PATH):
            authorization = next(
                (v.decode("latin-1") for k, v in scope["headers"] if k == b"authorization"), None
            )
            if path == FEEDBACK_PATH:
                problem = feedback_problem(self.settings, authorization)
            else:
                problem = admin_problem(self.settings, authorization)
            if problem is not None:
                await send_error(send, problem)
                return
        await self.app(scope, receive, send)


class SecurityHeaders:
    """Adds SECURITY_HEADERS to every HTTP response (outermost middleware, so errors get them too)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        extra = DOCS_HEADERS if scope["path"] == "/docs" else SECURITY_HEADERS

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), *extra]
            await send(message)

        await self.app(scope, receive, send_with_headers)


def strip_paths(value: Any) -> Any:
    """`value` (JSON-like) with every absolute path string replaced by its last component."""
    if isinstance(value, dict):
        return {k: strip_paths(v) for k, v in value.items()}
    if isinstance(value, list):
        return [strip_paths(v) for v in value]
    if isinstance(value, str) and value.startswith("/"):
        return PurePosixPath(value).name
    return value


PUBLIC_ERROR = "the run failed; its error (which may name server files) is shown with the admin token"


def public_run(run: EvaluationRunOut) -> EvaluationRunOut:
    """What an anonymous caller sees of a run: status, timing, benchmark names and metrics; no error text,
    no file paths (the admin token sees the whole run)."""
    request = dict(run.request)
    if isinstance(request.get("benchmarks"), list):
        request["benchmarks"] = [
            {k: v for k, v in b.items() if k != "path"} if isinstance(b, dict) else b
            for b in request["benchmarks"]
        ]
    return run.model_copy(
        update={
            "request": request,
            "error": PUBLIC_ERROR if run.error else None,
            "results": [r.model_copy(update={"path": None}) for r in run.results],
        }
    )
