"""The end of a challenge: each team's final submissions, and the reveal of the private
board."""

from __future__ import annotations

from sqlalchemy import select, update

from geoarena.errors import Forbidden, InvalidInput, NotFound
from geoarena.leaderboard.access import Principal, require_member_of
from geoarena.leaderboard.audit import CLI_ACTOR, audit
from geoarena.leaderboard.challenges import bump_board, get_challenge, get_phase
from geoarena.leaderboard.db import Database
from geoarena.leaderboard.schema import Submission, utcnow
from geoarena.leaderboard.states import SubmissionState


def select_finals(
    db: Database, *, principal: Principal, slug: str, uuids: list[str], phase: str | None = None
) -> list[str]:
    """Mark the team's final submissions (replacing the previous choice)."""
    if principal.team_id is None:
        raise Forbidden("only teams select final submissions")
    with db.transaction() as session:
        challenge = get_challenge(session, slug)
        require_member_of(principal, challenge)
        phase_row = get_phase(session, challenge, phase, utcnow())
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
        not_scored = [s.uuid for s in chosen if s.status is not SubmissionState.SCORED]
        if not_scored:
            raise InvalidInput.about(
                f"only scored submissions can be finals: {not_scored}", column="submissions"
            )
        session.execute(
            update(Submission)
            .where(Submission.team_id == principal.team_id, Submission.phase_id == phase_row.id)
            .values(selected_final=Submission.uuid.in_(uuids))
        )
        bump_board(session, phase_id=phase_row.id)
        return sorted(uuids)


def reveal(db: Database, *, slug: str, actor: str = CLI_ACTOR) -> None:
    """Publish the private leaderboard."""
    with db.transaction() as session:
        challenge = get_challenge(session, slug)
        if challenge.revealed_at is None:
            challenge.revealed_at = utcnow()
        bump_board(session, challenge_id=challenge.id)
        audit(session, actor, "challenge.reveal", challenge.id)
