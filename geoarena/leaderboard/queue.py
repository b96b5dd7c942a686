"""The durable scoring queue, with leases: the one owner of every job transition.

A job row is written in the same transaction as its submission (:func:`enqueue`), so an
accepted submission always has a job. A worker claims the oldest claimable job (queued, or
running with an expired lease) and owns it until its lease expires; it extends the lease
while it works. Claims use ``FOR UPDATE SKIP LOCKED`` on PostgreSQL (workers never wait
for each other) and ``BEGIN IMMEDIATE`` on SQLite (one writer at a time). Finishing,
failing and retrying are conditional on still holding the lease, so a worker that lost its
job (paused past its lease, then woke up) cannot write a second score.

The submission's state follows its first-scoring job here too (queued -> scoring ->
scored | failed); a rescore job leaves the submission alone and writes a new score
generation instead.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from pydantic import AliasChoices, BaseModel, ConfigDict, Field
from sqlalchemy import ColumnElement, func, or_, select, update
from sqlalchemy.orm import Session

from geoarena.errors import Problem
from geoarena.evaluator import InputError
from geoarena.leaderboard.blobs import put_blob
from geoarena.leaderboard.challenges import bump_board
from geoarena.leaderboard.db import Database
from geoarena.leaderboard.schema import Job, Rescore, Score, Submission, utcnow
from geoarena.leaderboard.scoring import ScoringContext, SplitOutcome
from geoarena.leaderboard.states import (
    FailureKind,
    JobState,
    RescoreState,
    Split,
    SubmissionState,
)


class LeaseLost(RuntimeError):
    """The job was re-claimed by another worker after this worker's lease expired."""


@dataclass(frozen=True)
class Claim:
    """A worker's hold on one job: ``token`` proves the lease is still its own."""

    job_id: int
    submission_id: int
    rescore_id: int | None
    token: str
    attempt: int


class FailureDetail(BaseModel):
    """Why a submission failed: a message and, for a bad file, its located problems."""

    model_config = ConfigDict(frozen=True)

    message: str
    problems: list[Problem] = Field(
        default_factory=list, validation_alias=AliasChoices("problems", "errors")
    )
    total: int | None = None

    @classmethod
    def of(cls, error: InputError) -> FailureDetail:
        return cls(message=str(error), problems=list(error.problems[:50]), total=error.total)


def enqueue(session: Session, submission_id: int, rescore_id: int | None = None) -> None:
    """Queue a scoring job in the caller's transaction (it commits with the submission)."""
    session.add(Job(submission_id=submission_id, rescore_id=rescore_id, status=JobState.QUEUED))
    session.flush()


def position(session: Session, submission_id: int) -> int | None:
    """1-based place in the queue of a queued submission's first-scoring job."""
    job_id = session.execute(
        select(Job.id).where(
            Job.submission_id == submission_id,
            Job.rescore_id.is_(None),
            Job.status == JobState.QUEUED,
        )
    ).scalar_one_or_none()
    if job_id is None:
        return None
    ahead = session.execute(
        select(func.count()).where(Job.status == JobState.QUEUED, Job.id < job_id)
    ).scalar_one()
    return ahead + 1


class JobView(BaseModel):
    """A scoring job as organizers inspect it: attempts, the worker that held it last and
    the platform error it logged (a traceback's end), if any. Read from the ``Job`` row's
    attributes of the same names."""

    model_config = ConfigDict(frozen=True, from_attributes=True)

    id: int
    #: the rescore it belongs to (None: the submission's first scoring)
    rescore_id: int | None
    status: JobState
    attempts: int
    lease_owner: str | None
    last_error: str | None
    enqueued_at: datetime
    finished_at: datetime | None


def jobs_of(session: Session, submission_id: int) -> list[JobView]:
    """Every scoring job of a submission, oldest first."""
    jobs = session.execute(
        select(Job).where(Job.submission_id == submission_id).order_by(Job.id)
    ).scalars()
    return [JobView.model_validate(j) for j in jobs]


