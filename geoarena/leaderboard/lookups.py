"""Lookups and checks shared by the service modules: who is calling, which challenge and
phase, what they may see, and the audit log."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from geoarena.leaderboard.errors import (
    Forbidden,
    LeaderboardError,
    NotFound,
)
from geoarena.leaderboard.ranking import METRICS
from geoarena.leaderboard.schema import (
    ORGANIZER,
    PRIVATE,
    PUBLIC,
    AuditEntry,
    Challenge,
    Phase,
)
from geoarena.leaderboard.splits import SplitError, assign_splits

#: the CLI acts as this organizer in the audit log (it has direct database access).
CLI_ACTOR = "cli"


@dataclass(frozen=True)
class Principal:
    """Who is calling: resolved from a bearer token."""

    member_id: int
    name: str
    role: str
    team_id: int | None
    team_name: str | None
    challenge_id: int | None

    @property
    def is_organizer(self) -> bool:
        return self.role == ORGANIZER

    @property
    def actor(self) -> str:
        return f"{self.role}:{self.name}"


def audit(session: Session, actor: str, action: str, challenge_id: int | None, **details: Any):
    session.add(AuditEntry(actor=actor, action=action, challenge_id=challenge_id, details=details))


def get_challenge(session: Session, slug: str) -> Challenge:
    challenge = session.execute(
        select(Challenge).where(Challenge.slug == slug)
    ).scalar_one_or_none()
    if challenge is None:
        raise NotFound(f"no challenge {slug!r}")
    return challenge


def get_phase(session: Session, challenge: Challenge, name: str | None, now: datetime) -> Phase:
    """The named phase, or the open one (the latest opened) when no name is given."""
    phases = (
        session.execute(select(Phase).where(Phase.challenge_id == challenge.id).order_by(Phase.id))
        .scalars()
        .all()
    )
    if name is not None:
        for phase in phases:
            if phase.name == name:
                return phase
        raise NotFound(f"challenge {challenge.slug!r} has no phase {name!r}")
    open_now = [p for p in phases if is_open(p, now)]
    if open_now:
        return open_now[-1]
    if not phases:
        raise NotFound(f"challenge {challenge.slug!r} has no phase")
    return phases[-1]


def is_open(phase: Phase, now: datetime) -> bool:
    return (phase.opens_at is None or phase.opens_at <= now) and (
        phase.closes_at is None or now < phase.closes_at
    )


def check_rules(rules: str, ranking_metric: str) -> None:
    from geoarena.evaluator import get_rules

    try:
        get_rules(rules)
    except KeyError as exc:
        raise LeaderboardError(str(exc).strip("'\"")) from None
    if ranking_metric not in METRICS:
        raise LeaderboardError(f"ranking metric must be one of {sorted(METRICS)}")


def check_truth(truth: bytes, name: str, salt: str, public_fraction: float) -> str:
    """Validate a truth file and its split; returns the split source."""
    from geoarena.evaluator import read_truth

    read_truth(truth, name=name, on_error="raise")
    try:
        assignment, source = assign_splits(truth, salt, public_fraction)
    except (SplitError, UnicodeDecodeError) as exc:
        raise LeaderboardError(f"{name}: {exc}") from None
    for split in (PUBLIC, PRIVATE):
        if split not in assignment.values():
            raise LeaderboardError(f"{name}: the {split} split has no image")
    return source


def require_member_of(principal: Principal, challenge: Challenge) -> None:
    if not principal.is_organizer and principal.challenge_id != challenge.id:
        raise Forbidden(f"your token is not for challenge {challenge.slug!r}")


def private_visible(principal: Principal | None, challenge: Challenge) -> bool:
    return challenge.revealed_at is not None or (principal is not None and principal.is_organizer)
