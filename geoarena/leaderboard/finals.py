"""The end of a phase: each team's final submissions, closing (and reopening) it, and
the reveal of its private board. The rules are ``lifecycle``'s; this module applies them
in a transaction and audits every transition."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from geoarena.errors import Forbidden, InvalidInput, NotFound
from geoarena.leaderboard import lifecycle
from geoarena.leaderboard.access import Principal, require_member_of
from geoarena.leaderboard.audit import CLI_ACTOR, audit
from geoarena.leaderboard.challenges import active_rescore, bump_board, get_challenge, get_phase
from geoarena.leaderboard.db import Database
from geoarena.leaderboard.lifecycle import Action
from geoarena.leaderboard.schema import Phase, Submission, utcnow
from geoarena.leaderboard.states import SubmissionState


def select_finals(
    db: Database, *, principal: Principal, slug: str, uuids: list[str], phase: str | None = None
) -> list[str]:
    """Mark the team's final submissions (replacing the previous choice), while the phase
    allows it (open, or in its finals window; never after reveal)."""
    if principal.team_id is None:
        raise Forbidden("only teams select final submissions")
    with db.transaction() as session:
        now = utcnow()
        challenge = get_challenge(session, slug)
        require_member_of(principal, challenge)
        phase_row = get_phase(session, challenge, phase, now)
        lifecycle.require(phase_row, Action.SELECT_FINALS, now)
        if len(set(uuids)) > phase_row.final_selections:
            raise InvalidInput.about(
                f"select at most {phase_row.final_selections} final submissions",
                column="submissions",
            )
        chosen = (
            session.execute(
                select(Submission).where(
                    Submission.uuid.in_(uuids),
                    Submission.team_id == principal.team_id,
                    Submission.phase_id == phase_row.id,
                )
            )
            .scalars()
            .all()
        )
        missing = set(uuids) - {s.uuid for s in chosen}
        if missing:
            raise NotFound(f"not your submissions in this phase: {sorted(missing)}")
        unfit = [s.uuid for s in chosen if s.status is not SubmissionState.SCORED or s.is_late]
        if unfit:
            raise InvalidInput.about(
                f"only scored, on-time submissions can be finals: {unfit}", column="submissions"
            )
        session.execute(
            update(Submission)
            .where(Submission.team_id == principal.team_id, Submission.phase_id == phase_row.id)
            .values(selected_final=Submission.uuid.in_(uuids))
        )
        bump_board(session, phase_id=phase_row.id)
        return sorted(uuids)


def _phase(session: Session, slug: str, phase: str | None) -> Phase:
    return get_phase(session, get_challenge(session, slug), phase, utcnow())


def _transition(
    db: Database,
    slug: str,
    phase: str | None,
    actor: str,
    action: str,
    apply: Callable[[Phase, datetime], None],
) -> None:
    with db.transaction() as session:
        row = _phase(session, slug, phase)
        apply(row, utcnow())
        bump_board(session, phase_id=row.id)
        audit(session, actor, f"phase.{action}", row.challenge_id, phase=row.name)


def close_phase(
    db: Database, *, slug: str, phase: str | None = None, actor: str = CLI_ACTOR
) -> None:
    """Close the phase now (before its close time, or when it has none)."""
    _transition(db, slug, phase, actor, "close", lifecycle.close)


def reopen_phase(
    db: Database, *, slug: str, phase: str | None = None, actor: str = CLI_ACTOR
) -> None:
    """Reopen a closed phase (never after reveal)."""
    _transition(db, slug, phase, actor, "reopen", lifecycle.reopen)


def reveal(db: Database, *, slug: str, phase: str | None = None, actor: str = CLI_ACTOR) -> None:
    """Publish the private board of a closed phase whose submissions are all scored."""
    with db.transaction() as session:
        row = _phase(session, slug, phase)
        pending = session.execute(
            select(func.count()).where(
                Submission.phase_id == row.id,
                Submission.status.in_([SubmissionState.QUEUED, SubmissionState.SCORING]),
            )
        ).scalar_one()
        rescoring = active_rescore(session, row.challenge_id) is not None
        lifecycle.reveal(row, utcnow(), pending=pending, rescoring=rescoring)
        bump_board(session, phase_id=row.id)
        audit(session, actor, "phase.reveal", row.challenge_id, phase=row.name)
