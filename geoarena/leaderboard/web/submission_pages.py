"""A team's own pages: the upload form (the API's validation, its row errors shown on
the page), "My submissions" with the finals selection, a submission's page and its file."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from geoarena.errors import Forbidden, GeoarenaError, InvalidInput
from geoarena.leaderboard import challenges, finals, quotas, submissions
from geoarena.leaderboard.access import Principal
from geoarena.leaderboard.api.deps import DbDep, PagePrincipal, SettingsDep
from geoarena.leaderboard.api.errors import status_of
from geoarena.leaderboard.api.files import csv_download, receive_submission
from geoarena.leaderboard.challenges import ChallengeView
from geoarena.leaderboard.errors import Unauthorized
from geoarena.leaderboard.phases import PhaseView
from geoarena.leaderboard.schema import utcnow
from geoarena.leaderboard.settings import Settings
from geoarena.leaderboard.states import Split, SubmissionState
from geoarena.leaderboard.web import csrf
from geoarena.leaderboard.web.forms import checked_form
from geoarena.leaderboard.web.render import Tabs, render, render_challenge

router = APIRouter(include_in_schema=False)


def team_member(principal: Principal | None) -> Principal:
    """The logged-in participant, or the reason the page is refused."""
    if principal is None:
        raise Unauthorized("log in with your team's token to see this page")
    if principal.team_id is None:
        raise Forbidden("this page is for teams (organizers have no submissions)")
    return principal


def current_phase(challenge: ChallengeView, quota_phase: str) -> PhaseView:
    return next(p for p in challenge.phases if p.name == quota_phase)


def submissions_page(
    request: Request,
    db: DbDep,
    template: str,
    challenge: ChallengeView,
    principal: Principal,
    **context: Any,
) -> Response:
    """A challenge's list of the submissions ``principal`` may see: a team's own ("mine"
    tab), every one for an organizer ("admin" tab)."""
    return render_challenge(
        request,
        template,
        challenge,
        "admin" if principal.is_organizer else "mine",
        principal=principal,
        rows=submissions.list_submissions(db, principal=principal, slug=challenge.slug),
        **context,
    )


def _submit_page(
    request: Request,
    db: DbDep,
    settings: Settings,
    principal: Principal,
    slug: str,
    status_code: int = 200,
    **context: Any,
) -> Response:
    quota = quotas.get_quota(db, principal=principal, slug=slug)
    challenge = challenges.challenge_view(db, slug=slug)
    return render_challenge(
        request,
        "submit.html",
        challenge,
        "submit",
        status_code,
        principal=principal,
        quota=quota,
        phase=current_phase(challenge, quota.phase),
        max_mb=settings.max_upload_bytes // 2**20,
        now=utcnow(),
        **{"problems": [], "total": 0, "message": None, "description": "", **context},
    )


@router.get("/c/{slug}/submit")
def submit_form(
    request: Request, slug: str, db: DbDep, settings: SettingsDep, principal: PagePrincipal
) -> Response:
    return _submit_page(request, db, settings, team_member(principal), slug)


@router.post("/c/{slug}/submit")
async def submit(
    request: Request, slug: str, db: DbDep, settings: SettingsDep, principal: PagePrincipal
) -> Response:
    """The upload form's answer: the submission's page, or this form again with every
    located problem of a rejected file (nothing stored, no quota used)."""
    member = team_member(principal)
    fields: dict[str, str] = {}

    def verify(form: dict[str, str]) -> None:
        fields.update(form)
        csrf.check(request, form.get(csrf.FIELD))

    try:
        view = await receive_submission(
            request, db, settings, principal=member, slug=slug, phase=None, verify=verify
        )
    except GeoarenaError as exc:
        rejected = isinstance(exc, InvalidInput)
        return _submit_page(
            request,
            db,
            settings,
            member,
            slug,
            status_of(exc),
            message=str(exc).splitlines()[0] if rejected else str(exc),
            problems=list(exc.problems),
            total=exc.total or len(exc.problems),
            description=fields.get("description", ""),
        )
    return RedirectResponse(f"/s/{view.uuid}", status_code=303)


@router.get("/c/{slug}/submissions")
def my_submissions(
    request: Request, slug: str, db: DbDep, principal: PagePrincipal, saved: str | None = None
) -> Response:
    member = team_member(principal)
    quota = quotas.get_quota(db, principal=member, slug=slug)
    challenge = challenges.challenge_view(db, slug=slug)
    return submissions_page(
        request,
        db,
        "mine.html",
        challenge,
        member,
        phase=current_phase(challenge, quota.phase),
        quota=quota,
        saved=saved == "finals",
        SCORED=SubmissionState.SCORED,
        now=utcnow(),
    )


@router.post("/c/{slug}/finals")
async def select_finals(
    request: Request, slug: str, db: DbDep, principal: PagePrincipal
) -> Response:
    """The finals form: the checked submissions replace the team's previous choice."""
    member = team_member(principal)
    form = await checked_form(request, fields=200)
    chosen = [v for v in form.getlist("final") if isinstance(v, str)]
    finals.select_finals(
        db, principal=member, slug=slug, uuids=chosen, phase=str(form.get("phase") or "") or None
    )
    return RedirectResponse(f"/c/{slug}/submissions?saved=finals", status_code=303)


@router.get("/s/{uuid}")
def submission_page(request: Request, uuid: str, db: DbDep, principal: PagePrincipal) -> Response:
    if principal is None:
        raise Unauthorized("log in to see submissions")
    view = submissions.get_submission(db, uuid=uuid, principal=principal)
    return render(
        request,
        "submission.html",
        principal=principal,
        tabs=Tabs(view.challenge, "mine", Split.PRIVATE in view.scores),
        s=view,
    )


@router.get("/s/{uuid}/file")
def submission_file(uuid: str, db: DbDep, principal: PagePrincipal) -> Response:
    if principal is None:
        raise Unauthorized("log in to download submissions")
    name, data = submissions.submission_file(db, uuid=uuid, principal=principal)
    return csv_download(data, name)
