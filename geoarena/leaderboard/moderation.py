"""Taking a submission or a team off the board, and putting it back: organizer actions,
audited and reversible.

``hidden`` is for mistakes (a test upload, a duplicate team) and ``disqualified`` for a
rule broken; either way the board no longer shows it, its owner still sees it with the
reason, and ``reinstate`` undoes it. Allowed after reveal too: an audited organizer
action is the only way a revealed board may change.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from geoarena.errors import Conflict, NotFound
from geoarena.leaderboard.audit import CLI_ACTOR, audit
from geoarena.leaderboard.challenges import bump_board, get_challenge
from geoarena.leaderboard.db import Database
from geoarena.leaderboard.schema import Submission, Team
from geoarena.leaderboard.states import Exclusion


def exclude_submission(
    db: Database, *, uuid: str, kind: Exclusion, reason: str, actor: str = CLI_ACTOR
) -> None:
    with db.transaction() as session:
        row = _submission(session, uuid)
        row.excluded, row.excluded_reason = Exclusion(kind), reason
        bump_board(session, phase_id=row.phase_id)
        audit(
            session, actor, f"submission.{kind}", row.phase.challenge_id, uuid=uuid, reason=reason
        )


def reinstate_submission(db: Database, *, uuid: str, actor: str = CLI_ACTOR) -> None:
    with db.transaction() as session:
        row = _submission(session, uuid)
        if row.excluded is None:
            raise Conflict(f"submission {uuid} is not excluded")
        row.excluded, row.excluded_reason = None, None
        bump_board(session, phase_id=row.phase_id)
        audit(session, actor, "submission.reinstate", row.phase.challenge_id, uuid=uuid)


def exclude_team(
    db: Database, *, slug: str, team: str, kind: Exclusion, reason: str, actor: str = CLI_ACTOR
) -> None:
    with db.transaction() as session:
        row = _team(session, slug, team)
        row.excluded, row.excluded_reason = Exclusion(kind), reason
        bump_board(session, challenge_id=row.challenge_id)
        audit(session, actor, f"team.{kind}", row.challenge_id, team=team, reason=reason)


def reinstate_team(db: Database, *, slug: str, team: str, actor: str = CLI_ACTOR) -> None:
    with db.transaction() as session:
        row = _team(session, slug, team)
        if row.excluded is None:
            raise Conflict(f"team {team!r} is not excluded")
        row.excluded, row.excluded_reason = None, None
        bump_board(session, challenge_id=row.challenge_id)
        audit(session, actor, "team.reinstate", row.challenge_id, team=team)


def _submission(session: Session, uuid: str) -> Submission:
    row = session.execute(select(Submission).where(Submission.uuid == uuid)).scalar_one_or_none()
    if row is None:
        raise NotFound(f"no submission {uuid}")
    return row


def _team(session: Session, slug: str, team: str) -> Team:
    challenge = get_challenge(session, slug)
    row = session.execute(
        select(Team).where(Team.challenge_id == challenge.id, Team.name == team)
    ).scalar_one_or_none()
    if row is None:
        raise NotFound(f"no team {team!r} in {slug!r}")
    return row
