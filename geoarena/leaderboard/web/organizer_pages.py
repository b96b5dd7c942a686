"""The organizer's pages: create and edit a challenge and its phases, teams, members and
tokens, every submission with its scoring jobs, moderation, rescoring with the rank
diff, closing and revealing.

Every form is the same audited service call the CLI and the API make, with the logged-in
organizer as the actor; a refused action shows its reason on the page it came from.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.datastructures import FormData
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from starlette.datastructures import UploadFile

from geoarena.errors import Forbidden, GeoarenaError, InvalidInput, invalid_input_from
from geoarena.evaluator import PRESETS, Metric
from geoarena.leaderboard import (
    access,
    challenges,
    finals,
    moderation,
    rescoring,
    submissions,
)
from geoarena.leaderboard.access import Principal
from geoarena.leaderboard.api.deps import DbDep, PagePrincipal
from geoarena.leaderboard.api.errors import status_of
from geoarena.leaderboard.challenges import ChallengeText
from geoarena.leaderboard.db import Database
from geoarena.leaderboard.errors import Unauthorized
from geoarena.leaderboard.phases import PhaseChange, blank_is_none
from geoarena.leaderboard.schema import utcnow
from geoarena.leaderboard.states import Exclusion, LatePolicy, Role
from geoarena.leaderboard.web import csrf
from geoarena.leaderboard.web.render import render

router = APIRouter(prefix="/admin", include_in_schema=False)

#: the phase form's fields that are times (``datetime-local`` inputs, read as UTC).
TIMES = ("opens_at", "closes_at", "finals_until")
#: its count fields (a number, ``none`` for unlimited, blank for "keep").
COUNTS = ("daily_limit", "total_limit", "concurrent_limit", "final_selections")


def organizer(principal: Principal | None) -> Principal:
    if principal is None:
        raise Unauthorized("log in with an organizer token to organize challenges")
    if not principal.is_organizer:
        raise Forbidden("these pages are for organizers only")
    return principal


async def checked_form(request: Request, *, files: int = 0) -> FormData:
    """The posted form, once its CSRF token is checked."""
    form = await request.form(max_files=files, max_fields=100)
    csrf.check(request, form.get(csrf.FIELD))
    return form


def text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def utc_time(value: str) -> datetime:
    """A ``datetime-local`` value (or any ISO time), UTC unless it names its zone."""
    parsed = datetime.fromisoformat(value)
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def phase_change(form: FormData) -> PhaseChange:
    """The phase fields filled in (blank: keep), validated like the API's."""
    fields: dict[str, Any] = {}
    try:
        for name in TIMES:
            if text(form, name):
                fields[name] = utc_time(text(form, name))
    except ValueError as exc:
        raise InvalidInput.about(f"not a time: {exc}", column=name) from None
    for name in COUNTS:
        if text(form, name):
            fields[name] = blank_is_none(text(form, name))
    if text(form, "late_policy"):
        fields["late_policy"] = text(form, "late_policy")
    try:
        return PhaseChange.model_validate(fields)
    except ValidationError as exc:
        raise invalid_input_from(exc, file="phase form") from None


def _challenge_page(
    request: Request,
    db: Database,
    principal: Principal,
    slug: str,
    status_code: int = 200,
    **context: Any,
) -> Response:
    challenge = challenges.challenge_view(db, slug=slug)
    recent = [
        rescoring.rescore_status(db, rescore_id=i) for i in rescoring.rescore_ids(db, slug=slug)[:5]
    ]
    return render(
        request,
        "admin_challenge.html",
        status_code,
        principal=principal,
        c=challenge,
        slug=slug,
        tab="admin",
        revealed=challenge.revealed,
        teams=challenges.list_teams(db, slug=slug),
        tokens=access.list_tokens(db, slug=slug),
        rescores=recent,
        outdated=rescoring.outdated_scores(db, slug=slug),
        now=utcnow(),
        KINDS=list(Exclusion),
        LATE=list(LatePolicy),
        **{"message": None, "secret": None, **context},
    )


async def _act(
    request: Request,
    db: Database,
    principal: Principal,
    slug: str,
    action: Any,
    *,
    files: int = 0,
    done: str | None = None,
) -> Response:
    """Run ``action(form)`` and go back to the challenge page (or ``done``); a refusal is
    shown on the challenge page with its status."""
    form = await checked_form(request, files=files)
    try:
        result = action(form)
        if isinstance(result, Response):
            return result
    except GeoarenaError as exc:
        return _challenge_page(request, db, principal, slug, status_of(exc), message=str(exc))
    return RedirectResponse(done or f"/admin/c/{slug}", status_code=303)


