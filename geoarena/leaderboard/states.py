"""The named states and kinds of the leaderboard, as ``StrEnum``s.

Stored as their string values (``schema.EnumText``), compared as enums everywhere else;
the transitions between them live with the object that owns them (the job queue for jobs
and submissions, ``rescoring`` for rescores), never as string assignments in callers.
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    """What a token may do: an organizer runs challenges, a participant belongs to a team."""

    ORGANIZER = "organizer"
    PARTICIPANT = "participant"


class Split(StrEnum):
    """The two halves of a challenge's hidden truth."""

    PUBLIC = "public"
    PRIVATE = "private"


class SplitSource(StrEnum):
    """Where the public/private split came from."""

    #: the truth CSV's ``split`` column
    COLUMN = "column"
    #: a salted hash of each ImageId, over all images (challenges created before 0.2)
    HASH = "hash"
    #: a salted hash of each ImageId, within each city: every city is in both splits
    HASH_BY_CITY = "hash-city"


class PhaseState(StrEnum):
    """scheduled -> open -> closed -> revealed (see ``lifecycle``)."""

    SCHEDULED = "scheduled"
    OPEN = "open"
    CLOSED = "closed"
    REVEALED = "revealed"


class LatePolicy(StrEnum):
    """What happens to a submission that arrives after its phase closed."""

    #: refused with a message saying the phase is closed
    REFUSE = "refuse"
    #: scored and shown beside the board, never ranked
    UNRANKED = "unranked"


class Exclusion(StrEnum):
    """Why an organizer took a submission or a team off the board (reversibly)."""

    #: a mistake (a test upload, a duplicate team): not shown
    HIDDEN = "hidden"
    #: a rule broken: not ranked
    DISQUALIFIED = "disqualified"


class SubmissionState(StrEnum):
    """queued -> scoring -> scored | failed (a platform retry goes back to queued)."""

    QUEUED = "queued"
    SCORING = "scoring"
    SCORED = "scored"
    FAILED = "failed"

    @property
    def pending(self) -> bool:
        """Still waiting for a score (counts against the concurrent-upload limit)."""
        return self in (SubmissionState.QUEUED, SubmissionState.SCORING)


class FailureKind(StrEnum):
    """Whose fault a failed submission is: only a participant's counts against quota."""

    PARTICIPANT = "participant"
    PLATFORM = "platform"


class JobState(StrEnum):
    """queued -> running -> done | failed; a running job whose lease expired is re-claimed."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class RescoreState(StrEnum):
    """running -> ready (every job finished) -> published | discarded."""

    RUNNING = "running"
    READY = "ready"
    PUBLISHED = "published"
    DISCARDED = "discarded"
