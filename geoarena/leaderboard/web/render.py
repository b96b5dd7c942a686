"""Rendering pages: the templates, their filters, the headers every page gets, and the
HTML error page that page routes answer with (the API answers JSON).

Times are shown in UTC with a ``<time>`` element that ``static/time.js`` completes with
the reader's local time, plus a server-side "in 3 h 12 min" that needs no script.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import quote

from fastapi import Request, Response
from fastapi.templating import Jinja2Templates
from markupsafe import Markup, escape

from geoarena.errors import GeoarenaError
from geoarena.leaderboard.access import Principal
from geoarena.leaderboard.challenges import ChallengeView
from geoarena.leaderboard.schema import utcnow
from geoarena.leaderboard.settings import Settings
from geoarena.leaderboard.web import csrf

WEB = Path(__file__).resolve().parent
STATIC = WEB / "static"
TEMPLATES = Jinja2Templates(directory=str(WEB / "templates"))

#: what a page may load: only this site's own files (no CDN, no inline script).
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def segment(text: object) -> str:
    """A name as one URL path segment: team names may hold '/', '#', '?' or anything."""
    return quote(str(text), safe="")


def utc(moment: datetime | None) -> str:
    return "-" if moment is None else moment.strftime("%Y-%m-%d %H:%M UTC")


def relative(moment: datetime | None, now: datetime | None = None) -> str:
    """``in 2 d 3 h`` or ``5 min ago``: the same for every reader, whatever their zone."""
    if moment is None:
        return ""
    seconds = int((moment - (now or utcnow())).total_seconds())
    ahead, seconds = seconds >= 0, abs(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        text = f"{days} d {hours} h"
    elif hours:
        text = f"{hours} h {minutes} min"
    elif minutes:
        text = f"{minutes} min"
    else:
        text = "< 1 min"
    return f"in {text}" if ahead else f"{text} ago"


def when(moment: datetime | None) -> Markup:
    """A time as UTC text in a ``<time>`` element (``time.js`` adds the local time)."""
    if moment is None:
        return Markup("-")
    return Markup(
        f'<time datetime="{escape(moment.isoformat())}" class="when">{escape(utc(moment))}</time>'
    )


TEMPLATES.env.filters.update(segment=segment, utc=utc, when=when, relative=relative)


class Tabs(NamedTuple):
    """A challenge page's tab bar (``tabs.html``): which challenge, the current tab, and
    whether a private board is out (the Shake-up tab appears then)."""

    slug: str
    current: str
    revealed: bool = False


def render(
    request: Request,
    template: str,
    status_code: int = 200,
    *,
    principal: Principal | None = None,
    tabs: Tabs | None = None,
    headers: dict[str, str] | None = None,
    **context: Any,
) -> Response:
    """A page: the template with the caller, the challenge's tabs (on a challenge's page),
    a CSRF field maker and the security headers; sets the CSRF nonce cookie when the
    browser has none yet."""
    settings: Settings = request.app.state.settings
    response = TEMPLATES.TemplateResponse(
        request,
        template,
        {
            "principal": principal,
            "tabs": tabs,
            "csrf_field": lambda: csrf.field(request),
            **context,
        },
        status_code=status_code,
        headers={**SECURITY_HEADERS, **(headers or {})},
    )
    csrf.remember(request, response, settings)
    return response


def error_page(
    request: Request, status_code: int, message: str, principal: Principal | None = None
) -> Response:
    return render(request, "error.html", status_code, principal=principal, message=message)


def is_page(request: Request) -> bool:
    """Whether an error at this path is answered with a page (not the API's JSON)."""
    path = request.url.path
    return not (path.startswith("/api/") or path in ("/openapi.json",))


def page_error(request: Request, exc: GeoarenaError, status_code: int) -> Response:
    """The HTML answer to a domain error raised by a page route."""
    return error_page(request, status_code, str(exc))


def render_challenge(
    request: Request,
    template: str,
    challenge: ChallengeView,
    tab: str,
    status_code: int = 200,
    *,
    principal: Principal | None = None,
    **context: Any,
) -> Response:
    """A page of one challenge, on its ``tab``: the challenge's tabs, and the challenge
    itself as ``c``."""
    tabs = Tabs(challenge.slug, tab, challenge.revealed)
    return render(
        request, template, status_code, principal=principal, tabs=tabs, c=challenge, **context
    )
