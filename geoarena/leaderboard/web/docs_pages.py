"""The OpenAPI docs pages (Swagger UI and ReDoc), served offline: their scripts and styles
come from the ``fastapi-offline`` package installed with the leaderboard, never a CDN."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

#: where the vendored Swagger UI and ReDoc files are served.
ASSETS = "/static/docs"
FAVICON = f"{ASSETS}/favicon.png"

router = APIRouter(include_in_schema=False)


def assets_dir() -> Path:
    return Path(str(files("fastapi_offline") / "static"))


def _spec(request: Request, what: str) -> dict[str, Any]:
    """What both pages show: the app's spec, under a title naming the page."""
    return {"openapi_url": request.app.openapi_url, "title": f"{request.app.title}: {what}"}


@router.get("/docs")
def swagger(request: Request) -> HTMLResponse:
    return get_swagger_ui_html(
        **_spec(request, "API"),
        swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
        swagger_css_url=f"{ASSETS}/swagger-ui.css",
        swagger_favicon_url=FAVICON,
    )


@router.get("/redoc")
def redoc(request: Request) -> HTMLResponse:
    return get_redoc_html(
        **_spec(request, "API reference"),
        redoc_js_url=f"{ASSETS}/redoc.standalone.js",
        redoc_favicon_url=FAVICON,
        with_google_fonts=False,
    )


def install(app: FastAPI) -> None:
    """Serve the docs pages and their assets (mounted before the site's own static files)."""
    app.mount(ASSETS, StaticFiles(directory=assets_dir()), name="docs-assets")
    app.include_router(router)