@router.get("")
def home(request: Request, db: DbDep, principal: PagePrincipal) -> Response:
    return render(
        request,
        "admin_home.html",
        principal=organizer(principal),
        challenges=challenges.list_challenges(db),
        presets=list(PRESETS),
        metrics=list(Metric),
        message=None,
    )


@router.post("/challenges")
async def create(request: Request, db: DbDep, principal: PagePrincipal) -> Response:
    member = organizer(principal)
    form = await checked_form(request, files=1)
    upload = form.get("truth")
    try:
        if not isinstance(upload, UploadFile) or not upload.filename:
            raise InvalidInput.about("choose the truth CSV", column="truth")
        metric = text(form, "ranking_metric")
        view = challenges.create_challenge(
            db,
            slug=text(form, "slug"),
            title=text(form, "title"),
            truth=await upload.read(),
            truth_filename=upload.filename,
            rules=text(form, "rules") or "deepglobe",
            ranking_metric=Metric(metric) if metric else None,
            description=text(form, "description"),
            terms=text(form, "terms"),
            data_description=text(form, "data_description"),
            public_fraction=float(text(form, "public_fraction") or 0.3),
            phase=phase_change(form),
            actor=member.actor,
        )
    except (GeoarenaError, ValueError) as exc:
        status = status_of(exc) if isinstance(exc, GeoarenaError) else 422
        return render(
            request,
            "admin_home.html",
            status,
            principal=member,
            challenges=challenges.list_challenges(db),
            presets=list(PRESETS),
            metrics=list(Metric),
            message=str(exc),
        )
    return RedirectResponse(f"/admin/c/{view.slug}", status_code=303)


@router.get("/c/{slug}")
def challenge_page(request: Request, slug: str, db: DbDep, principal: PagePrincipal) -> Response:
    return _challenge_page(request, db, organizer(principal), slug)


@router.post("/c/{slug}/text")
async def edit_text(request: Request, slug: str, db: DbDep, principal: PagePrincipal) -> Response:
    member = organizer(principal)

    def apply(form: FormData) -> None:
        fields = ("title", "description", "terms", "data_description")
        change = ChallengeText.model_validate({f: text(form, f) for f in fields})
        challenges.edit_challenge(db, slug=slug, text=change, actor=member.actor)

    return await _act(request, db, member, slug, apply)


@router.post("/c/{slug}/phases")
async def set_phase(request: Request, slug: str, db: DbDep, principal: PagePrincipal) -> Response:
    member = organizer(principal)

    def apply(form: FormData) -> None:
        name = text(form, "name")
        if not name:
            raise InvalidInput.about("a phase needs a name", column="name")
        challenges.set_phase(
            db, slug=slug, name=name, change=phase_change(form), actor=member.actor
        )

    return await _act(request, db, member, slug, apply)


#: the phase buttons: form value -> the service call.
PHASE_ACTIONS = {
    "close": finals.close_phase,
    "reopen": finals.reopen_phase,
    "reveal": finals.reveal,
}


@router.post("/c/{slug}/phase-action")
async def phase_action(
    request: Request, slug: str, db: DbDep, principal: PagePrincipal
) -> Response:
    member = organizer(principal)

    def apply(form: FormData) -> None:
        act = PHASE_ACTIONS.get(text(form, "action"))
        if act is None:
            raise InvalidInput.about("unknown phase action", column="action")
        act(db, slug=slug, phase=text(form, "phase") or None, actor=member.actor)

    return await _act(request, db, member, slug, apply)


@router.post("/c/{slug}/teams")
async def add_team(request: Request, slug: str, db: DbDep, principal: PagePrincipal) -> Response:
    member = organizer(principal)

    def apply(form: FormData) -> None:
        challenges.add_team(db, slug=slug, name=text(form, "name"), actor=member.actor)

    return await _act(request, db, member, slug, apply)


