"""The audit log: every organizer action, with who did it and what changed."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from geoarena.leaderboard.schema import AuditEntry

#: the CLI acts as this organizer in the audit log (it has direct database access).
CLI_ACTOR = "cli"


def audit(
    session: Session, actor: str, action: str, challenge_id: int | None, **details: Any
) -> None:
    """Record ``action`` in the caller's transaction (so it commits or rolls back with it)."""
    session.add(AuditEntry(actor=actor, action=action, challenge_id=challenge_id, details=details))
