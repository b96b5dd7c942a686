"""Participant routes: submit, status, my submissions, quota, leaderboard, finals."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from geoarena.leaderboard import access, finals, quotas, submissions
from geoarena.leaderboard.access import Identity
from geoarena.leaderboard.api.deps import (
    BoardQueryDep,
    CurrentPrincipal,
    DbDep,
    OptionalPrincipal,
    SettingsDep,
)
from geoarena.leaderboard.api.errors import COMMON_RESPONSES, ErrorBody
from geoarena.leaderboard.api.files import (
    CSV_RESPONSES,
    board_download,
    csv_download,
    receive_submission,
)
from geoarena.leaderboard.api.schemas import FinalsPublic, FinalsUpdate, SubmissionsPage
from geoarena.leaderboard.boards import Board
from geoarena.leaderboard.quotas import Quota
from geoarena.leaderboard.submissions import SubmissionView

router = APIRouter(prefix="/challenges/{slug}", tags=["participant"], responses=COMMON_RESPONSES)
by_uuid = APIRouter(prefix="/submissions", tags=["participant"], responses=COMMON_RESPONSES)
account = APIRouter(tags=["participant"], responses=COMMON_RESPONSES)

_REFUSALS: dict[int | str, dict[str, object]] = {
    403: {"model": ErrorBody, "description": "not allowed for this token"},
    404: {"model": ErrorBody, "description": "no such challenge, phase or submission"},
}


@router.post(
    "/submissions",
    status_code=202,
    response_model=SubmissionView,
    responses={
        **_REFUSALS,
        409: {"model": ErrorBody, "description": "the phase is not open"},
        413: {"model": ErrorBody, "description": "the upload is too large"},
        429: {"model": ErrorBody, "description": "quota used up (with the quota) or rate limit"},
    },
)
async def submit(
    slug: str,
    request: Request,
    principal: CurrentPrincipal,
    db: DbDep,
    settings: SettingsDep,
    phase: str | None = None,
) -> SubmissionView:
    """Upload a prediction CSV (multipart ``file`` field, or the raw CSV as the body).

    Validated before anything is stored: a rejected file costs no quota and the answer
    (422) lists row-level problems. Accepted files are queued for scoring (202).
    """
    return await receive_submission(
        request, db, settings, principal=principal, slug=slug, phase=phase
    )


@router.get("/submissions", response_model=SubmissionsPage, responses=_REFUSALS)
def my_submissions(slug: str, principal: CurrentPrincipal, db: DbDep) -> SubmissionsPage:
    """Your team's submissions, newest first (organizers: every submission)."""
    data = submissions.list_submissions(db, principal=principal, slug=slug)
    return SubmissionsPage(data=data, count=len(data))


@router.get("/quota", response_model=Quota, responses=_REFUSALS)
def quota(slug: str, principal: CurrentPrincipal, db: DbDep, phase: str | None = None) -> Quota:
    """Submissions left today and in total, and when the daily count resets (UTC)."""
    return quotas.get_quota(db, principal=principal, slug=slug, phase=phase)


@router.get("/leaderboard", response_model=Board, responses=_REFUSALS)
def leaderboard(slug: str, db: DbDep, principal: OptionalPrincipal, query: BoardQueryDep) -> Board:
    """The ranked board; ``split=private`` only once the organizer has revealed it."""
    return query.board(db, slug=slug, principal=principal)


@router.get("/leaderboard.csv", response_model=None, responses={**CSV_RESPONSES, **_REFUSALS})
def leaderboard_csv(
    slug: str, db: DbDep, principal: OptionalPrincipal, query: BoardQueryDep
) -> Response:
    """The board as a CSV file, one column per city F1."""
    return board_download(query.board(db, slug=slug, principal=principal))


@router.put("/finals", response_model=FinalsPublic, responses=_REFUSALS)
def select_finals(
    slug: str,
    body: FinalsUpdate,
    principal: CurrentPrincipal,
    db: DbDep,
    phase: str | None = None,
) -> FinalsPublic:
    """Choose the submissions that count for the private leaderboard."""
    selected = finals.select_finals(
        db, principal=principal, slug=slug, uuids=body.submissions, phase=phase
    )
    return FinalsPublic(selected=selected)


@by_uuid.get("/{uuid}", response_model=SubmissionView, responses=_REFUSALS)
def submission_status(uuid: str, principal: CurrentPrincipal, db: DbDep) -> SubmissionView:
    """Status (queued with position, scoring, scored, failed with the reason) and scores."""
    return submissions.get_submission(db, uuid=uuid, principal=principal)


@by_uuid.get(
    "/{uuid}/file",
    response_model=None,
    responses={
        200: {
            "description": "the submitted CSV, as uploaded",
            "content": {"text/csv": {"schema": {"type": "string"}}},
        },
        **_REFUSALS,
    },
)
def submission_file(uuid: str, principal: CurrentPrincipal, db: DbDep) -> Response:
    """Download one of your team's submitted files (organizers: any submission's)."""
    name, data = submissions.submission_file(db, uuid=uuid, principal=principal)
    return csv_download(data, name)


@account.get("/me", response_model=Identity)
def me(principal: CurrentPrincipal, db: DbDep) -> Identity:
    """Whose token this is: member, role, team and challenge (``geoarena leaderboard
    login`` checks a token with it before saving it)."""
    return access.identity(db, principal)