@router.post("/c/{slug}/tokens")
async def issue_token(request: Request, slug: str, db: DbDep, principal: PagePrincipal) -> Response:
    """A new member's (or an existing member's new) token: the secret is shown on this
    answer only, never stored and never put in a URL."""
    member = organizer(principal)

    def apply(form: FormData) -> Response:
        name, team = text(form, "member"), text(form, "team")
        if not name:
            raise InvalidInput.about("name the member", column="member")
        raw = access.issue_token(
            db, member=name, role=Role.PARTICIPANT, slug=slug, team=team, actor=member.actor
        )
        return _challenge_page(
            request,
            db,
            member,
            slug,
            secret={"token": raw, "member": name, "team": team},
            headers={"Cache-Control": "no-store"},
        )

    return await _act(request, db, member, slug, apply)


@router.post("/c/{slug}/tokens/revoke")
async def revoke_token(
    request: Request, slug: str, db: DbDep, principal: PagePrincipal
) -> Response:
    member = organizer(principal)

    def apply(form: FormData) -> None:
        access.revoke_token(db, key=text(form, "key"), actor=member.actor)

    return await _act(request, db, member, slug, apply)


def _exclusion(form: FormData) -> tuple[Exclusion | None, str]:
    """(kind, reason) of a moderation form; kind None means reinstate."""
    kind = text(form, "kind")
    if kind == "reinstate":
        return None, ""
    try:
        return Exclusion(kind), text(form, "reason")
    except ValueError:
        raise InvalidInput.about(f"unknown exclusion {kind!r}", column="kind") from None


@router.post("/c/{slug}/team-exclusion")
async def team_exclusion(
    request: Request, slug: str, db: DbDep, principal: PagePrincipal
) -> Response:
    member = organizer(principal)

    def apply(form: FormData) -> None:
        team = text(form, "team")
        kind, reason = _exclusion(form)
        if kind is None:
            moderation.reinstate_team(db, slug=slug, team=team, actor=member.actor)
        else:
            moderation.exclude_team(
                db, slug=slug, team=team, kind=kind, reason=reason, actor=member.actor
            )

    return await _act(request, db, member, slug, apply)


@router.get("/c/{slug}/submissions")
def all_submissions(request: Request, slug: str, db: DbDep, principal: PagePrincipal) -> Response:
    member = organizer(principal)
    challenge = challenges.challenge_view(db, slug=slug)
    return render(
        request,
        "admin_submissions.html",
        principal=member,
        c=challenge,
        slug=slug,
        tab="admin",
        revealed=challenge.revealed,
        rows=submissions.list_submissions(db, principal=member, slug=slug),
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
        s=view,
        slug=view.challenge,
        tab="admin",
        revealed=False,
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


@router.post("/c/{slug}/rescore")
async def start_rescore(
    request: Request, slug: str, db: DbDep, principal: PagePrincipal
) -> Response:
    """Re-score everything: with a replacement truth (file), a re-split (fraction, salt),
    or neither (the current evaluator)."""
    member = organizer(principal)
    form = await checked_form(request, files=1)
    upload = form.get("truth")
    truth, name = None, None
    if isinstance(upload, UploadFile) and upload.filename:
        truth, name = await upload.read(), upload.filename
    fraction = text(form, "public_fraction")
    try:
        run = rescoring.start_rescore(
            db,
            slug=slug,
            truth=truth,
            truth_filename=name,
            split_salt=text(form, "split_salt") or None,
            public_fraction=float(fraction) if fraction else None,
            reason=text(form, "reason"),
            actor=member.actor,
        )
    except ValueError as exc:  # a fraction that is not a number
        if isinstance(exc, GeoarenaError):
            return _challenge_page(request, db, member, slug, status_of(exc), message=str(exc))
        return _challenge_page(request, db, member, slug, 422, message=f"public fraction: {exc}")
    except GeoarenaError as exc:
        return _challenge_page(request, db, member, slug, status_of(exc), message=str(exc))
    return RedirectResponse(f"/admin/rescores/{run}", status_code=303)


@router.get("/rescores/{rescore_id}")
def rescore_page(
    request: Request, rescore_id: int, db: DbDep, principal: PagePrincipal
) -> Response:
    member = organizer(principal)
    view = rescoring.rescore_status(db, rescore_id=rescore_id)
    return render(
        request,
        "admin_rescore.html",
        principal=member,
        r=view,
        slug=view.challenge,
        tab="admin",
        revealed=False,
        message=None,
    )


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
        return render(
            request,
            "admin_rescore.html",
            status_of(exc),
            principal=member,
            r=view,
            slug=view.challenge,
            tab="admin",
            revealed=False,
            message=str(exc),
        )
    return RedirectResponse(f"/admin/rescores/{rescore_id}", status_code=303)
