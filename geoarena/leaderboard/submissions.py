"""Submissions: upload (validate, store, enqueue, all or nothing), and what a caller may
see of them.

``submit`` validates the file before anything is stored, then writes the blob, the
submission row and its scoring job in one transaction after locking the team row, so a
rejected file costs no quota and two uploads cannot both take a team's last slot.
"""

from __future__ import annotations

import tempfile
import uuid as uuidlib
from datetime import datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from geoarena.errors import Forbidden, NotFound
from geoarena.evaluator import InputError, Metric
from geoarena.leaderboard import queue
from geoarena.leaderboard.access import Principal, private_visible, require_member_of
from geoarena.leaderboard.audit import audit
from geoarena.leaderboard.blobs import get_blob, put_file
from geoarena.leaderboard.challenges import (
    active_rescore,
    get_challenge,
    get_phase,
    lock_challenge,
)
from geoarena.leaderboard.db import Database
from geoarena.leaderboard.errors import QuotaExceeded
from geoarena.leaderboard.lifecycle import admit_submission
from geoarena.leaderboard.queue import FailureDetail
from geoarena.leaderboard.quotas import quota_for
from geoarena.leaderboard.schema import Challenge, Phase, Score, Submission, Team, utcnow
from geoarena.leaderboard.scores import SplitScore, load_scores
from geoarena.leaderboard.settings import Settings, get_settings
from geoarena.leaderboard.splits import truth_image_ids
from geoarena.leaderboard.states import (
    Exclusion,
    FailureKind,
    RescoreState,
    Split,
    SubmissionState,
)
from geoarena.leaderboard.validation import UploadCheck, UploadLimits, ValidatedUpload
from geoarena.leaderboard.validators import InlineValidator, Validator


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
    #: arrived after the phase closed: scored, never ranked
    late: bool
    #: taken off the board by an organizer (``hidden`` or ``disqualified``), with why
    excluded: Exclusion | None
    excluded_reason: str | None
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
    scores = load_scores(session, [Score.submission_id == submission.id], challenge.generation).get(
        submission.id, {}
    )
    visible = [Split.PUBLIC] + ([Split.PRIVATE] if private_visible(principal, phase) else [])
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
        late=submission.is_late,
        excluded=submission.excluded or (submission.team.excluded if submission.team else None),
        excluded_reason=submission.excluded_reason
        or (submission.team.excluded_reason if submission.team else None),
        created_at=submission.created_at,
        started_at=submission.started_at,
        finished_at=submission.finished_at,
        ranking_metric=challenge.ranking_metric,
        scores={split: scores[split] for split in visible if split in scores},
    )


def _truth_ids(db: Database, session: Session, challenge: Challenge) -> frozenset[str]:
    """The ImageIds a submission may name (the truth's), cached per truth file."""
    sha = challenge.truth_sha256
    return db.cache.get_or_compute(
        ("truth_ids", sha), sha, lambda: frozenset(truth_image_ids(get_blob(session, sha)))
    )


def display_name(filename: str | None) -> str:
    """The uploader's file name without any folder or control character (an ANSI escape or
    a carriage return would rewrite a terminal line), for display only."""
    base = (filename or "").replace("\\", "/").rsplit("/", 1)[-1][:255]
    shown = "".join(c if c.isprintable() else "?" for c in base).strip()
    return shown or "submission.csv"


def check_admission(
    db: Database,
    *,
    principal: Principal,
    slug: str,
    phase: str | None,
    baseline_label: str | None,
) -> tuple[int, int, frozenset[str]]:
    """Refuse what the commit would refuse anyway (role, membership, a closed phase),
    before the file is read: (phase id, challenge id, the ImageIds it may name)."""
    if principal.is_organizer and not baseline_label:
        raise Forbidden("organizer submissions are baselines: give a baseline label")
    if not principal.is_organizer and baseline_label:
        raise Forbidden("only organizers submit baselines")
    with db.session() as session:
        challenge = get_challenge(session, slug)
        require_member_of(principal, challenge)
        phase_row = get_phase(session, challenge, phase, utcnow())
        admit_submission(phase_row, utcnow(), organizer=principal.is_organizer)
        return phase_row.id, challenge.id, _truth_ids(db, session, challenge)


