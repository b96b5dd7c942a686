"""Honest ranks: is a board row really behind the row above it, or is the gap noise?

For each pair of neighbouring ranked rows, a paired bootstrap over the images of the
board's split (``geoarena.evaluator.compare``, stratified by city) gives the difference of
the lower row to the row above with its 95% interval and a two-sided p-value; rows whose
difference is not significant are marked *tied*. The method (replicates, seed, level) is
fixed, so a pair's result depends only on the two scores and is computed once: results
are cached per (generation, split, pair of submissions), and only the pairs a new score
touches are computed again. A cold board (a restart, a published rescore) computes its
pairs within a time budget per request and says how many are still pending.
"""

from __future__ import annotations

import time

from pydantic import BaseModel, ConfigDict
from sqlalchemy import select
from sqlalchemy.orm import Session

from geoarena.evaluator import Metric, compare
from geoarena.evaluator.rules import CityRule
from geoarena.leaderboard.blobs import get_blob
from geoarena.leaderboard.db import Database
from geoarena.leaderboard.image_counts import ImageCounts
from geoarena.leaderboard.schema import Score, Submission
from geoarena.leaderboard.states import Split

#: the confidence level of the intervals and of the tie marking.
LEVEL = 0.95
#: bootstrap replicates per pair (p-values resolve to about 0.002).
REPLICATES = 1000
#: the resampling seed: the same board always shows the same intervals.
SEED = 0
#: rows of a board that get an interval: the top, where places are contested.
MAX_ROWS = 100


class Gap(BaseModel):
    """A row's difference to the row ranked just above it, with its bootstrap interval."""

    model_config = ConfigDict(frozen=True)

    #: the team (or name) of the row above
    above: str
    #: this row's value minus the one above (<= 0 on a ranked board)
    delta: float
    low: float
    high: float
    p_value: float
    #: not significantly different from the row above at ``LEVEL``
    tied: bool


def _load_counts(
    session: Session, generation: int, split: Split, uuids: list[str]
) -> dict[str, ImageCounts]:
    """The stored per-image counts of these submissions (those scored before counts were
    kept have none)."""
    rows = session.execute(
        select(Submission.uuid, Score.image_ids_sha256, Score.image_counts, Score.unlisted_cities)
        .join(Submission, Submission.id == Score.submission_id)
        .where(
            Submission.uuid.in_(uuids),
            Score.split == split,
            Score.generation == generation,
            Score.image_counts.is_not(None),
        )
    ).all()
    ids: dict[str, bytes] = {}
    out: dict[str, ImageCounts] = {}
    for uuid, ids_sha, counts, unlisted in rows:
        if ids_sha is None or counts is None:
            continue
        if ids_sha not in ids:
            ids[ids_sha] = get_blob(session, ids_sha)
        out[uuid] = ImageCounts.decode(ids[ids_sha], counts, unlisted)
    return out


def gap_between(
    row: ImageCounts, above: ImageCounts, above_name: str, *, metric: Metric, city_rule: CityRule
) -> Gap:
    """The paired-bootstrap gap of ``row`` to ``above`` (the method of the boards)."""
    a, b = row.image_scores(city_rule), above.image_scores(city_rule)
    result = compare(
        a,
        b,
        metric=metric,
        replicates=REPLICATES,
        seed=SEED,
        level=LEVEL,
        # each side's mean per-city F1 over the cities its board value averages over
        cities=(
            {s.city for s in a} | set(row.unlisted_cities),
            {s.city for s in b} | set(above.unlisted_cities),
        ),
    )
    diff = result.overall
    return Gap(
        above=above_name,
        delta=diff.delta,
        low=diff.low,
        high=diff.high,
        p_value=diff.p_value,
        tied=not diff.significant(LEVEL),
    )


def neighbour_gaps(
    db: Database,
    session: Session,
    *,
    generation: int,
    split: Split,
    metric: Metric,
    city_rule: CityRule,
    rows: list[tuple[str, str]],
    budget: float,
) -> tuple[dict[str, Gap], int]:
    """({uuid: gap to the row above}, pairs still pending) for ranked ``rows`` given as
    (submission uuid, team) in rank order. Pairs not cached are computed, from the top,
    until ``budget`` seconds are spent."""
    rows = rows[:MAX_ROWS]
    pairs = list(zip(rows[1:], rows[:-1], strict=True))
    gaps: dict[str, Gap] = {}
    missing = []
    for (uuid, _), (above_uuid, above_team) in pairs:
        key = ("gap", generation, split, metric, uuid, above_uuid)
        hit = db.gaps.get(key, generation)
        if hit is None:
            missing.append((key, uuid, above_uuid, above_team))
        elif isinstance(hit, Gap):
            gaps[uuid] = hit
    if not missing:
        return gaps, 0
    needed = sorted({u for _, uuid, above, _ in missing for u in (uuid, above)})
    counts = _load_counts(session, generation, split, needed)
    deadline = time.monotonic() + budget
    pending = 0
    for key, uuid, above_uuid, above_team in missing:
        if uuid not in counts or above_uuid not in counts:
            db.gaps.put(key, generation, False)  # scored before counts were kept: no gap
            continue
        if time.monotonic() > deadline:
            pending += 1
            continue
        gap = gap_between(
            counts[uuid], counts[above_uuid], above_team, metric=metric, city_rule=city_rule
        )
        db.gaps.put(key, generation, gap)
        gaps[uuid] = gap
    return gaps, pending
