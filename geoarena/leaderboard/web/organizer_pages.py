"""The organizer's challenge setup pages: create a challenge, edit its texts and phases,
close, reopen and reveal a phase, add teams, issue and revoke tokens.

Every form is the same audited service call the CLI and the API make, with the logged-in
organizer as the actor; a refused action shows its reason on the page it came from.
Moderation and rescoring have their own module (:mod:`.moderation_pages`) on the same
helpers: :func:`organizer`, :func:`challenge_admin_page` and :func:`challenge_form`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.datastructures import FormData
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import UploadFile

from geoarena.errors import Forbidden, GeoarenaError, InvalidInput
from geoarena.evaluator import PRESETS, Metric
from geoarena.leaderboard import access, challenges, finals, rescoring
from geoarena.leaderboard.access import Principal
from geoarena.leaderboard.api.deps import DbDep, PagePrincipal
from geoarena.leaderboard.api.errors import status_of
from geoarena.leaderboard.challenges import ChallengeText
from geoarena.leaderboard.db import Database
from geoarena.leaderboard.errors import Unauthorized
from geoarena.leaderboard.schema import utcnow
from geoarena.leaderboard.states import Exclusion, LatePolicy, Role
from geoarena.leaderboard.web.forms import checked_form, phase_change, text
from geoarena.leaderboard.web.render import render, render_challenge

router = APIRouter(prefix="/admin", include_in_schema=False)


def organizer(principal: Principal | None) -> Principal:
    if principal is None:
        raise Unauthorized("log in with an organizer token to organize challenges")
    if not principal.is_organizer:
        raise Forbidden("these pages are for organizers only")
    return principal


def challenge_admin_page(
    request: Request,
    db: Database,
    principal: Principal,
    slug: str,
    status_code: int = 200,
    **context: Any,
) -> Response:
    """A challenge's admin page: its texts and phases, teams, tokens, the last rescores;
    ``context`` adds a refusal's ``message`` or a new token's ``secret``."""
    challenge = challenges.challenge_view(db, slug=slug)
    recent = [
        rescoring.rescore_status(db, rescore_id=i) for i in rescoring.rescore_ids(db, slug=slug)[:5]
    ]
    return render_challenge(
        request,
        "admin_challenge.html",
        challenge,
        "admin",
        status_code,
        principal=principal,
        teams=challenges.list_teams(db, slug=slug),
        tokens=access.list_tokens(db, slug=slug),
        rescores=recent,
        outdated=rescoring.outdated_scores(db, slug=slug),
        now=utcnow(),
        KINDS=list(Exclusion),
        LATE=list(LatePolicy),
        **{"message": None, "secret": None, **context},
    )


@dataclass(frozen=True)
class AdminForm:
    """A form posted from a challenge's admin page, its CSRF token checked: who posted it,
    about which challenge, and its fields."""

    request: Request
    db: Database
    member: Principal
    slug: str
    form: FormData

    @property
    def actor(self) -> str:
        return self.member.actor

    def text(self, name: str) -> str:
        return text(self.form, name)


#: what a form does: a service call, then an answer of its own or None (the admin page).
FormAction = Callable[[AdminForm], Awaitable[Response | None]]


def challenge_form(
    on: APIRouter, path: str, *, files: int = 0
) -> Callable[[FormAction], FormAction]:
    """Serve ``action`` as the organizer's POST form at ``path`` (it holds ``{slug}``):
    then back to the challenge's admin page, or that page with a refusal's reason and
    status (the form's answer when ``action`` returns one)."""

    def register(action: FormAction) -> FormAction:
        async def endpoint(
            request: Request, slug: str, db: DbDep, principal: PagePrincipal
        ) -> Response:
            member = organizer(principal)
            form = await checked_form(request, files=files)
            try:
                answer = await action(AdminForm(request, db, member, slug, form))
            except GeoarenaError as exc:
                return challenge_admin_page(
                    request, db, member, slug, status_of(exc), message=str(exc)
                )
            if answer is not None:
                return answer
            return RedirectResponse(f"/admin/c/{slug}", status_code=303)

        endpoint.__name__, endpoint.__doc__ = action.__name__, action.__doc__
        on.post(path)(endpoint)
        return action

    return register


def _home(
    request: Request, db: Database, member: Principal, status_code: int = 200, message: str = ""
) -> Response:
    return render(
        request,
        "admin_home.html",
        status_code,
        principal=member,
        challenges=challenges.list_challenges(db),
        presets=list(PRESETS),
        metrics=list(Metric),
        message=message or None,
    )


@router.get("")
def home(request: Request, db: DbDep, principal: PagePrincipal) -> Response:
    return _home(request, db, organizer(principal))


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
        return _home(request, db, member, status, str(exc))
    return RedirectResponse(f"/admin/c/{view.slug}", status_code=303)


@router.get("/c/{slug}")
def challenge_page(request: Request, slug: str, db: DbDep, principal: PagePrincipal) -> Response:
    return challenge_admin_page(request, db, organizer(principal), slug)


@challenge_form(router, "/c/{slug}/text")
async def edit_text(f: AdminForm) -> None:
    fields = ("title", "description", "terms", "data_description")
    change = ChallengeText.model_validate({name: f.text(name) for name in fields})
    challenges.edit_challenge(f.db, slug=f.slug, text=change, actor=f.actor)


@challenge_form(router, "/c/{slug}/phases")
async def set_phase(f: AdminForm) -> None:
    name = f.text("name")
    if not name:
        raise InvalidInput.about("a phase needs a name", column="name")
    challenges.set_phase(f.db, slug=f.slug, name=name, change=phase_change(f.form), actor=f.actor)


#: the phase buttons: form value -> the service call.
PHASE_ACTIONS = {
    "close": finals.close_phase,
    "reopen": finals.reopen_phase,
    "reveal": finals.reveal,
}


@challenge_form(router, "/c/{slug}/phase-action")
async def phase_action(f: AdminForm) -> None:
    act = PHASE_ACTIONS.get(f.text("action"))
    if act is None:
        raise InvalidInput.about("unknown phase action", column="action")
    act(f.db, slug=f.slug, phase=f.text("phase") or None, actor=f.actor)


@challenge_form(router, "/c/{slug}/teams")
async def add_team(f: AdminForm) -> None:
    challenges.add_team(f.db, slug=f.slug, name=f.text("name"), actor=f.actor)


@challenge_form(router, "/c/{slug}/tokens")
async def issue_token(f: AdminForm) -> Response:
    """A new member's (or an existing member's new) token: the secret is shown on this
    answer only, never stored and never put in a URL."""
    name, team = f.text("member"), f.text("team")
    if not name:
        raise InvalidInput.about("name the member", column="member")
    raw = access.issue_token(
        f.db, member=name, role=Role.PARTICIPANT, slug=f.slug, team=team, actor=f.actor
    )
    return challenge_admin_page(
        f.request,
        f.db,
        f.member,
        f.slug,
        secret={"token": raw, "member": name, "team": team},
        headers={"Cache-Control": "no-store"},
    )


@challenge_form(router, "/c/{slug}/tokens/revoke")
async def revoke_token(f: AdminForm) -> None:
    access.revoke_token(f.db, key=f.text("key"), actor=f.actor)
