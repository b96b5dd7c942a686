"""A challenge's public face: the list of challenges, the overview (rules, data,
evaluation in words, timeline, the team's quota), the leaderboard, its CSV, the shake-up
after reveal, the sample submission, and a team's history."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from geoarena.evaluator import PRESETS
from geoarena.leaderboard import boards, challenges, quotas, submissions
from geoarena.leaderboard.api.deps import BoardQueryDep, DbDep, PagePrincipal
from geoarena.leaderboard.api.files import board_download, csv_download
from geoarena.leaderboard.ranking import TIE_RULE
from geoarena.leaderboard.schema import utcnow
from geoarena.leaderboard.states import Split
from geoarena.leaderboard.web.charts import score_chart
from geoarena.leaderboard.web.evaluation import knobs
from geoarena.leaderboard.web.render import Tabs, render, render_challenge

router = APIRouter(include_in_schema=False)


@router.get("/")
def index(request: Request, db: DbDep, principal: PagePrincipal) -> Response:
    return render(
        request, "index.html", principal=principal, challenges=challenges.list_challenges(db)
    )


@router.get("/c/{slug}")
def leaderboard_page(
    request: Request, slug: str, db: DbDep, principal: PagePrincipal, query: BoardQueryDep
) -> Response:
    board = query.board(db, slug=slug, principal=principal)
    return render(
        request,
        "leaderboard.html",
        principal=principal,
        tabs=Tabs(slug, "board", board.revealed),
        board=board,
        can_see_private=board.revealed or bool(principal and principal.is_organizer),
    )


@router.get("/c/{slug}/leaderboard.csv")
def leaderboard_csv(
    slug: str, db: DbDep, principal: PagePrincipal, query: BoardQueryDep
) -> Response:
    """The board as a file (the page's login counts: organizers get the private board)."""
    return board_download(query.board(db, slug=slug, principal=principal))


@router.get("/c/{slug}/overview")
def overview(request: Request, slug: str, db: DbDep, principal: PagePrincipal) -> Response:
    challenge = challenges.challenge_view(db, slug=slug)
    quota = None
    if principal is not None and principal.team_name is not None:
        quota = quotas.get_quota(db, principal=principal, slug=slug)
    return render_challenge(
        request,
        "overview.html",
        challenge,
        "overview",
        principal=principal,
        knobs=knobs(PRESETS[challenge.rules]),
        quota=quota,
        tie_rule=TIE_RULE,
        now=utcnow(),
    )


@router.get("/c/{slug}/sample_submission.csv")
def sample(slug: str, db: DbDep) -> Response:
    return csv_download(
        challenges.sample_submission(db, slug=slug), f"{slug}-sample_submission.csv"
    )


@router.get("/c/{slug}/shakeup")
def shakeup_page(
    request: Request, slug: str, db: DbDep, principal: PagePrincipal, phase: str | None = None
) -> Response:
    view = boards.shakeup(db, slug=slug, phase=phase, principal=principal)
    return render(
        request,
        "shakeup.html",
        principal=principal,
        tabs=Tabs(slug, "shakeup", view.revealed),
        s=view,
    )


@router.get("/c/{slug}/teams/{team:path}")
def team_page(
    request: Request, slug: str, team: str, db: DbDep, principal: PagePrincipal
) -> Response:
    history = submissions.team_history(db, slug=slug, team=team, principal=principal)
    points = [
        (s.created_at, s.scores[Split.PUBLIC].value(s.ranking_metric))
        for s in history
        if Split.PUBLIC in s.scores
    ]
    quota = None
    if principal is not None and principal.team_name == team:
        quota = quotas.get_quota(db, principal=principal, slug=slug)
    return render(
        request,
        "team.html",
        principal=principal,
        tabs=Tabs(slug, "team", challenges.challenge_view(db, slug=slug).revealed),
        team=team,
        history=history,
        chart=score_chart(points),
        quota=quota,
    )
