"""Participant routes: submit, status, my submissions, quota, leaderboard, finals."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import PlainTextResponse

from geoarena.leaderboard import service
from geoarena.leaderboard.api.deps import (
    CurrentPrincipal,
    DbDep,
    OptionalPrincipal,
    SettingsDep,
)
from geoarena.leaderboard.api.schemas import (
    FinalsPublic,
    FinalsUpdate,
    LeaderboardPublic,
    QuotaPublic,
    SubmissionPublic,
    SubmissionsPublic,
)
from geoarena.leaderboard.api.uploads import read_upload

router = APIRouter(prefix="/challenges/{slug}", tags=["participant"])
submissions = APIRouter(prefix="/submissions", tags=["participant"])


@router.post("/submissions", status_code=202, response_model=SubmissionPublic)
async def submit(
    slug: str,
    request: Request,
    principal: CurrentPrincipal,
    db: DbDep,
    settings: SettingsDep,
    phase: str | None = None,
) -> dict:
    """Upload a prediction CSV (multipart ``file`` field, or the raw CSV as the body).

    Validated before anything is stored: a rejected file costs no quota and the answer
    (422) lists row-level errors. Accepted files are queued for scoring (202).
    """
    upload = await read_upload(request)
    async with request.app.state.upload_slots:  # parsing is memory-heavy: bounded
        return await run_in_threadpool(
            service.submit,
            db,
            principal=principal,
            slug=slug,
            data=upload.data,
            filename=upload.filename,
            phase=phase or upload.fields.get("phase"),
            description=upload.fields.get("description", ""),
            baseline_label=upload.fields.get("baseline_label") if principal.is_organizer else None,
            settings=settings,
        )


@router.get("/submissions", response_model=SubmissionsPublic)
def my_submissions(slug: str, principal: CurrentPrincipal, db: DbDep) -> dict:
    """Your team's submissions, newest first (organizers: every submission)."""
    data = service.list_submissions(db, principal=principal, slug=slug)
    return {"data": data, "count": len(data)}


@router.get("/quota", response_model=QuotaPublic)
def quota(slug: str, principal: CurrentPrincipal, db: DbDep, phase: str | None = None) -> dict:
    """Submissions left today and in total, and when the daily count resets (UTC)."""
    return service.get_quota(db, principal=principal, slug=slug, phase=phase)


@router.get("/leaderboard", response_model=LeaderboardPublic)
def leaderboard(
    slug: str,
    db: DbDep,
    principal: OptionalPrincipal,
    split: str = "public",
    phase: str | None = None,
) -> dict:
    """The ranked board; ``split=private`` only once the organizer has revealed it."""
    challenge, phase_row, board = service.leaderboard(
        db, slug=slug, split=split, phase=phase, principal=principal
    )
    return service.board_to_dict(challenge, phase_row, board)


@router.get("/leaderboard.csv", response_class=PlainTextResponse)
def leaderboard_csv(
    slug: str,
    db: DbDep,
    principal: OptionalPrincipal,
    split: str = "public",
    phase: str | None = None,
) -> PlainTextResponse:
    text = service.export_csv(db, slug=slug, split=split, phase=phase, principal=principal)
    return PlainTextResponse(text, media_type="text/csv")


@router.put("/finals", response_model=FinalsPublic)
def select_finals(
    slug: str,
    body: FinalsUpdate,
    principal: CurrentPrincipal,
    db: DbDep,
    phase: str | None = None,
) -> dict:
    """Choose the submissions that count for the private leaderboard."""
    selected = service.select_finals(
        db, principal=principal, slug=slug, uuids=body.submissions, phase=phase
    )
    return {"selected": selected}


@submissions.get("/{uuid}", response_model=SubmissionPublic)
def submission_status(uuid: str, principal: CurrentPrincipal, db: DbDep) -> dict:
    """Status (queued with position, scoring, scored, failed with the reason) and scores."""
    return service.get_submission(db, uuid=uuid, principal=principal)
