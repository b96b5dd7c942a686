"""Organizer routes: create a challenge, baselines, reveal, rescore, export."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import PlainTextResponse

from geoarena.leaderboard import service
from geoarena.leaderboard.api.deps import DbDep, OrganizerDep, SettingsDep
from geoarena.leaderboard.api.schemas import ChallengePublic, RescorePublic, SubmissionPublic
from geoarena.leaderboard.api.uploads import read_upload

router = APIRouter(prefix="/organizer", tags=["organizer"])


def _challenge_public(challenge) -> dict:
    return {
        "slug": challenge.slug,
        "title": challenge.title,
        "rules": challenge.rules,
        "ranking_metric": challenge.ranking_metric,
        "split_source": challenge.split_source,
        "truth_sha256": challenge.truth_sha256,
    }


def _int(fields: dict[str, str], name: str, default: int | None) -> int | None:
    value = fields.get(name)
    if value in (None, ""):
        return default
    if value.lower() == "none":
        return None
    try:
        return int(value)
    except ValueError:
        raise HTTPException(422, f"{name} must be an integer or 'none'") from None


@router.post("/challenges", status_code=201, response_model=ChallengePublic)
async def create_challenge(request: Request, principal: OrganizerDep, db: DbDep) -> dict:
    """Create a challenge from a truth CSV (multipart: ``file``, ``slug``, ``title``, ...)."""
    upload = await read_upload(request)
    f = upload.fields
    if not f.get("slug") or not f.get("title"):
        raise HTTPException(422, "slug and title are required")
    challenge = await run_in_threadpool(
        service.create_challenge,
        db,
        slug=f["slug"],
        title=f["title"],
        truth=upload.data,
        truth_filename=upload.filename,
        rules=f.get("rules", "deepglobe"),
        ranking_metric=f.get("ranking_metric") or None,
        description=f.get("description", ""),
        public_fraction=float(f.get("public_fraction", 0.3)),
        daily_limit=_int(f, "daily_limit", 5),
        total_limit=_int(f, "total_limit", None),
        concurrent_limit=_int(f, "concurrent_limit", 2),
        final_selections=_int(f, "final_selections", 2) or 2,
        actor=principal.actor,
    )
    return _challenge_public(challenge)


@router.post("/challenges/{slug}/baselines", status_code=202, response_model=SubmissionPublic)
async def submit_baseline(
    slug: str, request: Request, principal: OrganizerDep, db: DbDep, settings: SettingsDep
) -> dict:
    """Upload a baseline (shown on the board, unranked); ``label`` names it."""
    upload = await read_upload(request)
    label = upload.fields.get("label") or upload.fields.get("baseline_label")
    if not label:
        raise HTTPException(422, "a baseline needs a label")
    return await run_in_threadpool(
        service.submit,
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


@router.post("/challenges/{slug}/reveal", status_code=204)
def reveal(slug: str, principal: OrganizerDep, db: DbDep) -> None:
    """Publish the private leaderboard."""
    service.reveal(db, slug=slug, actor=principal.actor)


@router.post("/challenges/{slug}/rescore", status_code=202, response_model=RescorePublic)
async def rescore(slug: str, request: Request, principal: OrganizerDep, db: DbDep) -> dict:
    """Re-score every submission (optionally with a replacement truth as ``file``)."""
    truth, name, reason = None, None, ""
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        upload = await read_upload(request)
        truth, name = upload.data or None, upload.filename
        reason = upload.fields.get("reason", "")
    run_id = await run_in_threadpool(
        service.start_rescore,
        db,
        slug=slug,
        truth=truth,
        truth_filename=name,
        reason=reason,
        actor=principal.actor,
    )
    return service.rescore_status(db, rescore_id=run_id)


@router.get("/rescores/{rescore_id}", response_model=RescorePublic)
def rescore_status(rescore_id: int, principal: OrganizerDep, db: DbDep) -> dict:
    """Progress and, once ready, the rank changes the rescore would publish."""
    return service.rescore_status(db, rescore_id=rescore_id)


@router.post("/rescores/{rescore_id}/publish", status_code=204)
def publish_rescore(rescore_id: int, principal: OrganizerDep, db: DbDep) -> None:
    service.publish_rescore(db, rescore_id=rescore_id, actor=principal.actor)


@router.get("/challenges/{slug}/export.csv", response_class=PlainTextResponse)
def export(
    slug: str,
    principal: OrganizerDep,
    db: DbDep,
    split: str = "private",
    phase: str | None = None,
) -> PlainTextResponse:
    """The board of either split as CSV (organizers see private before reveal)."""
    text = service.export_csv(db, slug=slug, split=split, phase=phase, principal=principal)
    return PlainTextResponse(text, media_type="text/csv")
