"""Submissions: upload (validate, store, enqueue, all or nothing), and what a caller may
see of them.

``submit`` validates the file before anything is stored, then writes the blob, the
submission row and its scoring job in one transaction after locking the team row, so a
rejected file costs no quota and two uploads cannot both take a team's last slot.
"""

from __future__ import annotations

import uuid as uuidlib
from datetime import datetime

from pydantic import BaseModel, ConfigDict
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from geoarena.errors import Forbidden, NotFound, Problem
from geoarena.evaluator import InputError, Metric
from geoarena.leaderboard import queue
from geoarena.leaderboard.access import Principal, private_visible, require_member_of
from geoarena.leaderboard.audit import audit
from geoarena.leaderboard.blobs import get_blob, put_blob
from geoarena.leaderboard.challenges import get_challenge, get_phase, is_open
from geoarena.leaderboard.db import Database
from geoarena.leaderboard.errors import PhaseClosed, QuotaExceeded
from geoarena.leaderboard.queue import FailureDetail
from geoarena.leaderboard.quotas import quota_for
from geoarena.leaderboard.schema import Challenge, Phase, Score, Submission, Team, utcnow
from geoarena.leaderboard.scores import SplitScore, load_scores
from geoarena.leaderboard.settings import Settings, get_settings
from geoarena.leaderboard.splits import truth_image_ids
from geoarena.leaderboard.states import FailureKind, Split, SubmissionState
from geoarena.leaderboard.validation import validate_upload


class SubmissionView(BaseModel):
    """What the caller may see of a submission (private scores only after reveal)."""

    model_config = ConfigDict(frozen=True)

    uuid: str
    challenge: str
    phase: str
    team: str | None
    baseline_label: str | None
    filename: str
    sha256: str
    size: int
    description: str
    status: SubmissionState
    #: 1-based place in the scoring queue while queued
    queue_position: int | None
    failure_kind: FailureKind | None
    error: FailureDetail | None
    counts_to_quota: bool
    selected_final: bool
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    ranking_metric: Metric
    #: "public" once scored; "private" only after reveal (or for organizers)
    scores: dict[Split, SplitScore]


def submission_view(
    session: Session, submission: Submission, principal: Principal | None
) -> SubmissionView:
    phase = submission.phase
    challenge = phase.challenge
    scores = load_scores(session, [Score.submission_id == submission.id]).get(submission.id, {})
    visible = [Split.PUBLIC] + ([Split.PRIVATE] if private_visible(principal, challenge) else [])
    status = submission.status
    return SubmissionView(
        uuid=submission.uuid,
        challenge=challenge.slug,
        phase=phase.name,
        team=submission.team.name if submission.team else None,
        baseline_label=submission.baseline_label,
        filename=submission.filename,
        sha256=submission.file_sha256,
        size=submission.file_size,
        description=submission.description,
        status=status,
        queue_position=queue.position(session, submission.id)
        if status is SubmissionState.QUEUED
        else None,
        failure_kind=submission.failure_kind,
        error=FailureDetail.model_validate_json(submission.error_detail)
        if submission.error_detail
        else None,
        counts_to_quota=not submission.is_baseline
        and not (
            status is SubmissionState.FAILED and submission.failure_kind is FailureKind.PLATFORM
        ),
        selected_final=submission.selected_final,
        created_at=submission.created_at,
        started_at=submission.started_at,
        finished_at=submission.finished_at,
        ranking_metric=challenge.ranking_metric,
        scores={split: scores[split] for split in visible if split in scores},
    )


def _truth_ids(db: Database, session: Session, challenge: Challenge) -> frozenset[str]:
    """The ImageIds a submission may name (the truth's), cached per truth file."""
    key = ("truth_ids", challenge.truth_sha256)
    ids: frozenset[str] | None = db.cache.get(key, challenge.truth_sha256)
    if ids is None:
        ids = frozenset(truth_image_ids(get_blob(session, challenge.truth_sha256)))
        db.cache.put(key, challenge.truth_sha256, ids)
    return ids


def display_name(filename: str | None) -> str:
    """The uploader's file name without any folder or control character (an ANSI escape or
    a carriage return would rewrite a terminal line), for display only."""
    base = (filename or "").replace("\\", "/").rsplit("/", 1)[-1][:255]
    shown = "".join(c if c.isprintable() else "?" for c in base).strip()
    return shown or "submission.csv"


