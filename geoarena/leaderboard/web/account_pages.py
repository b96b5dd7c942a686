"""Logging in and out: the token travels in a form's body, never in a URL, and is kept in
an HttpOnly cookie; attempts are rate-limited per client address like any credential."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from geoarena.errors import LimitExceeded
from geoarena.leaderboard.access import authenticate
from geoarena.leaderboard.api.deps import DbDep, PagePrincipal, SettingsDep, client_key
from geoarena.leaderboard.web import csrf
from geoarena.leaderboard.web.cookies import LOGIN_COOKIE, LOGIN_SECONDS, clear_cookie, set_cookie
from geoarena.leaderboard.web.render import render

router = APIRouter(include_in_schema=False)


def safe_next(target: object) -> str:
    """Where to go after logging in: a path on this site only (no ``//host`` redirect)."""
    text = target if isinstance(target, str) else ""
    return text if text.startswith("/") and not text.startswith(("//", "/\\")) else "/"


@router.get("/login")
def login_form(request: Request, principal: PagePrincipal, next: str = "/") -> Response:
    return render(request, "login.html", principal=principal, message=None, next=safe_next(next))


@router.post("/login")
async def login(request: Request, db: DbDep, settings: SettingsDep) -> Response:
    form = await request.form(max_files=0, max_fields=5)
    target = safe_next(form.get("next"))
    try:
        request.app.state.rate_limiter.charge(client_key(request))
    except LimitExceeded as exc:
        return render(request, "login.html", 429, message=str(exc), next=target)
    csrf.check(request, form.get(csrf.FIELD))
    token = form.get("token")
    principal = authenticate(db, token) if isinstance(token, str) else None
    if principal is None or not isinstance(token, str):
        return render(request, "login.html", 401, message="invalid token", next=target)
    response = RedirectResponse(target, status_code=303)
    set_cookie(response, request, settings, LOGIN_COOKIE, token.strip(), max_age=LOGIN_SECONDS)
    return response


@router.post("/logout")
async def logout(request: Request, settings: SettingsDep) -> Response:
    form = await request.form(max_files=0, max_fields=5)
    csrf.check(request, form.get(csrf.FIELD))
    response = RedirectResponse("/", status_code=303)
    clear_cookie(response, request, settings, LOGIN_COOKIE)
    return response
