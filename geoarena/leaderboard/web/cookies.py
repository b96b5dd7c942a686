"""The pages' cookies: HttpOnly, SameSite=Lax, and Secure whenever the site is served
over TLS, directly or behind a trusted proxy that terminates it.

Lax (not Strict) keeps a participant logged in when they follow a link to the board from
an e-mail or a chat; what Lax still lets through (top-level GET navigations) changes
nothing, and every form that does is guarded by a CSRF token.
"""

from __future__ import annotations

from fastapi import Request, Response

from geoarena.leaderboard.settings import Settings

#: cookie that carries the login (a bearer token, checked on every request like one).
LOGIN_COOKIE = "geoarena_token"
#: how long a login lasts in the browser.
LOGIN_SECONDS = 30 * 24 * 3600


def over_tls(request: Request, settings: Settings) -> bool:
    """Whether the browser reached the site over https: the request's own scheme, or the
    ``X-Forwarded-Proto`` of a proxy listed in ``trusted_proxies`` (anybody else could
    claim it)."""
    if request.url.scheme == "https":
        return True
    host = request.client.host if request.client else None
    forwarded = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    return forwarded == "https" and host in settings.trusted_proxies


def secure(request: Request, settings: Settings) -> bool:
    """The ``Secure`` flag of the cookies set in answer to ``request``."""
    if settings.secure_cookies is not None:
        return settings.secure_cookies
    return over_tls(request, settings)


def set_cookie(
    response: Response,
    request: Request,
    settings: Settings,
    name: str,
    value: str,
    *,
    max_age: int | None = None,
) -> None:
    """Set a cookie with the site's flags (HttpOnly, SameSite=Lax, Secure over TLS)."""
    response.set_cookie(
        name,
        value,
        httponly=True,
        samesite="lax",
        secure=secure(request, settings),
        max_age=max_age,
        path="/",
    )


def clear_cookie(response: Response, request: Request, settings: Settings, name: str) -> None:
    response.delete_cookie(
        name, httponly=True, samesite="lax", secure=secure(request, settings), path="/"
    )
