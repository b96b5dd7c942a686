"""A durable scoring queue in the database, with leases.

A job row is written in the same transaction as its submission, so an accepted submission
always has a job. A worker claims the oldest claimable job (queued, or running with an
expired lease) and owns it until its lease expires; it extends the lease while it works.
Claims use ``FOR UPDATE SKIP LOCKED`` on PostgreSQL (workers never wait for each other)
and ``BEGIN IMMEDIATE`` on SQLite (one writer at a time). Completion is conditional on
still holding the lease, so a worker that lost its job (paused past its lease, then woke
up) cannot write a second score.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from geoarena.leaderboard.db import Database
from geoarena.leaderboard.schema import FAILED, SCORING, Job, Submission, utcnow

JOB_QUEUED, JOB_RUNNING, JOB_DONE, JOB_FAILED = "queued", "running", "done", "failed"


class LeaseLost(RuntimeError):
    """The job was re-claimed by another worker after this worker's lease expired."""


@dataclass(frozen=True)
class Claim:
    job_id: int
    submission_id: int
    rescore_id: int | None
    token: str
    attempt: int


def enqueue(session: Session, submission_id: int, rescore_id: int | None = None) -> Job:
    job = Job(submission_id=submission_id, rescore_id=rescore_id, status=JOB_QUEUED)
    session.add(job)
    session.flush()
    return job


def _claimable(now):
    return or_(
        Job.status == JOB_QUEUED,
        (Job.status == JOB_RUNNING) & (Job.lease_expires_at < now),
    )


def claim(db: Database, owner: str, lease_seconds: float, max_attempts: int) -> Claim | None:
    """Take the oldest claimable job, or None when there is none.

    A job whose lease expired ``max_attempts`` times is failed as a platform error instead
    (it never counts to the team's quota), so no submission stays queued forever.
    """
    while True:
        with db.transaction() as session:
            now = utcnow()
            job = session.execute(
                select(Job)
                .where(_claimable(now))
                .order_by(Job.id)
                .limit(1)
                .with_for_update(skip_locked=True)
            ).scalar_one_or_none()
            if job is None:
                return None
            submission = session.get(Submission, job.submission_id)
            if job.attempts >= max_attempts:
                _fail_job(
                    session,
                    job,
                    submission,
                    f"scoring did not finish after {job.attempts} attempts (platform error; "
                    "this submission does not count against your quota)",
                )
                continue
            job.status = JOB_RUNNING
            job.attempts += 1
            job.lease_owner = owner
            job.lease_token = str(uuid.uuid4())
            job.lease_expires_at = now + timedelta(seconds=lease_seconds)
            if job.rescore_id is None:
                submission.status = SCORING
                submission.started_at = now
            return Claim(job.id, job.submission_id, job.rescore_id, job.lease_token, job.attempts)


def _fail_job(session: Session, job: Job, submission: Submission, reason: str) -> None:
    job.status = JOB_FAILED
    job.last_error = reason
    job.finished_at = utcnow()
    if job.rescore_id is None:
        submission.status = FAILED
        submission.failure_kind = "platform"
        submission.error_detail = json.dumps({"message": reason})
        submission.finished_at = job.finished_at


def hold(session: Session, claim: Claim, status: str) -> Job:
    """Lock the claimed job row and check this worker still owns it, else raise LeaseLost."""
    result = session.execute(
        update(Job)
        .where(Job.id == claim.job_id, Job.lease_token == claim.token, Job.status == JOB_RUNNING)
        .values(status=status, finished_at=utcnow(), lease_expires_at=None)
    )
    if result.rowcount != 1:
        raise LeaseLost(f"job {claim.job_id} was taken over by another worker")
    return session.get(Job, claim.job_id)


def extend(db: Database, claim: Claim, lease_seconds: float) -> bool:
    """Push the lease forward; False when the job is no longer ours."""
    with db.transaction() as session:
        result = session.execute(
            update(Job)
            .where(
                Job.id == claim.job_id, Job.lease_token == claim.token, Job.status == JOB_RUNNING
            )
            .values(lease_expires_at=utcnow() + timedelta(seconds=lease_seconds))
        )
        return result.rowcount == 1


def queue_position(session: Session, submission_id: int) -> int | None:
    """1-based place in the queue of a queued submission's first-scoring job."""
    job_id = session.execute(
        select(Job.id).where(
            Job.submission_id == submission_id,
            Job.rescore_id.is_(None),
            Job.status == JOB_QUEUED,
        )
    ).scalar_one_or_none()
    if job_id is None:
        return None
    ahead = session.execute(
        select(func.count()).where(Job.status == JOB_QUEUED, Job.id < job_id)
    ).scalar_one()
    return ahead + 1


def pending_count(session: Session) -> int:
    return session.execute(
        select(func.count()).where(Job.status.in_([JOB_QUEUED, JOB_RUNNING]))
    ).scalar_one()
