"""The site's routes, assembled: the participant's, the organizer's, the account pages,
the offline API docs and the static files (``geoarena.leaderboard.web``).

Pages use the same service functions as the API, so they can show nothing the API would
not, and every form is the same service call the CLI and the API make.
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from fastapi.staticfiles import StaticFiles

from geoarena.leaderboard.web import (
    account_pages,
    challenge_pages,
    docs_pages,
    moderation_pages,
    organizer_pages,
    submission_pages,
)
from geoarena.leaderboard.web.render import STATIC

#: every module of page routes (tests walk their forms: each must check its CSRF token).
PAGE_MODULES = (
    account_pages,
    challenge_pages,
    submission_pages,
    organizer_pages,
    moderation_pages,
)

router = APIRouter(include_in_schema=False)
for module in PAGE_MODULES:
    router.include_router(module.router)


def install(app: FastAPI) -> None:
    """Add the pages, the offline API docs and their static files to ``app``."""
    docs_pages.install(app)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.include_router(router)