def submit(
    db: Database,
    *,
    principal: Principal,
    slug: str,
    data: bytes | Path,
    filename: str = "submission.csv",
    phase: str | None = None,
    description: str = "",
    baseline_label: str | None = None,
    settings: Settings | None = None,
    validator: Validator | None = None,
) -> SubmissionView:
    """Validate, store and enqueue one prediction CSV (bytes, or a spooled file).

    Raises :class:`InputError` (located problems, nothing stored, no quota used),
    :class:`QuotaExceeded`, :class:`PhaseClosed` or :class:`Forbidden`. Organizer
    submissions must be baselines (``baseline_label``); they use no quota. The phase and
    the quota are checked again when the submission is written, so the time that counts
    is the commit's, not the start of validation's.
    """
    settings = settings or get_settings()
    name = display_name(filename)
    phase_id, challenge_id, image_ids = check_admission(
        db, principal=principal, slug=slug, phase=phase, baseline_label=baseline_label
    )
    limits = UploadLimits(
        max_bytes=settings.max_upload_bytes,
        max_vertices=settings.max_vertices,
        max_problems=settings.max_reported_errors,
    )
    with tempfile.TemporaryDirectory(prefix="geoarena-", dir=settings.spool_dir) as tmp:
        workdir = Path(tmp)
        source = data if isinstance(data, Path) else workdir / "upload"
        if isinstance(data, bytes):
            source.write_bytes(data)
        try:
            check = UploadCheck(source, name, image_ids, limits, workdir)
            upload = (validator or InlineValidator()).validate(check)
        except InputError as exc:
            message = f"file rejected: nothing was stored and no quota was used\n{exc}"
            raise InputError(exc.problems, exc.total, message=message) from None
        with db.transaction() as session:
            submission_id = _store(
                session,
                principal=principal,
                phase_id=phase_id,
                challenge_id=challenge_id,
                upload=upload,
                description=description,
                baseline_label=baseline_label,
            )
    with db.session() as session:
        return submission_view(session, session.get_one(Submission, submission_id), principal)


def _store(
    session: Session,
    *,
    principal: Principal,
    phase_id: int,
    challenge_id: int,
    upload: ValidatedUpload,
    description: str,
    baseline_label: str | None,
) -> int:
    """The write transaction of an accepted upload; returns the new submission's id."""
    lock_challenge(session, challenge_id, shared=True)
    now = utcnow()
    phase_row = session.get_one(Phase, phase_id)
    is_late = admit_submission(phase_row, now, organizer=principal.is_organizer)
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
        file_sha256=put_file(session, upload.csv),
        table_sha256=put_file(session, upload.table),
        file_size=upload.csv.size,
        filename=upload.name,
        description=description[:2000],
        status=SubmissionState.QUEUED,
        is_baseline=bool(baseline_label),
        baseline_label=baseline_label,
        is_late=is_late,
        created_at=now,
    )
    session.add(submission)
    session.flush()
    queue.enqueue(session, submission.id)
    rescore = active_rescore(session, challenge_id)
    if rescore is not None:  # scored on the rescore's truth too, so it can be published
        queue.enqueue(session, submission.id, rescore_id=rescore.id)
        rescore.status = RescoreState.RUNNING
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
    return submission.id


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


def submission_jobs(db: Database, *, uuid: str, principal: Principal) -> list[queue.JobView]:
    """The scoring jobs of a submission with the worker's errors (organizers only: the
    errors are the platform's tracebacks)."""
    if not principal.is_organizer:
        raise Forbidden("only organizers inspect scoring jobs")
    with db.session() as session:
        return queue.jobs_of(session, _load(session, uuid, principal).id)


def submission_file(db: Database, *, uuid: str, principal: Principal) -> tuple[str, bytes]:
    """(file name, bytes) of a submission as it was uploaded: its team's members and
    organizers only, like the submission itself."""
    with db.session() as session:
        submission = _load(session, uuid, principal)
        return submission.filename, get_blob(session, submission.file_sha256)


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
