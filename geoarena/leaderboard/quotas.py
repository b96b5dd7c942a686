"""Submission quotas per team and phase: per UTC day, in total, and at once.

Counted: a team's non-baseline submissions, except those failed by the platform. Rejected
uploads never reach the database, so they cannot count. The check runs inside the upload's
write transaction after the team row is locked (``FOR UPDATE`` on PostgreSQL, the
``BEGIN IMMEDIATE`` writer lock on SQLite), so two uploads cannot both take the last slot.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, func, not_, select
from sqlalchemy.orm import Session

from geoarena.leaderboard.schema import FAILED, QUEUED, SCORING, Phase, Submission


@dataclass(frozen=True)
class Quota:
    daily_limit: int | None
    daily_used: int
    total_limit: int | None
    total_used: int
    concurrent_limit: int | None
    concurrent_used: int
    #: next UTC midnight, when the daily count resets.
    resets_at: datetime

    @staticmethod
    def _left(limit: int | None, used: int) -> int | None:
        return None if limit is None else max(limit - used, 0)

    @property
    def remaining(self) -> int | None:
        """Submissions left today and in total (the smaller); None means unlimited."""
        lefts = [
            x
            for x in (
                self._left(self.daily_limit, self.daily_used),
                self._left(self.total_limit, self.total_used),
            )
            if x is not None
        ]
        return min(lefts) if lefts else None

    @property
    def concurrent_available(self) -> int | None:
        """Uploads that can start scoring now; None means unlimited."""
        return self._left(self.concurrent_limit, self.concurrent_used)

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

    def to_dict(self) -> dict[str, object]:
        out = asdict(self)
        out["remaining"] = self.remaining
        out["concurrent_available"] = self.concurrent_available
        out["resets_at"] = self.resets_at.isoformat()
        return out


def next_utc_midnight(now: datetime) -> datetime:
    return (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)


def quota_for(session: Session, *, team_id: int, phase: Phase, now: datetime) -> Quota:
    """Current quota use of ``team_id`` in ``phase`` (one aggregate query)."""
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    counted = and_(
        Submission.team_id == team_id,
        Submission.phase_id == phase.id,
        not_(Submission.is_baseline),
        not_((Submission.status == FAILED) & (Submission.failure_kind == "platform")),
    )
    row = session.execute(
        select(
            func.count(),
            func.count().filter(Submission.created_at >= midnight),
            func.count().filter(Submission.status.in_([QUEUED, SCORING])),
        ).where(counted)
    ).one()
    return Quota(
        daily_limit=phase.daily_limit,
        daily_used=row[1],
        total_limit=phase.total_limit,
        total_used=row[0],
        concurrent_limit=phase.concurrent_limit,
        concurrent_used=row[2],
        resets_at=next_utc_midnight(now),
    )
