"""Response schemas: what the API may show (declared so table-only columns never leak)."""

from __future__ import annotations

from pydantic import BaseModel


class CityCounts(BaseModel):
    tp: int
    fp: int
    fn: int
    f1: float
    precision: float
    recall: float


class SplitScorePublic(BaseModel):
    f1: float
    precision: float
    recall: float
    tp: int
    fp: int
    fn: int
    mean_city_f1: float
    cities: dict[str, CityCounts]


class RowErrorPublic(BaseModel):
    file: str
    line: int
    column: str
    reason: str


class ErrorDetail(BaseModel):
    message: str
    errors: list[RowErrorPublic] = []
    total: int | None = None


class SubmissionPublic(BaseModel):
    uuid: str
    challenge: str
    phase: str
    team: str | None
    baseline_label: str | None
    filename: str
    sha256: str
    size: int
    description: str
    status: str
    queue_position: int | None
    failure_kind: str | None
    error: ErrorDetail | None
    counts_to_quota: bool
    selected_final: bool
    created_at: str
    started_at: str | None
    finished_at: str | None
    ranking_metric: str
    #: "public" always once scored; "private" only after reveal (or for organizers).
    scores: dict[str, SplitScorePublic]


class SubmissionsPublic(BaseModel):
    data: list[SubmissionPublic]
    count: int


class QuotaPublic(BaseModel):
    phase: str
    open: bool
    daily_limit: int | None
    daily_used: int
    total_limit: int | None
    total_used: int
    concurrent_limit: int | None
    concurrent_used: int
    remaining: int | None
    concurrent_available: int | None
    resets_at: str


class LeaderboardRow(BaseModel):
    rank: int | None
    team: str
    submission: str
    submitted_at: str
    score: float
    f1: float
    precision: float
    recall: float
    tp: int
    fp: int
    fn: int
    mean_city_f1: float
    cities: dict[str, float]
    entries: int


class LeaderboardPublic(BaseModel):
    challenge: str
    title: str
    phase: str
    split: str
    metric: str
    rule: str
    revealed: bool
    cities: list[str]
    rows: list[LeaderboardRow]
    baselines: list[LeaderboardRow]


class FinalsUpdate(BaseModel):
    submissions: list[str]


class FinalsPublic(BaseModel):
    selected: list[str]


class RescoreChange(BaseModel):
    phase: str
    split: str
    team: str
    old_rank: int | None
    new_rank: int | None
    old_score: float | None
    new_score: float | None


class RescorePublic(BaseModel):
    id: int
    challenge: str
    status: str
    reason: str
    jobs: dict[str, int]
    changes: list[RescoreChange]


class ChallengePublic(BaseModel):
    slug: str
    title: str
    rules: str
    ranking_metric: str
    split_source: str
    truth_sha256: str
