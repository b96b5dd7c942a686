"""Server-rendered pages: leaderboard, team history with a score chart, submission.

Plain HTML tables and an inline SVG chart: every page works without JavaScript. Pages use
the same service functions as the API, so they can show nothing the API would not.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from markupsafe import Markup, escape

from geoarena.errors import GeoarenaError, LimitExceeded
from geoarena.leaderboard import boards, challenges, quotas, submissions
from geoarena.leaderboard.access import Principal, authenticate
from geoarena.leaderboard.api.deps import COOKIE, DbDep, PagePrincipal, client_key
from geoarena.leaderboard.api.errors import status_of
from geoarena.leaderboard.states import Split

TEMPLATES = Jinja2Templates(
    directory=str(Path(__file__).resolve().parents[1] / "web" / "templates")
)
#: a name as one URL path segment: team names may hold '/', '#', '?' or anything else.
TEMPLATES.env.filters["segment"] = lambda text: quote(str(text), safe="")
router = APIRouter(tags=["pages"], include_in_schema=False)


def score_chart(
    points: list[tuple[datetime, float]], width: int = 640, height: int = 220
) -> Markup:
    """An SVG line chart of score over time (submission order on x, time as labels)."""
    if not points:
        return Markup("<p>No scored submission yet.</p>")
    pad = 36
    values = [v for _, v in points]
    lo, hi = min(values), max(values)
    if hi - lo < 1e-9:
        lo, hi = lo - 0.05, hi + 0.05
    n = len(points)

    def xy(i: int, v: float) -> tuple[float, float]:
        x = pad + (width - 2 * pad) * (i / (n - 1) if n > 1 else 0.5)
        y = height - pad - (height - 2 * pad) * (v - lo) / (hi - lo)
        return x, y

    coords = [xy(i, v) for i, (_, v) in enumerate(points)]
    best, line = [], []
    running = float("-inf")
    for (x, y), v in zip(coords, values, strict=True):
        line.append(f"{x:.1f},{y:.1f}")
        running = max(running, v)
        best.append(f"{x:.1f},{xy(0, running)[1]:.1f}")
    dots = "".join(
        f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3"><title>{escape(t.strftime("%Y-%m-%d %H:%M"))}'
        f" UTC: {v:.4f}</title></circle>"
        for (x, y), (t, v) in zip(coords, points, strict=True)
    )
    return Markup(
        f'<svg class="chart" role="img" aria-label="score over time" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}">'
        f'<line x1="{pad}" y1="{height - pad}" x2="{width - pad}" y2="{height - pad}" '
        'class="axis"/>'
        f'<line x1="{pad}" y1="{pad}" x2="{pad}" y2="{height - pad}" class="axis"/>'
        f'<text x="2" y="{pad}" class="label">{hi:.3f}</text>'
        f'<text x="2" y="{height - pad}" class="label">{lo:.3f}</text>'
        f'<polyline points="{" ".join(best)}" class="best"/>'
        f'<polyline points="{" ".join(line)}" class="score"/>{dots}</svg>'
    )


def _render(request: Request, template: str, status_code: int = 200, **context: Any) -> Response:
    return TEMPLATES.TemplateResponse(request, template, context, status_code=status_code)


def _error(request: Request, exc: GeoarenaError, principal: Principal | None) -> Response:
    return _render(request, "error.html", status_of(exc), message=str(exc), principal=principal)


@router.get("/", response_class=HTMLResponse)
def index(request: Request, db: DbDep, principal: PagePrincipal) -> Response:
    return _render(
        request, "index.html", challenges=challenges.list_challenges(db), principal=principal
    )


@router.get("/c/{slug}", response_class=HTMLResponse)
def leaderboard_page(
    request: Request,
    slug: str,
    db: DbDep,
    principal: PagePrincipal,
    split: Split = Split.PUBLIC,
    phase: str | None = None,
) -> Response:
    try:
        board = boards.leaderboard(db, slug=slug, split=split, phase=phase, principal=principal)
    except GeoarenaError as exc:
        return _error(request, exc, principal)
    return _render(
        request,
        "leaderboard.html",
        board=board,
        principal=principal,
        PRIVATE=Split.PRIVATE,
        can_see_private=board.revealed or bool(principal and principal.is_organizer),
    )


@router.get("/c/{slug}/teams/{team:path}", response_class=HTMLResponse)
def team_page(
    request: Request, slug: str, team: str, db: DbDep, principal: PagePrincipal
) -> Response:
    try:
        history = submissions.team_history(db, slug=slug, team=team, principal=principal)
    except GeoarenaError as exc:
        return _error(request, exc, principal)
    points = [
        (s.created_at, s.scores[Split.PUBLIC].value(s.ranking_metric))
        for s in history
        if Split.PUBLIC in s.scores
    ]
    quota = None
    if principal is not None and principal.team_name == team:
        quota = quotas.get_quota(db, principal=principal, slug=slug)
    return _render(
        request,
        "team.html",
        slug=slug,
        team=team,
        history=history,
        chart=score_chart(points),
        principal=principal,
        quota=quota,
    )


@router.get("/s/{uuid}", response_class=HTMLResponse)
def submission_page(request: Request, uuid: str, db: DbDep, principal: PagePrincipal) -> Response:
    if principal is None:
        return _render(
            request, "error.html", 401, message="log in to see submissions", principal=None
        )
    try:
        submission = submissions.get_submission(db, uuid=uuid, principal=principal)
    except GeoarenaError as exc:
        return _error(request, exc, principal)
    return _render(request, "submission.html", s=submission, principal=principal)


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, principal: PagePrincipal) -> Response:
    return _render(request, "login.html", principal=principal, message=None)


@router.post("/login")
def login(request: Request, db: DbDep, token: str = Form(...), next: str = Form("/")) -> Response:
    """Check the token and keep it in an HttpOnly cookie; attempts are rate-limited per
    client address like any other credential."""
    try:
        request.app.state.rate_limiter.charge(client_key(request))
    except LimitExceeded as exc:
        return _render(request, "login.html", 429, principal=None, message=str(exc))
    principal = authenticate(db, token)
    if principal is None:
        return _render(request, "login.html", 401, principal=None, message="invalid token")
    target = next if next.startswith("/") and not next.startswith("//") else "/"
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        COOKIE,
        token.strip(),
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        max_age=30 * 24 * 3600,
    )
    return response


@router.post("/logout")
def logout() -> Response:
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(COOKIE)
    return response
