"""The organizer's pages for running a challenge once it has submissions: every
submission with its scoring jobs, taking a submission or a team off the board (and back),
rescoring with the rank diff, publishing or discarding a rescore.

The same audited service calls as the CLI's and the API's, on the helpers of
:mod:`.organizer_pages` (the organizer check, the admin page, its forms).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.datastructures import FormData
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import UploadFile

from geoarena.errors import GeoarenaError, InvalidInput
from geoarena.leaderboard import challenges, moderation, rescoring, submissions
from geoarena.leaderboard.access import Principal
from geoarena.leaderboard.api.deps import DbDep, PagePrincipal
from geoarena.leaderboard.api.errors import status_of
from geoarena.leaderboard.states import Exclusion
from geoarena.leaderboard.web.forms import checked_form, text
from geoarena.leaderboard.web.organizer_pages import AdminForm, challenge_form, organizer
from geoarena.leaderboard.web.render import Tabs, render
from geoarena.leaderboard.web.submission_pages import submissions_page

router = APIRouter(prefix="/admin", include_in_schema=False)


def _exclusion(form: FormData) -> tuple[Exclusion | None, str]:
    """(kind, reason) of a moderation form; kind None means reinstate."""
    kind = text(form, "kind")
    if kind == "reinstate":
        return None, ""
    try:
        return Exclusion(kind), text(form, "reason")
    except ValueError:
        raise InvalidInput.about(f"unknown exclusion {kind!r}", column="kind") from None


@challenge_form(router, "/c/{slug}/team-exclusion")
async def team_exclusion(f: AdminForm) -> None:
    team = f.text("team")
    kind, reason = _exclusion(f.form)
    if kind is None:
        moderation.reinstate_team(f.db, slug=f.slug, team=team, actor=f.actor)
    else:
        moderation.exclude_team(
            f.db, slug=f.slug, team=team, kind=kind, reason=reason, actor=f.actor
        )


@router.get("/c/{slug}/submissions")
def all_submissions(request: Request, slug: str, db: DbDep, principal: PagePrincipal) -> Response:
    return submissions_page(
        request,
        db,
        "admin_submissions.html",
        challenges.challenge_view(db, slug=slug),
        organizer(principal),
    )


@router.get("/s/{uuid}")
def inspect_submission(
    request: Request, uuid: str, db: DbDep, principal: PagePrincipal
) -> Response:
    member = organizer(principal)
    view = submissions.get_submission(db, uuid=uuid, principal=member)
    return render(
        request,
        "admin_submission.html",
        principal=member,
        tabs=Tabs(view.challenge, "admin"),
        s=view,
        jobs=submissions.submission_jobs(db, uuid=uuid, principal=member),
        KINDS=list(Exclusion),
    )


@router.post("/s/{uuid}/exclusion")
async def submission_exclusion(
    request: Request, uuid: str, db: DbDep, principal: PagePrincipal
) -> Response:
    member = organizer(principal)
    form = await checked_form(request)
    kind, reason = _exclusion(form)
    if kind is None:
        moderation.reinstate_submission(db, uuid=uuid, actor=member.actor)
    else:
        moderation.exclude_submission(db, uuid=uuid, kind=kind, reason=reason, actor=member.actor)
    return RedirectResponse(f"/admin/s/{uuid}", status_code=303)


@challenge_form(router, "/c/{slug}/rescore", files=1)
async def start_rescore(f: AdminForm) -> Response:
    """Re-score everything: with a replacement truth (file), a re-split (fraction, salt),
    or neither (the current evaluator); then the rescore's page."""
    upload = f.form.get("truth")
    truth, name = None, None
    if isinstance(upload, UploadFile) and upload.filename:
        truth, name = await upload.read(), upload.filename
    try:
        fraction = float(f.text("public_fraction")) if f.text("public_fraction") else None
    except ValueError as exc:
        raise InvalidInput.about(f"public fraction: {exc}", column="public_fraction") from None
    run = rescoring.start_rescore(
        f.db,
        slug=f.slug,
        truth=truth,
        truth_filename=name,
        split_salt=f.text("split_salt") or None,
        public_fraction=fraction,
        reason=f.text("reason"),
        actor=f.actor,
    )
    return RedirectResponse(f"/admin/rescores/{run}", status_code=303)


def _rescore_page(
    request: Request,
    view: rescoring.RescoreView,
    member: Principal,
    status_code: int = 200,
    message: str | None = None,
) -> Response:
    return render(
        request,
        "admin_rescore.html",
        status_code,
        principal=member,
        tabs=Tabs(view.challenge, "admin"),
        r=view,
        message=message,
    )


@router.get("/rescores/{rescore_id}")
def rescore_page(
    request: Request, rescore_id: int, db: DbDep, principal: PagePrincipal
) -> Response:
    view = rescoring.rescore_status(db, rescore_id=rescore_id)
    return _rescore_page(request, view, organizer(principal))


@router.post("/rescores/{rescore_id}/{action}")
async def rescore_action(
    request: Request, rescore_id: int, action: str, db: DbDep, principal: PagePrincipal
) -> Response:
    member = organizer(principal)
    await checked_form(request)
    view = rescoring.rescore_status(db, rescore_id=rescore_id)
    try:
        if action == "publish":
            rescoring.publish_rescore(db, rescore_id=rescore_id, actor=member.actor)
        elif action == "discard":
            rescoring.discard_rescore(db, rescore_id=rescore_id, actor=member.actor)
        else:
            raise InvalidInput.about(f"unknown rescore action {action!r}", column="action")
    except GeoarenaError as exc:
        return _rescore_page(request, view, member, status_of(exc), str(exc))
    return RedirectResponse(f"/admin/rescores/{rescore_id}", status_code=303)
