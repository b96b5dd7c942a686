"""Honest ranks: each board row's paired-bootstrap gap to the row above, checked against a
direct computation (the evaluator scoring the files on the split, then ``compare``) on a
seeded case where two teams differ by noise and two differ for real."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from geoarena import leaderboard as lb
from geoarena.errors import Forbidden
from geoarena.evaluator import (
    PRESETS,
    Metric,
    PreparedTruth,
    compare,
    read_proposals,
    read_truth,
)
from geoarena.evaluator.synthetic import make_pair
from geoarena.leaderboard import honest_ranks
from geoarena.leaderboard.schema import Score
from geoarena.leaderboard.splits import assign_splits
from geoarena.leaderboard.states import Split

from .factories import degrade, make_arena, perfect

TRUTH, PROPS = make_pair(120, 12, seed=5)
#: team -> its file: "noise-1" and "noise-2" drop different random 10% of the same
#: predictions (they differ by luck only); "perfect" and "poor" differ from them for real.
FILES = {
    "perfect": perfect(TRUTH),
    "noise-1": degrade(PROPS, 0.9, seed=1),
    "noise-2": degrade(PROPS, 0.9, seed=3),
    "poor": degrade(PROPS, 0.45, seed=4),
}


@pytest.fixture
def scored(db):
    arena = make_arena(db, teams=tuple(FILES), truth=TRUTH)
    for team, data in FILES.items():
        lb.submit(db, principal=arena.members[team], slug=arena.slug, data=data)
    lb.Worker(db).run(exit_when_idle=True)
    return arena


def _direct(split: Split):
    """Each team's per-image scores on ``split``, straight from the evaluator."""
    rules = "deepglobe"
    assignment, _ = assign_splits(TRUTH, "test-salt", 0.3, rules=rules)
    ids = sorted(i for i, s in assignment.items() if s == split)
    prepared = PreparedTruth(read_truth(TRUTH, name="truth.csv"), rules=rules, image_ids=ids)
    return {t: prepared.score(read_proposals(d, name=f"{t}.csv")) for t, d in FILES.items()}


@pytest.mark.parametrize("split", [Split.PUBLIC, Split.PRIVATE])
def test_gaps_and_ties_equal_a_direct_computation(db, scored, split: Split) -> None:
    board = lb.leaderboard(db, slug=scored.slug, split=split, principal=scored.organizer)
    assert board.rows[0].team == "perfect"
    assert {r.team for r in board.rows[1:3]} == {"noise-1", "noise-2"}
    assert board.rows[3].team == "poor" and board.gaps_pending == 0
    direct = _direct(split)
    metric = board.metric
    assert board.rows[0].gap is None
    for above, row in zip(board.rows, board.rows[1:], strict=False):
        expected = compare(
            direct[row.team].images,
            direct[above.team].images,
            metric=metric,
            replicates=honest_ranks.REPLICATES,
            seed=honest_ranks.SEED,
        ).overall
        gap = row.gap
        assert gap is not None and gap.above == above.team
        assert gap.delta == pytest.approx(expected.delta, abs=1e-12)
        assert (gap.low, gap.high, gap.p_value) == pytest.approx(
            (expected.low, expected.high, expected.p_value), abs=1e-12
        )
        assert gap.tied is (expected.p_value >= 1 - honest_ranks.LEVEL)
        assert gap.delta == pytest.approx(row.value - above.value, abs=1e-12)
    tied = {row.team: row.gap.tied for row in board.rows[1:] if row.gap}
    # the noise pair is tied, the real differences are not
    assert tied[board.rows[2].team] is True
    assert tied[board.rows[1].team] is False and tied["poor"] is False


def test_pairs_are_computed_once_and_within_a_budget(db, scored) -> None:
    cold = lb.leaderboard(db, slug=scored.slug, interval_budget=0.0)
    assert cold.gaps_pending == 3 and all(r.gap is None for r in cold.rows)
    warm = lb.leaderboard(db, slug=scored.slug)
    assert warm.gaps_pending == 0 and all(r.gap for r in warm.rows[1:])
    cached = lb.leaderboard(db, slug=scored.slug, interval_budget=0.0)  # nothing to compute
    assert cached.gaps_pending == 0 and [r.gap for r in cached.rows] == [r.gap for r in warm.rows]


def test_the_private_board_shows_gaps_to_organizers_before_the_reveal(db, scored) -> None:
    with pytest.raises(Forbidden):
        lb.leaderboard(db, slug=scored.slug, split=Split.PRIVATE, principal=scored.members["poor"])
    board = lb.leaderboard(db, slug=scored.slug, split=Split.PRIVATE, principal=scored.organizer)
    assert not board.revealed and all(r.gap for r in board.rows[1:])


def test_stored_counts_are_the_evaluators(db, scored) -> None:
    """What the database keeps per image is exactly the evaluator's per-image counts."""
    from geoarena.leaderboard.blobs import get_blob
    from geoarena.leaderboard.image_counts import ImageCounts
    from geoarena.leaderboard.schema import Submission, Team

    direct = _direct(Split.PUBLIC)
    with db.session() as s:
        rows = s.execute(
            select(Team.name, Score.image_ids_sha256, Score.image_counts)
            .join(Submission, Submission.id == Score.submission_id)
            .join(Team, Team.id == Submission.team_id)
            .where(Score.split == Split.PUBLIC)
        ).all()
        for team, ids_sha, counts in rows:
            stored = ImageCounts.decode(get_blob(s, ids_sha), counts)
            assert stored.image_scores(PRESETS["deepglobe"].city) == direct[team].images


#: a city whose every truth row is ``-1,POLYGON EMPTY``: under the TopCoder tester's
#: rules it is scored nowhere, yet counts at F1 0 in every submission's mean per-city F1
NOWHERE = b"".join(b"AOI_9_Nowhere_img%d,-1,POLYGON EMPTY,POLYGON EMPTY\n" % k for k in range(9))


def test_gaps_average_over_the_cities_the_board_does(db) -> None:
    """city_mean="seen": a gap is the difference of the two board values, the cities with
    nothing scorable included (each row's mean counts them at F1 0)."""
    truth = TRUTH + NOWHERE
    files = {"perfect": perfect(truth), "poor": FILES["poor"]}
    arena = make_arena(
        db, teams=tuple(files), truth=truth, rules="topcoder", ranking_metric=Metric.MEAN_CITY_F1
    )
    for team, data in files.items():
        lb.submit(db, principal=arena.members[team], slug=arena.slug, data=data)
    lb.Worker(db).run(exit_when_idle=True)
    seen = 0
    for split in Split:
        board = lb.leaderboard(db, slug=arena.slug, split=split, principal=arena.organizer)
        top, row = board.rows
        assert (top.team, row.team) == ("perfect", "poor") and row.gap is not None
        assert row.gap.delta == pytest.approx(row.value - top.value, abs=1e-12)
        with db.session() as s:
            unlisted = s.execute(
                select(Score.unlisted_cities).where(Score.split == split)
            ).scalars()
            seen += sum(u == "AOI_9_Nowhere" for u in unlisted)
    assert seen == 4  # both teams' scores on both splits (every city is in both)
