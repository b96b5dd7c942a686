"""Request dependencies: database, settings, the caller's identity and its rate limit.

Rate limits are charged to the identity that was proven, never to a claimed one: a valid
token's own bucket after its secret matched, and the client address's bucket for every
failed or missing credential. So guessing (or knowing) somebody's public key part cannot
lock them out, and a flood of bad tokens is limited per address.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from geoarena.errors import Forbidden, LimitExceeded
from geoarena.leaderboard import boards
from geoarena.leaderboard.access import Principal, authenticate, split_token
from geoarena.leaderboard.boards import Board
from geoarena.leaderboard.db import Database
from geoarena.leaderboard.errors import Unauthorized
from geoarena.leaderboard.settings import Settings
from geoarena.leaderboard.states import Split
from geoarena.leaderboard.web.cookies import LOGIN_COOKIE

#: cookie that carries the token for the server-rendered pages (set by the login form).
COOKIE = LOGIN_COOKIE


def get_db(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


DbDep = Annotated[Database, Depends(get_db)]
SettingsDep = Annotated[Settings, Depends(get_settings)]


class RateLimiter:
    """A token bucket per key: ``per_minute`` requests, refilled continuously."""

    #: buckets kept before idle (full) ones are dropped: many keys cannot fill memory.
    max_buckets = 10_000

    def __init__(self, per_minute: int) -> None:
        self.rate = per_minute / 60.0
        self.capacity = float(per_minute)
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def acquire(self, key: str) -> float:
        """0 when allowed, else the seconds to wait before the next request."""
        now = time.monotonic()
        with self._lock:
            if len(self._buckets) > self.max_buckets:
                refill = self.capacity / self.rate
                self._buckets = {k: v for k, v in self._buckets.items() if now - v[1] < refill}
            tokens, last = self._buckets.get(key, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - last) * self.rate)
            if tokens >= 1:
                self._buckets[key] = (tokens - 1, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (1 - tokens) / self.rate

    def charge(self, key: str) -> None:
        """Take one request from ``key``'s bucket or raise :class:`LimitExceeded`."""
        wait = self.acquire(key)
        if wait > 0:
            raise LimitExceeded(f"rate limit: try again in {wait:.1f} s", retry_after=wait)


def _limiter(request: Request) -> RateLimiter:
    limiter: RateLimiter = request.app.state.rate_limiter
    return limiter


def client_key(request: Request) -> str:
    """The rate-limit key of an unauthenticated caller: its address."""
    return f"addr:{request.client.host if request.client else 'unknown'}"


def bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def resolve(request: Request, db: Database, raw: str | None) -> Principal | None:
    """The principal of ``raw`` (None without a token), charging the proven identity's
    bucket; raises :class:`Unauthorized` for a token that names nobody."""
    limiter = _limiter(request)
    if raw is None:
        return None
    principal = authenticate(db, raw)
    if principal is None:
        limiter.charge(client_key(request))
        raise Unauthorized("invalid or revoked token")
    parts = split_token(raw)
    limiter.charge(f"key:{parts[0] if parts else raw}")
    return principal


def current_principal(request: Request, db: DbDep) -> Principal:
    principal = resolve(request, db, bearer(request))
    if principal is None:
        _limiter(request).charge(client_key(request))
        raise Unauthorized("missing bearer token")
    return principal


def optional_principal(request: Request, db: DbDep) -> Principal | None:
    return resolve(request, db, bearer(request))


def page_principal(request: Request, db: DbDep) -> Principal | None:
    """The pages' caller: the bearer token, else the login cookie. A cookie that no longer
    names anybody (revoked token, new database) means "logged out", never an error page,
    so a stale cookie cannot lock a browser out of the site (``/login`` included)."""
    raw = bearer(request)
    if raw is not None:
        return resolve(request, db, raw)
    cookie = request.cookies.get(COOKIE)
    if cookie is None:
        return None
    try:
        return resolve(request, db, cookie)
    except Unauthorized:
        return None


def organizer(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
    if not principal.is_organizer:
        raise Forbidden("this action is for organizers only")
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
OptionalPrincipal = Annotated[Principal | None, Depends(optional_principal)]
OrganizerDep = Annotated[Principal, Depends(organizer)]
PagePrincipal = Annotated[Principal | None, Depends(page_principal)]


@dataclass(frozen=True)
class BoardQuery:
    """The board a request names with ``?split=`` and ``?phase=`` (the current phase when
    none); the caller's principal decides whether a private board before reveal is shown."""

    split: Split
    phase: str | None

    def board(self, db: Database, *, slug: str, principal: Principal | None) -> Board:
        return boards.leaderboard(
            db, slug=slug, split=self.split, phase=self.phase, principal=principal
        )


def board_query(split: Split = Split.PUBLIC, phase: str | None = None) -> BoardQuery:
    return BoardQuery(split, phase)


BoardQueryDep = Annotated[BoardQuery, Depends(board_query)]
