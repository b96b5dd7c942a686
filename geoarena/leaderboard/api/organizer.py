"""Organizer routes: create a challenge, baselines, reveal, rescore, export."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import PlainTextResponse

from geoarena.errors import InvalidInput
from geoarena.evaluator import Metric
from geoarena.leaderboard import boards, challenges, finals, rescoring, submissions
from geoarena.leaderboard.api.deps import DbDep, OrganizerDep, SettingsDep
from geoarena.leaderboard.api.errors import COMMON_RESPONSES, ErrorBody
from geoarena.leaderboard.api.files import board_download, read_upload
from geoarena.leaderboard.challenges import ChallengeView, Limit, PhaseChange
from geoarena.leaderboard.rescoring import RescoreView
from geoarena.leaderboard.states import Split
from geoarena.leaderboard.submissions import SubmissionView

router = APIRouter(prefix="/organizer", tags=["organizer"], responses=COMMON_RESPONSES)

SLUG = r"^[a-z0-9][a-z0-9-]{0,63}$"


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
    slug: Annotated[str, Form(pattern=SLUG)],
    title: Annotated[str, Form(min_length=1, max_length=200)],
    rules: Annotated[str, Form()] = "deepglobe",
    ranking_metric: Annotated[Metric | None, Form()] = None,
    description: Annotated[str, Form(max_length=20_000)] = "",
    public_fraction: Annotated[float, Form(gt=0, lt=1)] = 0.3,
    daily_limit: Annotated[Limit, Form(description="per UTC day, or 'none'")] = 5,
    total_limit: Annotated[Limit, Form(description="in the phase, or 'none'")] = None,
    concurrent_limit: Annotated[Limit, Form(description="being scored at once, or 'none'")] = 2,
    final_selections: Annotated[int, Form(ge=1)] = 2,
) -> ChallengeView:
    """Create a challenge from its truth CSV (multipart ``file`` plus the fields)."""
    phase = PhaseChange(
        public_fraction=public_fraction,
        daily_limit=daily_limit,
        total_limit=total_limit,
        concurrent_limit=concurrent_limit,
        final_selections=final_selections,
    )
    return await run_in_threadpool(
        challenges.create_challenge,
        db,
        slug=slug,
        title=title,
        truth=await file.read(),
        truth_filename=file.filename or "truth.csv",
        rules=rules,
        ranking_metric=ranking_metric,
        description=description,
        phase=phase,
        actor=principal.actor,
    )


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
    upload = await read_upload(request)
    label = upload.fields.get("label") or upload.fields.get("baseline_label")
    if not label:
        raise InvalidInput.about("a baseline needs a label", column="label")
    return await run_in_threadpool(
        submissions.submit,
        db,
        principal=principal,
        slug=slug,
        data=upload.data,
        filename=upload.filename,
        phase=upload.fields.get("phase"),
        description=upload.fields.get("description", ""),
        baseline_label=label,
        settings=settings,
    )


@router.post(
    "/challenges/{slug}/reveal",
    status_code=204,
    responses={403: {"model": ErrorBody}, 404: {"model": ErrorBody}},
)
def reveal(slug: str, principal: OrganizerDep, db: DbDep) -> None:
    """Publish the private leaderboard."""
    finals.reveal(db, slug=slug, actor=principal.actor)


@router.post(
    "/challenges/{slug}/rescore",
    status_code=202,
    response_model=RescoreView,
    responses={403: {"model": ErrorBody}, 404: {"model": ErrorBody}},
)
async def rescore(slug: str, request: Request, principal: OrganizerDep, db: DbDep) -> RescoreView:
    """Re-score every submission (optionally with a replacement truth as ``file``)."""
    truth, name, reason = None, None, ""
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        upload = await read_upload(request)
        truth, name = upload.data or None, upload.filename
        reason = upload.fields.get("reason", "")
    run_id = await run_in_threadpool(
        rescoring.start_rescore,
        db,
        slug=slug,
        truth=truth,
        truth_filename=name,
        reason=reason,
        actor=principal.actor,
    )
    return rescoring.rescore_status(db, rescore_id=run_id)


@router.get(
    "/rescores/{rescore_id}",
    response_model=RescoreView,
    responses={403: {"model": ErrorBody}, 404: {"model": ErrorBody}},
)
def rescore_status(rescore_id: int, principal: OrganizerDep, db: DbDep) -> RescoreView:
    """Progress and, once ready, the rank changes the rescore would publish."""
    return rescoring.rescore_status(db, rescore_id=rescore_id)


@router.post(
    "/rescores/{rescore_id}/publish",
    status_code=204,
    responses={403: {"model": ErrorBody}, 404: {"model": ErrorBody}, 409: {"model": ErrorBody}},
)
def publish_rescore(rescore_id: int, principal: OrganizerDep, db: DbDep) -> None:
    rescoring.publish_rescore(db, rescore_id=rescore_id, actor=principal.actor)


@router.get(
    "/challenges/{slug}/export.csv",
    response_class=PlainTextResponse,
    responses={403: {"model": ErrorBody}, 404: {"model": ErrorBody}},
)
def export(
    slug: str,
    principal: OrganizerDep,
    db: DbDep,
    split: Split = Split.PRIVATE,
    phase: str | None = None,
) -> PlainTextResponse:
    """The board of either split as CSV (organizers see private before reveal)."""
    return board_download(
        boards.leaderboard(db, slug=slug, split=split, phase=phase, principal=principal)
    )
