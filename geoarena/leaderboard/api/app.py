"""The FastAPI application: API under ``/api/v1``, pages at the root, optional inline workers."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.routing import APIRoute

from geoarena.leaderboard.api import errors, organizer, pages, participant
from geoarena.leaderboard.api.deps import RateLimiter
from geoarena.leaderboard.api.files import BodyLimitMiddleware
from geoarena.leaderboard.db import Database
from geoarena.leaderboard.settings import Settings, get_settings
from geoarena.leaderboard.validators import InlineValidator, PoolValidator
from geoarena.leaderboard.web.csrf import Signer
from geoarena.leaderboard.worker import start_inline_workers

API_PREFIX = "/api/v1"


def _operation_id(route: APIRoute) -> str:
    """``tag-name`` ids keep generated client method names readable."""
    return f"{route.tags[0]}-{route.name}" if route.tags else route.name


def create_app(
    settings: Settings | None = None, db: Database | None = None, *, workers: int | None = None
) -> FastAPI:
    """The app for ``settings``; ``workers`` > 0 also scores submissions in this process."""
    settings = settings or get_settings()
    database = db or Database(settings.database_url)
    n_workers = settings.inline_workers if workers is None else workers

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        stop: threading.Event | None = None
        threads: list[threading.Thread] = []
        if n_workers > 0:
            stop, threads = start_inline_workers(database, settings, n_workers)
        try:
            yield
        finally:
            if stop is not None:
                stop.set()
                for thread in threads:
                    thread.join(timeout=30)
            if isinstance(app.state.validator, PoolValidator):
                app.state.validator.close()

    app = FastAPI(
        title="geoarena leaderboard",
        version="1",
        description="Host a building-detection challenge: submissions, scoring, rankings.",
        lifespan=lifespan,
        generate_unique_id_function=_operation_id,
        docs_url=None,  # served offline by the pages (web.docs_pages)
        redoc_url=None,
    )
    app.state.db = database
    app.state.settings = settings
    app.state.rate_limiter = RateLimiter(settings.rate_limit_per_minute)
    app.state.csrf = Signer(settings.secret_key)
    app.state.upload_slots = asyncio.Semaphore(settings.max_parallel_uploads)
    app.state.validator = (
        PoolValidator(settings.max_parallel_uploads)
        if settings.validate_in_processes
        else InlineValidator()
    )
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_upload_bytes)
    errors.install(app)

    app.include_router(participant.router, prefix=API_PREFIX)
    app.include_router(participant.by_uuid, prefix=API_PREFIX)
    app.include_router(participant.account, prefix=API_PREFIX)
    app.include_router(organizer.router, prefix=API_PREFIX)
    pages.install(app)

    @app.get(f"{API_PREFIX}/health", tags=["meta"])
    def health() -> dict[str, str]:
        """Liveness for load balancers and the test harness (touches no database)."""
        return {"status": "ok"}

    return app
