"""Submission quotas per team and phase: per UTC day, in total, and at once.

Counted: a team's non-baseline submissions, except those failed by the platform. Rejected
uploads never reach the database, so they cannot count. The check runs inside the upload's
write transaction after the team row is locked (``FOR UPDATE`` on PostgreSQL, the
``BEGIN IMMEDIATE`` writer lock on SQLite), so two uploads cannot both take the last slot.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict, computed_field
from sqlalchemy import and_, func, not_, select
from sqlalchemy.orm import Session

from geoarena.errors import Forbidden
from geoarena.leaderboard.access import Principal, require_member_of
from geoarena.leaderboard.challenges import get_challenge, get_phase
from geoarena.leaderboard.db import Database
from geoarena.leaderboard.lifecycle import state_of
from geoarena.leaderboard.schema import Phase, Submission, utcnow
from geoarena.leaderboard.states import FailureKind, PhaseState, SubmissionState


def _left(limit: int | None, used: int) -> int | None:
    return None if limit is None else max(limit - used, 0)


class Quota(BaseModel):
    """A team's use of a phase's limits at one moment."""

    model_config = ConfigDict(frozen=True)

    phase: str
    #: where the phase is in its life cycle (it takes submissions while ``open``)
    state: PhaseState
    open: bool
    daily_limit: int | None
    daily_used: int
    total_limit: int | None
    total_used: int
    concurrent_limit: int | None
    concurrent_used: int
    #: next UTC midnight, when the daily count resets.
    resets_at: datetime
    #: when the quota was read (``retry_after`` counts from it).
    at: datetime

    @computed_field  # type: ignore[prop-decorator]
    @property
    def remaining(self) -> int | None:
        """Submissions left today and in total (the smaller); None means unlimited."""
        lefts = [
            x
            for x in (
                _left(self.daily_limit, self.daily_used),
                _left(self.total_limit, self.total_used),
            )
            if x is not None
        ]
        return min(lefts) if lefts else None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def concurrent_available(self) -> int | None:
        """Uploads that can start scoring now; None means unlimited."""
        return _left(self.concurrent_limit, self.concurrent_used)

    @property
    def retry_after(self) -> float | None:
        """Seconds until the daily count resets, when that is what blocks (else None)."""
        if self.daily_limit is not None and self.daily_used >= self.daily_limit:
            return max((self.resets_at - self.at).total_seconds(), 0.0)
        return None

    def refusal(self) -> str | None:
        """Why the next upload is refused, or None when it is allowed."""
        if self.total_limit is not None and self.total_used >= self.total_limit:
            return f"total quota used: {self.total_used} of {self.total_limit} submissions"
        if self.daily_limit is not None and self.daily_used >= self.daily_limit:
            return (
                f"daily quota used: {self.daily_used} of {self.daily_limit} today; "
                f"resets at {self.resets_at.isoformat()}"
            )
        if self.concurrent_limit is not None and self.concurrent_used >= self.concurrent_limit:
            return (
                f"{self.concurrent_used} submissions are still being scored "
                f"(limit {self.concurrent_limit} at once); wait for one to finish"
            )
        return None


def next_utc_midnight(now: datetime) -> datetime:
    return (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)


def quota_for(session: Session, *, team_id: int, phase: Phase, now: datetime) -> Quota:
    """Current quota use of ``team_id`` in ``phase`` (one aggregate query)."""
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    counted = and_(
        Submission.team_id == team_id,
        Submission.phase_id == phase.id,
        not_(Submission.is_baseline),
        not_(
            (Submission.status == SubmissionState.FAILED)
            & (Submission.failure_kind == FailureKind.PLATFORM)
        ),
    )
    pending = [SubmissionState.QUEUED, SubmissionState.SCORING]
    row = session.execute(
        select(
            func.count(),
            func.count().filter(Submission.created_at >= midnight),
            func.count().filter(Submission.status.in_(pending)),
        ).where(counted)
    ).one()
    return Quota(
        phase=phase.name,
        state=state_of(phase, now),
        open=state_of(phase, now) is PhaseState.OPEN,
        daily_limit=phase.daily_limit,
        daily_used=row[1],
        total_limit=phase.total_limit,
        total_used=row[0],
        concurrent_limit=phase.concurrent_limit,
        concurrent_used=row[2],
        resets_at=next_utc_midnight(now),
        at=now,
    )


def get_quota(db: Database, *, principal: Principal, slug: str, phase: str | None = None) -> Quota:
    """The caller's team's quota in ``phase`` (the open one by default)."""
    with db.session() as session:
        challenge = get_challenge(session, slug)
        require_member_of(principal, challenge)
        if principal.team_id is None:
            raise Forbidden("organizers have no quota")
        now = utcnow()
        phase_row = get_phase(session, challenge, phase, now)
        return quota_for(session, team_id=principal.team_id, phase=phase_row, now=now)
