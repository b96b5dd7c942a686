"""A phase's settings: what an organizer sets (:class:`PhaseChange`) and what anyone may
see of it (:class:`PhaseView`), with the field types that read forms, JSON and the command
line alike without misreading them (a number is not a time, ``false`` is not a limit)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema

from geoarena.leaderboard import lifecycle
from geoarena.leaderboard.schema import MAX_KEY, Phase
from geoarena.leaderboard.states import LatePolicy, PhaseState


def blank_is_none(value: Any) -> Any:
    """A form field left empty, or written ``none`` or ``null``, means "not set": forms
    (and the command line) have no null of their own."""
    if isinstance(value, str) and value.strip().lower() in ("", "none", "null"):
        return None
    return value


#: the largest limit a phase stores (a 32-bit SQL integer); a larger one would be
#: unlimited in all but name, and PostgreSQL refuses it with a server error.
MAX_LIMIT = MAX_KEY

#: a limit written as text: up to nine digits (below :data:`MAX_LIMIT`), or a word for none.
_LIMIT_TEXT = r"^\s*([0-9]{1,9}|none|null|)\s*$"


def _count_or_none(value: Any) -> Any:
    """A limit as JSON, a form or the command line write it: a whole number, or nothing
    (``null``, ``""``, ``none``). Booleans are refused: pydantic would read ``false`` as 0,
    which stops every upload."""
    if isinstance(value, bool):
        raise ValueError("a limit is a whole number >= 0, or none")
    if isinstance(value, str) and not re.fullmatch(_LIMIT_TEXT, value, re.IGNORECASE):
        raise ValueError("a limit is a whole number >= 0 (at most nine digits), or none")
    value = blank_is_none(value)
    return int(value) if isinstance(value, str) else value


#: a count limit; ``None`` (written ``none``) is unlimited.
Limit = Annotated[
    Annotated[int, Field(ge=0, le=MAX_LIMIT)] | None,
    BeforeValidator(_count_or_none),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "integer", "minimum": 0, "maximum": MAX_LIMIT},
                {"type": "null"},
                {"type": "string", "pattern": _LIMIT_TEXT},
            ],
            "description": f"a whole number up to {MAX_LIMIT}, or null / 'none' for unlimited",
        }
    ),
]


def _not_a_number(value: Any) -> Any:
    """pydantic reads a number (or a string of one) as Unix seconds, so a typo
    (``"finals_until": 0``) would set 1970: a time must be written as one."""
    if isinstance(value, bool | int | float):
        raise ValueError("a time is an ISO 8601 string such as 2027-03-01T00:00:00Z")
    if isinstance(value, str):
        try:
            float(value)
        except ValueError:
            return value
        raise ValueError("a time is an ISO 8601 string such as 2027-03-01T00:00:00Z")
    return value


def _in_utc(value: datetime | None) -> datetime | None:
    """The time in UTC, as it is stored (a time without an offset is read as UTC, whatever
    the server's zone). A time that has no UTC equivalent (year 1 at +01:00) is refused
    here, not by the database driver as a server error."""
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("a time must lie between the years 1 and 9999 in UTC") from None


#: a point in time, ISO 8601 (numbers are refused, see :func:`_not_a_number`), in UTC.
Moment = Annotated[datetime | None, BeforeValidator(_not_a_number), AfterValidator(_in_utc)]


class PhaseChange(BaseModel):
    """The phase fields an organizer sets; a field left out is left as it is.

    Limits are counts (``None``: unlimited); times are timezone-aware UTC.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    opens_at: Moment = None
    closes_at: Moment = None
    daily_limit: Limit = None
    total_limit: Limit = None
    concurrent_limit: Limit = None
    final_selections: int = Field(2, ge=1, le=100)
    #: finals may still change after the close, until then (None: only while open)
    finals_until: Moment = None
    late_policy: LatePolicy = LatePolicy.REFUSE

    def given(self) -> dict[str, object]:
        """Only the fields the caller set."""
        return {name: getattr(self, name) for name in self.model_fields_set}


class PhaseView(BaseModel):
    """A phase's settings and where it is in its life cycle."""

    model_config = ConfigDict(frozen=True)

    name: str
    state: PhaseState
    opens_at: datetime | None
    closes_at: datetime | None
    closed_at: datetime | None
    revealed_at: datetime | None
    daily_limit: int | None
    total_limit: int | None
    concurrent_limit: int | None
    final_selections: int
    finals_until: datetime | None
    late_policy: LatePolicy

    @classmethod
    def of(cls, phase: Phase, now: datetime) -> PhaseView:
        fields = {name: getattr(phase, name) for name in cls.model_fields if name != "state"}
        return cls(state=lifecycle.state_of(phase, now), **fields)
