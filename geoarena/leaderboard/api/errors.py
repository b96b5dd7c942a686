"""The HTTP layer's one mapping of errors: a status per error class and one error body.

Every error answer of the API, whatever raised it (a domain error, request validation,
an unknown route), has the same JSON shape, :class:`ErrorBody`, with the located problems
the command line prints; page routes answer the same status with an HTML page.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from geoarena.errors import (
    Conflict,
    Forbidden,
    GeoarenaError,
    InvalidInput,
    LimitExceeded,
    NotFound,
    Problem,
)
from geoarena.leaderboard.api.files import UploadTimeout
from geoarena.leaderboard.errors import QuotaExceeded, SchemaMismatch, Unauthorized
from geoarena.leaderboard.quotas import Quota
from geoarena.leaderboard.web import render

#: error class -> HTTP status; the first match wins, so subclasses come before bases.
STATUS: tuple[tuple[type[GeoarenaError], int], ...] = (
    (InvalidInput, 422),
    (UploadTimeout, 408),
    (Unauthorized, 401),
    (Forbidden, 403),
    (NotFound, 404),
    (SchemaMismatch, 503),
    (Conflict, 409),
    (LimitExceeded, 429),
)


class ErrorBody(BaseModel):
    """Every error answer: the error's class, a message, and located problems if any."""

    #: the error's class name (``InvalidInput``, ``NotFound``, ``QuotaExceeded``, ...)
    error: str
    detail: str
    problems: list[Problem] = []
    #: all problems found (``problems`` holds the first ones)
    total: int = 0
    #: seconds until the request may succeed (rate limit, daily quota)
    retry_after: float | None = None
    #: the team's quota, on a quota refusal
    quota: Quota | None = None


def status_of(exc: GeoarenaError) -> int:
    return next((status for cls, status in STATUS if isinstance(exc, cls)), 400)


def error_response(exc: GeoarenaError) -> JSONResponse:
    headers: dict[str, str] = {}
    retry_after = exc.retry_after if isinstance(exc, LimitExceeded) else None
    if retry_after is not None:
        headers["Retry-After"] = str(int(retry_after) + 1)
    if isinstance(exc, Unauthorized):
        headers["WWW-Authenticate"] = "Bearer"
    body = ErrorBody(
        error=type(exc).__name__,
        detail=str(exc),
        problems=list(exc.problems),
        total=exc.total,
        retry_after=retry_after,
        quota=exc.quota if isinstance(exc, QuotaExceeded) else None,
    )
    return JSONResponse(
        status_code=status_of(exc),
        content=body.model_dump(mode="json", exclude_none=True),
        headers=headers,
    )


def request_problems(exc: RequestValidationError) -> InvalidInput:
    """FastAPI's request validation errors as located problems (``query.split`` ...)."""
    problems = [
        Problem("request", 0, ".".join(str(p) for p in err["loc"]), err["msg"])
        for err in exc.errors()
    ]
    return InvalidInput(problems or [Problem("request", 0, "", "invalid request")])


#: statuses every route may answer besides its own, with the one error body.
COMMON_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": description}
    for status, description in (
        (400, "a body that is not what its Content-Type says (malformed JSON or multipart)"),
        (401, "missing, unknown or revoked token"),
        (422, "invalid request or file: every problem located"),
        (429, "rate limit"),
    )
}


def install(app: FastAPI) -> None:
    """Register the handlers that give every error answer the :class:`ErrorBody` shape."""

    @app.exception_handler(GeoarenaError)
    async def _domain(request: Request, exc: GeoarenaError) -> Response:
        if render.is_page(request):
            return render.page_error(request, exc, status_of(exc))
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _request(request: Request, exc: RequestValidationError) -> Response:
        problems = request_problems(exc)
        if render.is_page(request):
            return render.page_error(request, problems, status_of(problems))
        return error_response(problems)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if render.is_page(request) and exc.status_code == 404:
            return render.error_page(request, exc.status_code, str(exc.detail))
        body = ErrorBody(error="HTTPError", detail=str(exc.detail))
        headers = dict(exc.headers or {})
        if exc.status_code == 405:  # every method of the path, not of one of its routes
            headers["Allow"] = ", ".join(allowed_methods(request))
        return JSONResponse(
            status_code=exc.status_code,
            content=body.model_dump(mode="json", exclude_none=True),
            headers=headers,
        )


def allowed_methods(request: Request) -> list[str]:
    """The methods some route of the app serves at this request's path."""
    methods: set[str] = set()
    for route in request.app.routes:
        match, _ = route.matches(request.scope)
        if match is not Match.NONE:
            methods |= set(getattr(route, "methods", None) or ())
    return sorted(methods)
