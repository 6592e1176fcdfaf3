"""`GET /docs`: Swagger UI served by this service itself, no CDN (assets from the `swagger-ui-bundle-v2`
wheel, the start-up script in app/static/docs.js, so the page runs under the same Content-Security-Policy as
the rest: no inline script). Without that wheel `/docs` answers 404 saying so; `/openapi.json` is always
served. ReDoc (`/redoc`), which needs a CDN, is off.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, HTMLResponse

from app.errors import NotFound

router = APIRouter(include_in_schema=False)

ASSETS = {
    "swagger-ui.css": "text/css",
    "swagger-ui-bundle.js": "text/javascript",
    "favicon-32x32.png": "image/png",
}
PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>mmwe API</title>
  <link rel="icon" type="image/png" href="/docs/assets/favicon-32x32.png">
  <link rel="stylesheet" href="/docs/assets/swagger-ui.css">
  <script src="/docs/assets/swagger-ui-bundle.js" defer></script>
  <script src="/static/docs.js" defer></script>
</head>
<body><div id="swagger-ui"></div></body>
</html>
"""
MISSING = (
    "API documentation page unavailable: this installation has no Swagger UI assets (pip install "
    "swagger-ui-bundle-v2, part of the `serve` extra); the page never loads them from a CDN. The API "
    "description is at /openapi.json."
)


def swagger_ui_dir() -> Path | None:
    """The Swagger UI distribution inside the installed `swagger_ui_bundle` package, found without importing
    it (its __init__ imports jinja2)."""
    spec = importlib.util.find_spec("swagger_ui_bundle")
    for location in (spec.submodule_search_locations or []) if spec else []:
        for candidate in sorted((Path(location) / "vendor").glob("swagger-ui-*")):
            if (candidate / "swagger-ui-bundle.js").is_file():
                return candidate
    return None


SWAGGER_UI_DIR = swagger_ui_dir()


@router.get("/docs")
def docs() -> HTMLResponse:
    if SWAGGER_UI_DIR is None:
        raise NotFound(MISSING)
    return HTMLResponse(PAGE)


@router.get("/docs/assets/{name}")
def docs_asset(name: str) -> FileResponse:
    if SWAGGER_UI_DIR is None:
        raise NotFound(MISSING)
    media_type = ASSETS.get(name)
    if media_type is None:
        raise NotFound(f"no documentation asset {name!r}")
    return FileResponse(
        SWAGGER_UI_DIR / name, media_type=media_type, headers={"Cache-Control": "max-age=3600"}
    )
