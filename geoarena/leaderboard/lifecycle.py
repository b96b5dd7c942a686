"""The life cycle of a phase, in one place: its states, which action each state allows,
and the transitions organizers make.

::

    scheduled --(opens_at)--> open --(closes_at, or close)--> closed --(reveal)--> revealed
                                 ^---------(reopen)-----------'

A phase's state follows from its schedule and two recorded events: ``closed_at`` (an
organizer closed it early, or it has no close time) and ``revealed_at`` (the private board
is published; final). Before reveal the organizer may move times and limits, close or
reopen; after it nothing about the phase changes. Finals are chosen while the phase is
open, or after the close until ``finals_until`` when an organizer opens such a window,
never after reveal. Reveal needs a closed phase whose every submission is scored and no
rescore in progress, so the revealed board is the final one.

Every check answers with a :class:`geoarena.errors.Conflict` (or ``PhaseClosed``) that
names the state and what to do; every transition is audited by its caller.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from geoarena.errors import Conflict
from geoarena.leaderboard.errors import PhaseClosed
from geoarena.leaderboard.schema import Phase
from geoarena.leaderboard.states import LatePolicy, PhaseState


class Action(StrEnum):
    """What participants and organizers do to a phase."""

    SUBMIT = "submit"
    SELECT_FINALS = "select finals"
    EDIT = "change the phase"
    CLOSE = "close"
    REOPEN = "reopen"
    REVEAL = "reveal"


#: the states in which each action is allowed (submissions and finals have extra rules).
ALLOWED: dict[Action, frozenset[PhaseState]] = {
    Action.SUBMIT: frozenset({PhaseState.OPEN}),
    Action.SELECT_FINALS: frozenset({PhaseState.OPEN, PhaseState.CLOSED}),
    Action.EDIT: frozenset({PhaseState.SCHEDULED, PhaseState.OPEN, PhaseState.CLOSED}),
    Action.CLOSE: frozenset({PhaseState.SCHEDULED, PhaseState.OPEN}),
    Action.REOPEN: frozenset({PhaseState.CLOSED}),
    Action.REVEAL: frozenset({PhaseState.CLOSED}),
}

_HINTS: dict[PhaseState, str] = {
    PhaseState.SCHEDULED: "it has not opened yet",
    PhaseState.OPEN: "it is open; close it first",
    PhaseState.CLOSED: "it is closed",
    PhaseState.REVEALED: "its private board is revealed and final",
}


def state_of(phase: Phase, now: datetime) -> PhaseState:
    """The phase's state at ``now``."""
    if phase.revealed_at is not None:
        return PhaseState.REVEALED
    if phase.closed_at is not None and phase.closed_at <= now:
        return PhaseState.CLOSED
    if phase.closes_at is not None and phase.closes_at <= now:
        return PhaseState.CLOSED
    if phase.opens_at is not None and now < phase.opens_at:
        return PhaseState.SCHEDULED
    return PhaseState.OPEN


def require(phase: Phase, action: Action, now: datetime) -> PhaseState:
    """The phase's state, if it allows ``action`` now; else a Conflict saying why."""
    state = state_of(phase, now)
    if state not in ALLOWED[action]:
        raise Conflict(f"cannot {action} phase {phase.name!r}: {_HINTS[state]}")
    finals_frozen = phase.finals_until is None or now >= phase.finals_until
    if action is Action.SELECT_FINALS and state is PhaseState.CLOSED and finals_frozen:
        window = (
            f" and the finals window ended at {phase.finals_until.isoformat()}"
            if phase.finals_until is not None
            else ""
        )
        raise Conflict(f"final submissions of phase {phase.name!r} are frozen: it closed{window}")
    return state


def admit_submission(phase: Phase, now: datetime, *, organizer: bool) -> bool:
    """Whether a submission is late (True) or on time (False); raises when refused.

    Organizer baselines are always admitted on time; a late participant submission is
    admitted only under the phase's ``unranked`` policy.
    """
    state = state_of(phase, now)
    if organizer or state is PhaseState.OPEN:
        return False
    if state is PhaseState.SCHEDULED:
        opens = phase.opens_at.isoformat() if phase.opens_at else "later"
        raise PhaseClosed(f"phase {phase.name!r} is not open yet (opens {opens})")
    if phase.late_policy is LatePolicy.UNRANKED:
        return True
    raise PhaseClosed(f"phase {phase.name!r} is {state} and does not take late submissions")


def close(phase: Phase, now: datetime) -> None:
    require(phase, Action.CLOSE, now)
    phase.closed_at = now


def reopen(phase: Phase, now: datetime) -> None:
    """Reopen a closed phase (before reveal): the close time is dropped, the phase then
    follows its schedule again, so give a later ``closes_at`` with it."""
    require(phase, Action.REOPEN, now)
    if phase.closes_at is not None and phase.closes_at <= now:
        raise Conflict(
            f"phase {phase.name!r} closes at {phase.closes_at.isoformat()}, in the past: "
            "set a later close time to reopen it"
        )
    phase.closed_at = None


def reveal(phase: Phase, now: datetime, *, pending: int, rescoring: bool) -> None:
    """Publish the private board: the phase must be closed, every submission scored, and
    no rescore under way (the revealed board is the final one)."""
    require(phase, Action.REVEAL, now)
    if pending:
        raise Conflict(
            f"cannot reveal phase {phase.name!r}: {pending} submission(s) still being scored"
        )
    if rescoring:
        raise Conflict(
            f"cannot reveal phase {phase.name!r}: a rescore is in progress; publish or "
            "discard it first"
        )
    phase.revealed_at = now
