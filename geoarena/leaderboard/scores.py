"""A submission's score on one split: the one type from the evaluator's result to the
board, the API and the pages, stored as one ``Score`` row."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from geoarena.evaluator import Metric, ScoreResult
from geoarena.evaluator.version import EVALUATOR_VERSION
from geoarena.leaderboard.schema import Score, Submission
from geoarena.leaderboard.states import Split


class CityScore(BaseModel):
    """Counts and rates of one city."""

    model_config = ConfigDict(frozen=True)

    tp: int
    fp: int
    fn: int
    f1: float
    precision: float
    recall: float


class SplitScore(BaseModel):
    """Overall counts and rates, mean per-city F1 and per-city scores on one split."""

    model_config = ConfigDict(frozen=True)

    f1: float
    precision: float
    recall: float
    tp: int
    fp: int
    fn: int
    mean_city_f1: float
    cities: dict[str, CityScore]

    def value(self, metric: Metric) -> float:
        """The number a board ranks by."""
        return self.f1 if Metric(metric) is Metric.F1 else self.mean_city_f1

    @classmethod
    def from_result(cls, result: ScoreResult) -> SplitScore:
        return cls(
            **result.micro.to_dict(),
            mean_city_f1=result.mean_city_f1,
            cities={
                city: CityScore.model_validate(c.to_dict())
                for city, c in sorted(result.cities.items())
            },
        )

    @classmethod
    def from_row(cls, row: Any) -> SplitScore:
        """From a ``Score`` row (or a result row with the same columns)."""
        return cls.model_validate({name: getattr(row, name) for name in cls.model_fields})

    def columns(self) -> dict[str, Any]:
        """The ``Score`` columns these numbers fill (cities as plain JSON)."""
        return self.model_dump()


def evaluator_version() -> str:
    """Version of the scoring code; a change is a reason to rescore."""
    return EVALUATOR_VERSION


_COLUMNS = (
    Score.submission_id,
    Score.split,
    *(getattr(Score, name) for name in SplitScore.model_fields),
)


def load_scores(
    session: Session, where: list[ColumnElement[bool]], generation: int
) -> dict[int, dict[Split, SplitScore]]:
    """{submission_id: {split: SplitScore}} of one score generation (the challenge's
    ``generation`` is the one shown)."""
    query = (
        select(*_COLUMNS)
        .join(Submission, Submission.id == Score.submission_id)
        .where(*where, Score.generation == generation)
    )
    out: dict[int, dict[Split, SplitScore]] = {}
    for row in session.execute(query):
        out.setdefault(row.submission_id, {})[row.split] = SplitScore.from_row(row)
    return out
