"""Organizer routes: create a challenge, baselines, reveal, rescore, export."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from geoarena.leaderboard import access, boards, challenges, finals, moderation, rescoring
from geoarena.leaderboard.access import TokenView
from geoarena.leaderboard.api.deps import DbDep, OrganizerDep, SettingsDep
from geoarena.leaderboard.api.errors import COMMON_RESPONSES, ErrorBody
from geoarena.leaderboard.api.files import CSV_RESPONSES, board_download, receive_submission
from geoarena.leaderboard.api.schemas import ChallengeCreate, ExclusionUpdate, RescoreRequest
from geoarena.leaderboard.challenges import ChallengeText, ChallengeView, TeamView
from geoarena.leaderboard.phases import Limit, PhaseChange, PhaseView
from geoarena.leaderboard.rescoring import RescoreView
from geoarena.leaderboard.schema import MAX_KEY
from geoarena.leaderboard.states import Split
from geoarena.leaderboard.submissions import SubmissionView

router = APIRouter(
    prefix="/organizer",
    tags=["organizer"],
    responses={**COMMON_RESPONSES, 403: {"model": ErrorBody, "description": "not an organizer"}},
)
_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": ErrorBody}}
_CHANGE: dict[int | str, dict[str, Any]] = {**_NOT_FOUND, 409: {"model": ErrorBody}}

#: a rescore's id: a database key, a 32-bit SQL integer (PostgreSQL refuses a larger one
#: with a server error rather than finding nothing).
RescoreId = Annotated[int, Path(ge=1, le=MAX_KEY)]


@router.post(
    "/challenges",
    status_code=201,
    response_model=ChallengeView,
    responses={403: {"model": ErrorBody}, 409: {"model": ErrorBody}},
)
async def create_challenge(
    principal: OrganizerDep,
    db: DbDep,
    file: UploadFile,
    setup: Annotated[ChallengeCreate, Form()],
    daily_limit: Annotated[Limit, Form(description="per UTC day, or 'none'")] = 5,
    total_limit: Annotated[Limit, Form(description="in the phase, or 'none'")] = None,
    concurrent_limit: Annotated[Limit, Form(description="being scored at once, or 'none'")] = 2,
    final_selections: Annotated[int, Form(ge=1, le=100)] = 2,
) -> ChallengeView:
    """Create a challenge from its truth CSV (multipart ``file`` plus the fields)."""
    phase = PhaseChange(
        daily_limit=daily_limit,
        total_limit=total_limit,
        concurrent_limit=concurrent_limit,
        final_selections=final_selections,
    )
    return await run_in_threadpool(
        challenges.create_challenge,
        db,
        **setup.model_dump(),
        truth=await file.read(),
        truth_filename=file.filename or "truth.csv",
        phase=phase,
        actor=principal.actor,
    )


@router.patch("/challenges/{slug}", response_model=ChallengeView, responses=_NOT_FOUND)
def edit_challenge(
    slug: str, text: ChallengeText, principal: OrganizerDep, db: DbDep
) -> ChallengeView:
    """Change the title and texts (overview, rules, data); fields left out are kept."""
    return challenges.edit_challenge(db, slug=slug, text=text, actor=principal.actor)


@router.post(
    "/challenges/{slug}/baselines",
    status_code=202,
    response_model=SubmissionView,
    responses={403: {"model": ErrorBody}, 404: {"model": ErrorBody}, 413: {"model": ErrorBody}},
)
async def submit_baseline(
    slug: str, request: Request, principal: OrganizerDep, db: DbDep, settings: SettingsDep
) -> SubmissionView:
    """Upload a baseline (shown on the board, unranked); the ``label`` field names it."""
    return await receive_submission(
        request, db, settings, principal=principal, slug=slug, phase=None
    )


def _phase_step(verb: str, act: Callable[..., None], summary: str) -> None:
    """``POST /challenges/{slug}/<verb>``: one step of a phase's life cycle, the same
    service call as the CLI command and the admin page's button of that name."""

    def step(slug: str, principal: OrganizerDep, db: DbDep, phase: str | None = None) -> None:
        act(db, slug=slug, phase=phase, actor=principal.actor)

    path = f"/challenges/{{slug}}/{verb}"
    router.post(path, status_code=204, responses=_CHANGE, name=verb, description=summary)(step)


_phase_step(
    "close", finals.close_phase, "Close a phase now (before its close time, or when it has none)."
)
_phase_step("reopen", finals.reopen_phase, "Reopen a closed phase (never after its reveal).")
_phase_step(
    "reveal",
    finals.reveal,
    "Publish the private board of a closed phase whose submissions are all scored.",
)


@router.post(
    "/challenges/{slug}/rescore",
    status_code=202,
    response_model=RescoreView,
    responses=_CHANGE,
)
def rescore(slug: str, body: RescoreRequest, principal: OrganizerDep, db: DbDep) -> RescoreView:
    """Re-score every submission with the current truth: with a new split
    (``public_fraction``, ``split_salt``: a re-split) or the current one (a new evaluator)."""
    run_id = rescoring.start_rescore(
        db,
        slug=slug,
        split_salt=body.split_salt,
        public_fraction=body.public_fraction,
        reason=body.reason,
        actor=principal.actor,
    )
    return rescoring.rescore_status(db, rescore_id=run_id)


