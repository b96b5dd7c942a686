"""Request bodies and list envelopes of the API; every other body is a domain model
(``SubmissionView``, ``Quota``, ``Board``, ``RescoreView``, ``ChallengeView``), declared as
each route's response so that table-only columns never leak."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, BeforeValidator, Field

from geoarena.evaluator import Metric
from geoarena.leaderboard.phases import blank_is_none
from geoarena.leaderboard.states import Exclusion
from geoarena.leaderboard.submissions import SubmissionView


class ChallengeCreate(BaseModel):
    """A new challenge's fields, sent as form fields beside its truth CSV ``file`` and its
    first phase's limits."""

    # Constrained here so that the spec states every limit; ``create_challenge`` checks
    # them again for its other callers (the CLI, the pages).

    slug: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")
    title: str = Field(min_length=1, max_length=200)
    rules: str = "deepglobe"
    ranking_metric: Annotated[Metric | None, BeforeValidator(blank_is_none)] = None
    description: str = Field("", max_length=20_000)
    terms: str = Field("", max_length=20_000)
    data_description: str = Field("", max_length=20_000)
    public_fraction: float = Field(0.3, gt=0, lt=1)


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
