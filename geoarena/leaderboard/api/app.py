"""The FastAPI application: API under ``/api/v1``, pages at the root, optional inline workers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

from geoarena.evaluator import InputError
from geoarena.leaderboard.api import organizer, pages, participant
from geoarena.leaderboard.api.deps import RateLimiter
from geoarena.leaderboard.api.uploads import BodyLimitMiddleware
from geoarena.leaderboard.config import Settings, get_settings
from geoarena.leaderboard.db import Database
from geoarena.leaderboard.errors import LeaderboardError, QuotaExceeded

API_PREFIX = "/api/v1"


def _operation_id(route: APIRoute) -> str:
    """``tag-name`` ids keep generated client method names readable."""
    return f"{route.tags[0]}-{route.name}" if route.tags else route.name


def create_app(
    settings: Settings | None = None, db: Database | None = None, *, workers: int | None = None
) -> FastAPI:
    """The app for ``settings``; ``workers`` > 0 also scores submissions in this process."""
    settings = settings or get_settings()
    db = db or Database(settings.database_url)
    n_workers = settings.inline_workers if workers is None else workers

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        stop, threads = None, []
        if n_workers > 0:
            from geoarena.leaderboard.worker import start_inline_workers

            stop, threads = start_inline_workers(db, settings, n_workers)
        try:
            yield
        finally:
            if stop is not None:
                stop.set()
                for thread in threads:
                    thread.join(timeout=30)

    app = FastAPI(
        title="geoarena leaderboard",
        version="1",
        description="Host a building-detection challenge: submissions, scoring, rankings.",
        lifespan=lifespan,
        generate_unique_id_function=_operation_id,
    )
    app.state.db = db
    app.state.settings = settings
    app.state.rate_limiter = RateLimiter(settings.rate_limit_per_minute)
    app.state.upload_slots = asyncio.Semaphore(settings.max_parallel_uploads)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_upload_bytes)

    app.include_router(participant.router, prefix=API_PREFIX)
    app.include_router(participant.submissions, prefix=API_PREFIX)
    app.include_router(organizer.router, prefix=API_PREFIX)
    app.include_router(pages.router)

    @app.exception_handler(InputError)
    async def _rejected(request: Request, exc: InputError) -> JSONResponse:
        return JSONResponse(
            status_code=422,
            content={
                "detail": f"file rejected: {exc.total} problem{'s' if exc.total != 1 else ''}; "
                "nothing was stored and no quota was used",
                "errors": [e.to_dict() for e in exc.problems],
                "total_errors": exc.total,
            },
        )

    @app.exception_handler(QuotaExceeded)
    async def _quota(request: Request, exc: QuotaExceeded) -> JSONResponse:
        return JSONResponse(status_code=429, content={"detail": str(exc), "quota": exc.quota})

    @app.exception_handler(LeaderboardError)
    async def _error(request: Request, exc: LeaderboardError) -> JSONResponse:
        return JSONResponse(status_code=exc.status_code, content={"detail": str(exc)})

    @app.get(f"{API_PREFIX}/health", tags=["meta"])
    def health() -> dict[str, str]:
        return {"status": "ok"}

    return app
