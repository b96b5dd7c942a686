"""Scoring with the evaluator: one PreparedTruth per challenge split, reused for every job.

``TruthCache`` keeps the parsed and indexed truth of each (truth file, rules, split) so a
worker parses a challenge's truth once, not once per submission.
"""

from __future__ import annotations

import importlib.metadata
import threading
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

from geoarena.leaderboard.schema import PRIVATE, PUBLIC
from geoarena.leaderboard.splits import assign_splits


def evaluator_version() -> str:
    """Version of the scoring code; a change is a reason to rescore."""
    import geoarena.evaluator as evaluator

    version = getattr(evaluator, "__version__", None)
    return str(version or importlib.metadata.version("geoarena"))


@dataclass(frozen=True)
class SplitScore:
    """The numbers stored in one ``Score`` row."""

    f1: float
    precision: float
    recall: float
    tp: int
    fp: int
    fn: int
    mean_city_f1: float
    cities: dict[str, dict[str, float]]

    @classmethod
    def from_result(cls, result: Any) -> SplitScore:
        micro = result.micro
        cities = {city: c.to_dict() for city, c in sorted(result.cities.items())}
        return cls(
            f1=float(micro.f1),
            precision=float(micro.precision),
            recall=float(micro.recall),
            tp=int(micro.tp),
            fp=int(micro.fp),
            fn=int(micro.fn),
            mean_city_f1=float(result.mean_city_f1),
            cities=cities,
        )

    @classmethod
    def from_row(cls, row: Any) -> SplitScore:
        """From a ``Score`` row (or any object with the same attributes)."""
        return cls(**{f.name: getattr(row, f.name) for f in fields(cls)})

    def columns(self) -> dict[str, Any]:
        """The ``Score`` columns these numbers fill."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


class TruthCache:
    """Prepared truths keyed by (truth sha256, rules, split salt/fraction, split)."""

    def __init__(self) -> None:
        self._prepared: dict[tuple[Any, ...], Any] = {}
        self._lock = threading.Lock()
        #: how many PreparedTruth objects were built (tests check reuse).
        self.builds = 0

    def get(
        self,
        *,
        truth_sha256: str,
        rules: str,
        salt: str,
        public_fraction: float,
        load: Callable[[], bytes],
    ) -> dict[str, Any]:
        """{split: PreparedTruth} for both splits; ``load()`` fetches the truth bytes and is
        called only on a cache miss (a large truth is not even read again)."""
        key = (truth_sha256, rules, salt, public_fraction)
        with self._lock:
            if key not in self._prepared:
                from geoarena.evaluator import PreparedTruth, read_truth

                truth = load()
                table = read_truth(truth, name="truth.csv", on_error="raise")
                assignment, _ = assign_splits(truth, salt, public_fraction)
                prepared = {}
                for split in (PUBLIC, PRIVATE):
                    ids = sorted(i for i, s in assignment.items() if s == split)
                    prepared[split] = PreparedTruth(table, rules=rules, image_ids=ids)
                self._prepared[key] = prepared
                self.builds += 1
            return self._prepared[key]


def score_both_splits(
    prepared: dict[str, Any], proposals: bytes, *, name: str, max_vertices: int
) -> dict[str, SplitScore]:
    """Parse the proposals once and score them on each split."""
    from geoarena.evaluator import read_proposals

    table = read_proposals(proposals, name=name, on_error="raise", max_vertices=max_vertices)
    return {split: SplitScore.from_result(p.score(table)) for split, p in prepared.items()}
