"""What a score is computed with, and computing it: one PreparedTruth per split of each
scoring context, reused for every job.

A :class:`ScoringContext` is a truth file, the rules and the public/private split: the
challenge's current one, or a rescore's. ``TruthCache`` keeps the parsed and indexed truth
of each context, so a worker parses a challenge's truth once, not once per submission.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from geoarena.evaluator import PolygonTable, PreparedTruth, ScoreResult, read_truth
from geoarena.leaderboard.image_counts import ImageCounts
from geoarena.leaderboard.schema import Challenge, Rescore
from geoarena.leaderboard.scores import SplitScore
from geoarena.leaderboard.splits import assign_splits
from geoarena.leaderboard.states import Split, SplitSource

#: the prepared truth of each split of one context.
PreparedSplits = dict[Split, PreparedTruth]


@dataclass(frozen=True)
class ScoringContext:
    """Everything a score depends on besides the submission and the evaluator's code;
    scores of one ``generation`` share one context."""

    truth_sha256: str
    rules: str
    split_source: SplitSource
    split_salt: str
    public_fraction: float
    generation: int

    @classmethod
    def current(cls, challenge: Challenge) -> ScoringContext:
        """The context of the scores the boards show now."""
        return cls(
            challenge.truth_sha256,
            challenge.rules,
            challenge.split_source,
            challenge.split_salt,
            challenge.public_fraction,
            challenge.generation,
        )

    @classmethod
    def of_rescore(cls, run: Rescore, challenge: Challenge) -> ScoringContext:
        """The context a rescore scores with (its own generation)."""
        return cls(
            run.truth_sha256,
            challenge.rules,
            run.split_source,
            run.split_salt,
            run.public_fraction,
            run.id,
        )


class TruthCache:
    """Prepared truths keyed by scoring context (generation aside)."""

    def __init__(self) -> None:
        self._prepared: dict[tuple[str, str, SplitSource, str, float], PreparedSplits] = {}
        self._lock = threading.Lock()
        #: how many truths were prepared (tests check reuse).
        self.builds = 0

    def get(self, context: ScoringContext, load: Callable[[], bytes]) -> PreparedSplits:
        """Both splits' PreparedTruth; ``load()`` fetches the truth bytes and is called
        only on a cache miss (a large truth is not even read again)."""
        key = (
            context.truth_sha256,
            context.rules,
            context.split_source,
            context.split_salt,
            context.public_fraction,
        )
        with self._lock:
            if key not in self._prepared:
                truth = load()
                table = read_truth(truth, name="truth.csv", on_error="raise")
                assignment, _ = assign_splits(
                    truth,
                    context.split_salt,
                    context.public_fraction,
                    rules=context.rules,
                    method=context.split_source,
                )
                self._prepared[key] = {
                    split: PreparedTruth(
                        table,
                        rules=context.rules,
                        image_ids=sorted(i for i, s in assignment.items() if s == split),
                    )
                    for split in Split
                }
                self.builds += 1
            return self._prepared[key]


@dataclass(frozen=True)
class SplitOutcome:
    """What scoring one split gives the database: the score shown, and the per-image
    counts the honest ranks resample."""

    score: SplitScore
    images: ImageCounts

    @classmethod
    def of(cls, result: ScoreResult) -> SplitOutcome:
        return cls(SplitScore.from_result(result), ImageCounts.from_result(result))


def score_both_splits(prepared: PreparedSplits, table: PolygonTable) -> dict[Split, SplitOutcome]:
    """Score one parsed submission on each split."""
    return {split: SplitOutcome.of(p.score(table)) for split, p in prepared.items()}
