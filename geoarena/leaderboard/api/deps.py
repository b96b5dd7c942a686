"""Request dependencies: database, settings, the caller's identity and its rate limit."""

from __future__ import annotations

import threading
import time
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status

from geoarena.leaderboard.config import Settings
from geoarena.leaderboard.db import Database
from geoarena.leaderboard.security import split_token
from geoarena.leaderboard.service import Principal, authenticate

#: cookie that carries the token for the server-rendered pages (set by the login form).
COOKIE = "geoarena_token"


def get_db(request: Request) -> Database:
    return request.app.state.db


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


DbDep = Annotated[Database, Depends(get_db)]
SettingsDep = Annotated[Settings, Depends(get_settings)]


class RateLimiter:
    """A token bucket per bearer token: ``per_minute`` requests, refilled continuously."""

    def __init__(self, per_minute: int) -> None:
        self.rate = per_minute / 60.0
        self.capacity = float(per_minute)
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    #: buckets kept before idle (full) ones are dropped: guessed keys cannot fill memory.
    max_buckets = 10_000

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


def _raw_token(request: Request, cookie: bool) -> str | None:
    """The bearer token; pages (GET only) also read the login cookie. API routes never do,
    so a cross-site form cannot act with a logged-in browser's cookie."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value:
        return value.strip()
    return request.cookies.get(COOKIE) if cookie else None


def _principal(
    request: Request, db: Database, required: bool, cookie: bool = False
) -> Principal | None:
    raw = _raw_token(request, cookie)
    if raw is None:
        if required:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                "missing bearer token",
                headers={"WWW-Authenticate": "Bearer"},
            )
        return None
    parts = split_token(raw)
    wait = request.app.state.rate_limiter.acquire(parts[0] if parts else "malformed")
    if wait > 0:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            f"rate limit: try again in {wait:.1f} s",
            headers={"Retry-After": str(int(wait) + 1)},
        )
    principal = authenticate(db, raw)
    if principal is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "invalid or revoked token",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return principal


def current_principal(request: Request, db: DbDep) -> Principal:
    return _principal(request, db, required=True)


def optional_principal(request: Request, db: DbDep) -> Principal | None:
    return _principal(request, db, required=False)


def page_principal(request: Request, db: DbDep) -> Principal | None:
    return _principal(request, db, required=False, cookie=True)


def organizer(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
    if not principal.is_organizer:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "this action is for organizers only")
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
OptionalPrincipal = Annotated[Principal | None, Depends(optional_principal)]
OrganizerDep = Annotated[Principal, Depends(organizer)]
PagePrincipal = Annotated[Principal | None, Depends(page_principal)]
