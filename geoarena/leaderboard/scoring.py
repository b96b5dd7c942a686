"""Scoring with the evaluator: one PreparedTruth per challenge split, reused for every job.

``TruthCache`` keeps the parsed and indexed truth of each (truth file, rules, split) so a
worker parses a challenge's truth once, not once per submission.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from geoarena.evaluator import PreparedTruth, read_proposals, read_truth
from geoarena.leaderboard.scores import SplitScore
from geoarena.leaderboard.splits import assign_splits
from geoarena.leaderboard.states import Split

#: the prepared truth of each split of one challenge.
PreparedSplits = dict[Split, PreparedTruth]


class TruthCache:
    """Prepared truths keyed by (truth sha256, rules, split salt/fraction)."""

    def __init__(self) -> None:
        self._prepared: dict[tuple[str, str, str, float], PreparedSplits] = {}
        self._lock = threading.Lock()
        #: how many truths were prepared (tests check reuse).
        self.builds = 0

    def get(
        self,
        *,
        truth_sha256: str,
        rules: str,
        salt: str,
        public_fraction: float,
        load: Callable[[], bytes],
    ) -> PreparedSplits:
        """Both splits' PreparedTruth; ``load()`` fetches the truth bytes and is called
        only on a cache miss (a large truth is not even read again)."""
        key = (truth_sha256, rules, salt, public_fraction)
        with self._lock:
            if key not in self._prepared:
                truth = load()
                table = read_truth(truth, name="truth.csv", on_error="raise")
                assignment, _ = assign_splits(truth, salt, public_fraction)
                self._prepared[key] = {
                    split: PreparedTruth(
                        table,
                        rules=rules,
                        image_ids=sorted(i for i, s in assignment.items() if s == split),
                    )
                    for split in Split
                }
                self.builds += 1
            return self._prepared[key]


def score_both_splits(
    prepared: PreparedSplits, proposals: bytes, *, name: str, max_vertices: int
) -> dict[Split, SplitScore]:
    """Parse the proposals once and score them on each split."""
    table = read_proposals(proposals, name=name, on_error="raise", max_vertices=max_vertices)
    return {split: SplitScore.from_result(p.score(table)) for split, p in prepared.items()}
