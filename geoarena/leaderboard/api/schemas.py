"""Request bodies and list envelopes of the API; every other body is a domain model
(``SubmissionView``, ``Quota``, ``Board``, ``RescoreView``, ``ChallengeView``), declared as
each route's response so that table-only columns never leak."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field

from geoarena.leaderboard.states import Exclusion
from geoarena.leaderboard.submissions import SubmissionView


class SubmissionsPage(BaseModel):
    data: list[SubmissionView]
    count: int


class FinalsUpdate(BaseModel):
    #: uuids of the team's chosen final submissions (replaces the previous choice)
    submissions: list[Annotated[str, Field(min_length=1, max_length=36)]] = Field(max_length=100)


class FinalsPublic(BaseModel):
    selected: list[str]


class ExclusionUpdate(BaseModel):
    kind: Exclusion
    #: shown to the team and kept in the audit log
    reason: str = Field("", max_length=2000)


class RescoreRequest(BaseModel):
    #: why (kept in the audit log and shown on the boards while it runs)
    reason: str = Field("", max_length=2000)
    #: a re-split: the new share of public images (and salt); both None: same split
    public_fraction: float | None = Field(None, gt=0, lt=1)
    split_salt: str | None = Field(None, min_length=1, max_length=64)