def submit(
    db: Database,
    *,
    principal: Principal,
    slug: str,
    data: bytes,
    filename: str = "submission.csv",
    phase: str | None = None,
    description: str = "",
    baseline_label: str | None = None,
    settings: Settings | None = None,
) -> SubmissionView:
    """Validate, store and enqueue one prediction CSV.

    Raises :class:`InputError` (row-level problems, nothing stored, no quota used),
    :class:`QuotaExceeded`, :class:`PhaseClosed` or :class:`Forbidden`.
    Organizer submissions must be baselines (``baseline_label``); they use no quota.
    """
    settings = settings or get_settings()
    now = utcnow()
    name = display_name(filename)
    if len(data) > settings.max_upload_bytes:
        raise InputError(
            [Problem(name, 0, "", f"exceeds the {settings.max_upload_bytes} byte limit")]
        )
    with db.session() as session:
        challenge = get_challenge(session, slug)
        require_member_of(principal, challenge)
        phase_row = get_phase(session, challenge, phase, now)
        if principal.is_organizer:
            if not baseline_label:
                raise Forbidden("organizer submissions are baselines: give a baseline label")
        else:
            if baseline_label:
                raise Forbidden("only organizers submit baselines")
            if not is_open(phase_row, now):
                raise PhaseClosed(f"phase {phase_row.name!r} is not open for submissions")
        image_ids = _truth_ids(db, session, challenge)
        phase_id, challenge_id = phase_row.id, challenge.id
    try:
        plain = validate_upload(
            data,
            name=name,
            image_ids=image_ids,
            max_bytes=settings.max_upload_bytes,
            max_vertices=settings.max_vertices,
            max_errors=settings.max_reported_errors,
        )
    except InputError as exc:
        message = f"file rejected: nothing was stored and no quota was used\n{exc}"
        raise InputError(exc.problems, exc.total, message=message) from None
    with db.transaction() as session:
        phase_row = session.get_one(Phase, phase_id)
        if principal.team_id is not None:
            # Lock the team row first: concurrent uploads of one team queue up here.
            session.execute(
                update(Team)
                .where(Team.id == principal.team_id)
                .values(lock_version=Team.lock_version + 1)
            )
            quota = quota_for(session, team_id=principal.team_id, phase=phase_row, now=now)
            refusal = quota.refusal()
            if refusal:
                raise QuotaExceeded(refusal, quota)
        submission = Submission(
            uuid=str(uuidlib.uuid4()),
            phase_id=phase_id,
            team_id=principal.team_id,
            member_id=principal.member_id,
            file_sha256=put_blob(session, plain),
            file_size=len(plain),
            filename=name,
            description=description[:2000],
            status=SubmissionState.QUEUED,
            is_baseline=bool(baseline_label),
            baseline_label=baseline_label,
            created_at=now,
        )
        session.add(submission)
        session.flush()
        queue.enqueue(session, submission.id)
        if baseline_label:
            audit(
                session,
                principal.actor,
                "baseline.submit",
                challenge_id,
                uuid=submission.uuid,
                label=baseline_label,
                sha256=submission.file_sha256,
            )
        submission_id = submission.id
    with db.session() as session:
        return submission_view(session, session.get_one(Submission, submission_id), principal)


def _load(session: Session, uuid: str, principal: Principal) -> Submission:
    submission = session.execute(
        select(Submission).where(Submission.uuid == uuid)
    ).scalar_one_or_none()
    if submission is None or not (
        principal.is_organizer
        or (submission.team_id is not None and submission.team_id == principal.team_id)
    ):
        raise NotFound(f"no submission {uuid}")  # same answer for others' submissions
    return submission


def get_submission(db: Database, *, uuid: str, principal: Principal) -> SubmissionView:
    with db.session() as session:
        return submission_view(session, _load(session, uuid, principal), principal)


def list_submissions(
    db: Database, *, principal: Principal, slug: str, team: str | None = None
) -> list[SubmissionView]:
    """The caller's team's submissions, newest first (organizers: any team or all)."""
    with db.session() as session:
        challenge = get_challenge(session, slug)
        require_member_of(principal, challenge)
        query = (
            select(Submission)
            .join(Phase, Phase.id == Submission.phase_id)
            .where(Phase.challenge_id == challenge.id)
            .order_by(Submission.created_at.desc(), Submission.id.desc())
        )
        if not principal.is_organizer:
            query = query.where(Submission.team_id == principal.team_id)
        elif team is not None:
            query = query.join(Team, Team.id == Submission.team_id).where(Team.name == team)
        return [submission_view(session, s, principal) for s in session.execute(query).scalars()]


def team_history(
    db: Database, *, slug: str, team: str, principal: Principal | None
) -> list[SubmissionView]:
    """A team's submissions, oldest first, for the history page and its chart."""
    if principal is None:
        raise Forbidden("log in to see a team's submissions")
    if not principal.is_organizer and principal.team_name != team:
        raise Forbidden("you can only see your own team's submissions")
    rows = list_submissions(
        db, principal=principal, slug=slug, team=team if principal.is_organizer else None
    )
    return list(reversed(rows))