class JobQueue:
    """Claim, extend, finish, fail and retry scoring jobs of one database."""

    def __init__(self, db: Database, *, lease_seconds: float, max_attempts: int) -> None:
        self.db = db
        self.lease_seconds = lease_seconds
        self.max_attempts = max_attempts

    # --- taking work ---------------------------------------------------------------------
    def claim(self, owner: str) -> Claim | None:
        """Take the oldest claimable job, or None when there is none.

        A job whose lease expired ``max_attempts`` times is failed as a platform error
        instead (it never counts to the team's quota), so no submission stays queued forever.
        """
        while True:
            with self.db.transaction() as session:
                now = utcnow()
                claimable = or_(
                    Job.status == JobState.QUEUED,
                    (Job.status == JobState.RUNNING) & (Job.lease_expires_at < now),
                )
                job = session.execute(
                    select(Job)
                    .where(claimable)
                    .order_by(Job.id)
                    .limit(1)
                    .with_for_update(skip_locked=True)
                ).scalar_one_or_none()
                if job is None:
                    return None
                if job.attempts >= self.max_attempts:
                    self._fail(
                        session,
                        job,
                        f"scoring did not finish after {job.attempts} attempts (platform "
                        "error; this submission does not count against your quota)",
                    )
                    continue
                job.status = JobState.RUNNING
                job.attempts += 1
                job.lease_owner = owner
                job.lease_token = str(uuid.uuid4())
                job.lease_expires_at = now + timedelta(seconds=self.lease_seconds)
                if job.rescore_id is None:
                    submission = session.get_one(Submission, job.submission_id)
                    submission.status = SubmissionState.SCORING
                    submission.started_at = now
                return Claim(
                    job.id, job.submission_id, job.rescore_id, job.lease_token, job.attempts
                )

    def extend(self, claim: Claim) -> bool:
        """Push the lease forward; False when the job is no longer ours."""
        with self.db.transaction() as session:
            result = session.execute(
                update(Job)
                .where(*self._held(claim))
                .values(lease_expires_at=utcnow() + timedelta(seconds=self.lease_seconds))
            )
            return bool(result.rowcount == 1)  # type: ignore[attr-defined]

    # --- ending work ---------------------------------------------------------------------
    def finish(
        self,
        claim: Claim,
        scores: dict[Split, SplitOutcome],
        context: ScoringContext,
        evaluator_version: str,
    ) -> None:
        """Store the scores of a finished job in its context's generation.

        The first scoring of a submission that arrived during a rescore can finish after
        the rescore's job for it and its publication: both computed the same generation
        from the same truth, so the scores already there are kept.
        """
        with self.db.transaction() as session:
            self._release(session, claim, JobState.DONE)
            stored = session.execute(
                select(Score.split).where(
                    Score.submission_id == claim.submission_id,
                    Score.generation == context.generation,
                )
            ).scalars()
            known = set(stored)
            for split, outcome in scores.items():
                if split in known:
                    continue
                session.add(
                    Score(
                        submission_id=claim.submission_id,
                        split=split,
                        generation=context.generation,
                        **outcome.score.columns(),
                        rules=context.rules,
                        evaluator_version=evaluator_version,
                        truth_sha256=context.truth_sha256,
                        image_ids_sha256=put_blob(session, outcome.images.ids_bytes()),
                        image_counts=outcome.images.counts_bytes(),
                        unlisted_cities=outcome.images.unlisted_text(),
                    )
                )
            if claim.rescore_id is None:
                submission = session.get_one(Submission, claim.submission_id)
                submission.status, submission.finished_at = SubmissionState.SCORED, utcnow()
                bump_board(session, phase_id=submission.phase_id)
            else:
                self._maybe_finish_rescore(session, claim.rescore_id)

    def fail(self, claim: Claim, kind: FailureKind, detail: FailureDetail) -> None:
        """End a job for good: the submission fails (``kind`` says whose fault it is)."""
        with self.db.transaction() as session:
            job = self._release(session, claim, JobState.FAILED)
            if claim.rescore_id is None:
                submission = session.get_one(Submission, claim.submission_id)
                submission.status, submission.failure_kind = SubmissionState.FAILED, kind
                submission.error_detail = detail.model_dump_json()
                submission.finished_at = job.finished_at
            else:
                self._maybe_finish_rescore(session, claim.rescore_id)

    def retry(self, claim: Claim, reason: str, trace: str) -> None:
        """A platform error: back in the queue, or, after the last attempt, failed without
        costing quota, with a message that says so."""
        if claim.attempt >= self.max_attempts:
            message = (
                f"scoring failed on the platform after {claim.attempt} attempts ({reason}); "
                "this submission does not count against your quota"
            )
            self.fail(claim, FailureKind.PLATFORM, FailureDetail(message=message))
            return
        with self.db.transaction() as session:
            job = self._release(session, claim, JobState.QUEUED)
            job.last_error, job.finished_at, job.lease_token = trace[-4000:], None, None
            if claim.rescore_id is None:  # back in the queue, and shown so
                session.get_one(Submission, claim.submission_id).status = SubmissionState.QUEUED

    # --- reading -------------------------------------------------------------------------
    def pending(self) -> int:
        """Jobs queued or running."""
        with self.db.session() as session:
            return session.execute(
                select(func.count()).where(Job.status.in_([JobState.QUEUED, JobState.RUNNING]))
            ).scalar_one()

    def wait_until_idle(self, *, timeout: float = 60.0) -> None:
        """Block until no job is queued or running (tests, demos); raises TimeoutError."""
        deadline = time.monotonic() + timeout
        while self.pending():
            if time.monotonic() > deadline:
                raise TimeoutError("jobs still pending")
            time.sleep(0.05)

    # --- internals -----------------------------------------------------------------------
    @staticmethod
    def _held(claim: Claim) -> tuple[ColumnElement[bool], ...]:
        return (
            Job.id == claim.job_id,
            Job.lease_token == claim.token,
            Job.status == JobState.RUNNING,
        )

    def _release(self, session: Session, claim: Claim, state: JobState) -> Job:
        """Move the claimed job to ``state`` if this worker still owns it, else LeaseLost."""
        result = session.execute(
            update(Job)
            .where(*self._held(claim))
            .values(status=state, finished_at=utcnow(), lease_expires_at=None)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            raise LeaseLost(f"job {claim.job_id} was taken over by another worker")
        return session.get_one(Job, claim.job_id)

    @staticmethod
    def _fail(session: Session, job: Job, reason: str) -> None:
        job.status = JobState.FAILED
        job.last_error = reason
        job.finished_at = utcnow()
        if job.rescore_id is None:
            submission = session.get_one(Submission, job.submission_id)
            submission.status = SubmissionState.FAILED
            submission.failure_kind = FailureKind.PLATFORM
            submission.error_detail = FailureDetail(message=reason).model_dump_json()
            submission.finished_at = job.finished_at
        else:
            JobQueue._maybe_finish_rescore(session, job.rescore_id)

    @staticmethod
    def _maybe_finish_rescore(session: Session, rescore_id: int) -> None:
        left = session.execute(
            select(func.count()).where(
                Job.rescore_id == rescore_id,
                Job.status.in_([JobState.QUEUED, JobState.RUNNING]),
            )
        ).scalar_one()
        if left == 0:
            session.get_one(Rescore, rescore_id).status = RescoreState.READY