@router.post(
    "/challenges/{slug}/rescore/truth",
    status_code=202,
    response_model=RescoreView,
    responses=_CHANGE,
)
async def rescore_with_truth(
    slug: str,
    principal: OrganizerDep,
    db: DbDep,
    file: UploadFile,
    reason: Annotated[str, Form(max_length=2000)] = "",
) -> RescoreView:
    """Re-score every submission against a replacement truth CSV (``file``)."""
    run_id = await run_in_threadpool(
        rescoring.start_rescore,
        db,
        slug=slug,
        truth=await file.read(),
        truth_filename=file.filename or "truth.csv",
        reason=reason,
        actor=principal.actor,
    )
    return rescoring.rescore_status(db, rescore_id=run_id)


@router.get("/rescores/{rescore_id}", response_model=RescoreView, responses=_NOT_FOUND)
def rescore_status(rescore_id: RescoreId, principal: OrganizerDep, db: DbDep) -> RescoreView:
    """Progress and, once ready, the rank changes the rescore would publish."""
    return rescoring.rescore_status(db, rescore_id=rescore_id)


@router.post("/rescores/{rescore_id}/discard", status_code=204, responses=_CHANGE)
def discard_rescore(rescore_id: RescoreId, principal: OrganizerDep, db: DbDep) -> None:
    """Drop a rescore's scores unpublished (the boards never showed them)."""
    rescoring.discard_rescore(db, rescore_id=rescore_id, actor=principal.actor)


@router.post("/rescores/{rescore_id}/publish", status_code=204, responses=_CHANGE)
def publish_rescore(rescore_id: RescoreId, principal: OrganizerDep, db: DbDep) -> None:
    """Show a ready rescore's scores on every board (with its truth and split)."""
    rescoring.publish_rescore(db, rescore_id=rescore_id, actor=principal.actor)


@router.get(
    "/challenges/{slug}/export.csv",
    response_model=None,
    responses={**CSV_RESPONSES, 404: {"model": ErrorBody}},
)
def export(
    slug: str,
    principal: OrganizerDep,
    db: DbDep,
    split: Split = Split.PRIVATE,
    phase: str | None = None,
) -> Response:
    """The board of either split as CSV (organizers see private before reveal)."""
    return board_download(
        boards.leaderboard(db, slug=slug, split=split, phase=phase, principal=principal)
    )


@router.put("/challenges/{slug}/phases/{name}", response_model=PhaseView, responses=_CHANGE)
def set_phase(
    slug: str, name: str, change: PhaseChange, principal: OrganizerDep, db: DbDep
) -> PhaseView:
    """Create phase ``name`` or change the fields given (not after its reveal)."""
    return challenges.set_phase(db, slug=slug, name=name, change=change, actor=principal.actor)


@router.get("/challenges/{slug}/teams", response_model=list[TeamView], responses=_NOT_FOUND)
def teams(slug: str, principal: OrganizerDep, db: DbDep) -> list[TeamView]:
    """Teams with their members, submission counts and exclusions."""
    return challenges.list_teams(db, slug=slug)


@router.get("/tokens", response_model=list[TokenView])
def tokens(principal: OrganizerDep, db: DbDep, challenge: str | None = None) -> list[TokenView]:
    """Tokens by public key (secrets are never stored): find a lost one to revoke."""
    return access.list_tokens(db, slug=challenge)


@router.delete("/tokens/{key}", status_code=204, responses=_NOT_FOUND)
def revoke_token(key: str, principal: OrganizerDep, db: DbDep) -> None:
    """Revoke a token by its public key: it stops working on the next request."""
    access.revoke_token(db, key=key, actor=principal.actor)


@router.put("/submissions/{uuid}/exclusion", status_code=204, responses=_NOT_FOUND)
def exclude_submission(
    uuid: str, body: ExclusionUpdate, principal: OrganizerDep, db: DbDep
) -> None:
    """Hide or disqualify a submission (off the board, reversible, audited)."""
    moderation.exclude_submission(
        db, uuid=uuid, kind=body.kind, reason=body.reason, actor=principal.actor
    )


@router.delete("/submissions/{uuid}/exclusion", status_code=204, responses=_CHANGE)
def reinstate_submission(uuid: str, principal: OrganizerDep, db: DbDep) -> None:
    """Put a hidden or disqualified submission back on the board (audited)."""
    moderation.reinstate_submission(db, uuid=uuid, actor=principal.actor)


@router.put("/challenges/{slug}/teams/{team}/exclusion", status_code=204, responses=_NOT_FOUND)
def exclude_team(
    slug: str, team: str, body: ExclusionUpdate, principal: OrganizerDep, db: DbDep
) -> None:
    """Hide or disqualify a team and all its submissions (reversible, audited)."""
    moderation.exclude_team(
        db, slug=slug, team=team, kind=body.kind, reason=body.reason, actor=principal.actor
    )


@router.delete("/challenges/{slug}/teams/{team}/exclusion", status_code=204, responses=_CHANGE)
def reinstate_team(slug: str, team: str, principal: OrganizerDep, db: DbDep) -> None:
    """Put a hidden or disqualified team back on the board (audited)."""
    moderation.reinstate_team(db, slug=slug, team=team, actor=principal.actor)
