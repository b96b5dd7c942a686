"""Roles, quotas, ranking rules, reveal, baselines and rescoring, on every engine."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from geoarena import leaderboard as lb
from geoarena.errors import Conflict, Forbidden, InvalidInput, NotFound
from geoarena.leaderboard import PhaseChange
from geoarena.leaderboard.errors import PhaseClosed, QuotaExceeded
from geoarena.leaderboard.report import board_csv
from geoarena.leaderboard.schema import Score, Submission, utcnow
from geoarena.leaderboard.splits import assign_splits, hashed_split
from geoarena.leaderboard.states import FailureKind, SubmissionState
from geoarena.leaderboard.worker import Worker

from .factories import degrade, make_arena, perfect, synthetic


def _submit(arena, team: str, data: bytes, **kwargs):
    return lb.submit(
        arena.db,
        principal=arena.members[team],
        slug=arena.slug,
        data=data,
        filename=f"{team}.csv",
        **kwargs,
    )


def _score_all(arena) -> None:
    Worker(arena.db).run(exit_when_idle=True)


def test_split_is_deterministic_salted_and_exact() -> None:
    ids = [f"AOI_2_Vegas_img{i}" for i in range(1000)]
    a = hashed_split(ids, "salt", 0.3)
    assert a == hashed_split(list(reversed(ids)), "salt", 0.3)
    assert sum(v == "public" for v in a.values()) == 300
    assert a != hashed_split(ids, "other-salt", 0.3)
    tiny = hashed_split(["a", "b"], "s", 0.01)
    assert sorted(tiny.values()) == ["private", "public"]


def test_split_column_of_the_truth_wins() -> None:
    truth = (
        b"ImageId,BuildingId,PolygonWKT_Pix,split\n"
        b"img_a,1,POLYGON EMPTY,public\nimg_b,1,POLYGON EMPTY,Private\n"
    )
    assigned = assign_splits(truth, "salt", 0.3, rules="deepglobe")
    assert assigned == ({"img_a": "public", "img_b": "private"}, "column")


def test_tokens_are_hashed_and_revocable(db) -> None:
    arena = make_arena(db)
    raw = arena.tokens["alpha"]
    from geoarena.leaderboard.schema import Token

    with db.session() as s:
        stored = s.execute(select(Token.secret_hash)).scalars().all()
    assert all(raw.split("_", 2)[2] not in h for h in stored)
    assert lb.authenticate(db, raw[:-1] + ("A" if raw[-1] != "A" else "B")) is None
    assert lb.authenticate(db, "garbage") is None
    lb.revoke_token(db, key=raw)
    assert lb.authenticate(db, raw) is None


def test_participants_cannot_do_organizer_things(db) -> None:
    arena = make_arena(db)
    alpha = arena.members["alpha"]
    _, props = synthetic()
    with pytest.raises(Forbidden):
        _submit(arena, "alpha", props, baseline_label="sneaky")
    with pytest.raises(Forbidden):
        lb.leaderboard(db, slug=arena.slug, split="private", principal=alpha)
    other = make_arena(db, slug="other", teams=("gamma",))
    with pytest.raises(Forbidden):
        lb.submit(db, principal=other.members["gamma"], slug=arena.slug, data=props)
    view = _submit(arena, "alpha", props)
    with pytest.raises(NotFound):  # another team's submission looks like no submission
        lb.get_submission(db, uuid=view.uuid, principal=arena.members["beta"])


def test_daily_total_and_concurrent_quotas(db) -> None:
    arena = make_arena(db, daily_limit=3, total_limit=None, concurrent_limit=2)
    _, props = synthetic()
    _submit(arena, "alpha", props)
    _submit(arena, "alpha", props)
    with pytest.raises(QuotaExceeded, match="still being scored") as info:
        _submit(arena, "alpha", props)
    assert info.value.quota.concurrent_used == 2
    _score_all(arena)
    _submit(arena, "alpha", props)
    with pytest.raises(QuotaExceeded, match="daily quota") as info:
        _submit(arena, "alpha", props)
    quota = lb.get_quota(db, principal=arena.members["alpha"], slug=arena.slug)
    assert quota.remaining == 0 and quota.daily_used == 3
    assert quota.resets_at.isoformat().endswith("T00:00:00+00:00")
    # Yesterday's submissions do not count today; the total limit still applies.
    with db.transaction() as s:
        s.execute(update(Submission).values(created_at=utcnow() - timedelta(days=1)))
    lb.set_phase(db, slug=arena.slug, name="main", change=PhaseChange(total_limit=4))
    _score_all(arena)
    _submit(arena, "alpha", props)
    with pytest.raises(QuotaExceeded, match="total quota"):
        _submit(arena, "alpha", props)
    # Another team is unaffected.
    assert _submit(arena, "beta", props).status == "queued"


def test_platform_failures_do_not_count(db) -> None:
    arena = make_arena(db, daily_limit=1)
    _, props = synthetic()
    view = _submit(arena, "alpha", props)
    with db.transaction() as s:
        s.execute(
            update(Submission).values(
                status=SubmissionState.FAILED, failure_kind=FailureKind.PLATFORM
            )
        )
    assert lb.get_quota(db, principal=arena.members["alpha"], slug=arena.slug).remaining == 1
    assert lb.get_submission(db, uuid=view.uuid, principal=arena.organizer).counts_to_quota is False
    _submit(arena, "alpha", props)


def test_closed_phase_refuses_participants(db) -> None:
    arena = make_arena(db)
    closed = PhaseChange(closes_at=utcnow() - timedelta(hours=1))
    lb.set_phase(db, slug=arena.slug, name="main", change=closed)
    with pytest.raises(PhaseClosed):
        _submit(arena, "alpha", synthetic()[1])


def test_ranking_best_public_ties_baselines_and_hidden_private(db) -> None:
    arena = make_arena(db, teams=("alpha", "beta", "gamma"))
    truth, props = synthetic()
    best = perfect(truth)
    _submit(arena, "alpha", degrade(props, 0.5, seed=1))
    _submit(arena, "beta", best)  # beta reaches F1 = 1 first ...
    _submit(arena, "alpha", best)  # ... alpha ties later: beta ranks higher
    _submit(arena, "gamma", degrade(props, 0.3, seed=2))
    lb.submit(
        db,
        principal=arena.organizer,
        slug=arena.slug,
        data=props,
        filename="base.csv",
        baseline_label="U-Net baseline",
    )
    _score_all(arena)
    board = lb.leaderboard(db, slug=arena.slug)
    assert [r.team for r in board.rows] == ["beta", "alpha", "gamma"]
    assert [r.rank for r in board.rows] == [1, 2, 3]
    assert board.rows[0].value == board.rows[1].value == 1.0
    assert board.rows[1].entries == 2
    assert [r.team for r in board.baselines] == ["U-Net baseline"]
    assert board.baselines[0].rank is None
    assert len(board.cities) >= 2 and "earlier submission ranks higher" in board.rule
    # Private scores: hidden from participants until reveal, then shown.
    view = lb.list_submissions(db, principal=arena.members["alpha"], slug=arena.slug)[0]
    assert set(view.scores) == {"public"}
    with pytest.raises(Forbidden):
        lb.leaderboard(db, slug=arena.slug, split="private", principal=arena.members["beta"])
    lb.close_phase(db, slug=arena.slug)
    lb.reveal(db, slug=arena.slug)
    private = lb.leaderboard(db, slug=arena.slug, split="private", principal=arena.members["beta"])
    assert [r.team for r in private.rows] == ["beta", "alpha", "gamma"]
    view = lb.list_submissions(db, principal=arena.members["alpha"], slug=arena.slug)[0]
    assert set(view.scores) == {"public", "private"}


def test_private_board_uses_selected_finals_else_best_public(db) -> None:
    arena = make_arena(db, teams=("alpha",), final_selections=1)
    truth, props = synthetic()
    weak = _submit(arena, "alpha", degrade(props, 0.4, seed=3))
    strong = _submit(arena, "alpha", perfect(truth))
    _score_all(arena)
    org = arena.organizer
    board = lb.leaderboard(db, slug=arena.slug, split="private", principal=org)
    assert board.rows[0].submission == strong.uuid  # no selection: best public
    lb.select_finals(db, principal=arena.members["alpha"], slug=arena.slug, uuids=[weak.uuid])
    board = lb.leaderboard(db, slug=arena.slug, split="private", principal=org)
    assert board.rows[0].submission == weak.uuid
    with pytest.raises(InvalidInput, match="at most 1"):
        lb.select_finals(
            db,
            principal=arena.members["alpha"],
            slug=arena.slug,
            uuids=[weak.uuid, strong.uuid],
        )


def test_ranking_metric_mean_city_vs_overall(db) -> None:
    arena = make_arena(db, ranking_metric="f1", rules="deepglobe")
    _, props = synthetic()
    _submit(arena, "alpha", props)
    _score_all(arena)
    board = lb.leaderboard(db, slug=arena.slug)
    assert board.metric == "f1" and board.rows[0].value == board.rows[0].score.f1


def test_truth_is_prepared_once_per_split(db) -> None:
    arena = make_arena(db)
    _, props = synthetic()
    for seed in range(3):
        _submit(arena, "alpha", degrade(props, 0.8, seed=seed))
    worker = Worker(db)
    assert worker.run(exit_when_idle=True) == 3
    assert worker.truths.builds == 1


def test_rescore_shows_changes_then_publishes_and_keeps_history(db) -> None:
    arena = make_arena(db)
    truth, props = synthetic()
    a = _submit(arena, "alpha", perfect(truth))
    _submit(arena, "beta", degrade(props, 0.6))
    _score_all(arena)
    # New truth: beta's proposals become the truth, so beta is now perfect.
    new_truth = (
        truth.decode().splitlines()[0]
        + "\n"
        + "\n".join(
            line.rsplit(",", 1)[0] + ',"x"'
            for line in degrade(props, 0.6).decode().splitlines()[1:]
        )
    )
    with db.transaction() as s:  # as if scored by an older evaluator
        s.execute(update(Score).values(evaluator_version="0.9"))
    assert lb.outdated_scores(db, slug=arena.slug) == 4
    run = lb.start_rescore(db, slug=arena.slug, truth=new_truth.encode(), reason="fix")
    assert lb.rescore_status(db, rescore_id=run).status == "running"
    before = lb.leaderboard(db, slug=arena.slug)
    _score_all(arena)
    state = lb.rescore_status(db, rescore_id=run)
    assert state.status == "ready"
    public = {c.team: c for c in state.changes if c.split == "public"}
    assert public["alpha"].old_rank == 1 and public["alpha"].new_rank == 2
    assert public["beta"].new_score == 1.0
    unchanged = lb.leaderboard(db, slug=arena.slug)
    assert [r.team for r in unchanged.rows] == [r.team for r in before.rows]  # not published
    assert lb.outdated_scores(db, slug=arena.slug) == 4  # not published yet
    lb.publish_rescore(db, rescore_id=run)
    assert lb.outdated_scores(db, slug=arena.slug) == 0
    after = lb.leaderboard(db, slug=arena.slug)
    assert [r.team for r in after.rows] == ["beta", "alpha"]
    with db.session() as s:
        history = s.execute(
            select(Score.generation)
            .join(Submission)
            .where(Submission.uuid == a.uuid, Score.split == "public")
            .order_by(Score.generation)
        ).scalars()
        assert list(history) == [0, run]  # the old generation stays as history
    assert lb.list_challenges(db)[0].generation == run  # the new one is shown


def test_export_csv_has_city_columns(db) -> None:
    arena = make_arena(db)
    _submit(arena, "alpha", synthetic()[1])
    _score_all(arena)
    text = board_csv(lb.leaderboard(db, slug=arena.slug, split="public"))
    header = text.splitlines()[0].split(",")
    assert header[:2] == ["rank", "team"]
    assert any(h.startswith("f1_AOI_") for h in header)
    assert text.splitlines()[1].startswith("1,alpha,")


def test_audit_log_records_organizer_actions(db) -> None:
    from geoarena.leaderboard.schema import AuditEntry

    arena = make_arena(db)
    lb.close_phase(db, slug=arena.slug, actor="organizer:boss")
    lb.reveal(db, slug=arena.slug, actor="organizer:boss")
    with db.session() as s:
        actions = [a for (a,) in s.execute(select(AuditEntry.action).order_by(AuditEntry.id))]
    assert actions[0] == "challenge.create"
    assert "team.add" in actions and "token.issue" in actions
    assert actions[-2:] == ["phase.close", "phase.reveal"]


def test_board_cache_follows_changes_made_by_other_processes(db, db_url) -> None:
    """A board is reused while nothing changes and recomputed as soon as a score written
    through another connection (another server or worker) bumps the phase's version."""
    from geoarena.leaderboard.db import Database

    arena = make_arena(db)
    _, props = synthetic()
    _submit(arena, "alpha", degrade(props, 0.5, seed=1))
    _score_all(arena)
    first = lb.leaderboard(db, slug=arena.slug)
    again = lb.leaderboard(db, slug=arena.slug)
    assert again is first
    other = Database(db_url)  # as if another process
    try:
        _submit(arena, "beta", props)
        Worker(other).run(exit_when_idle=True)
    finally:
        other.dispose()
    fresh = lb.leaderboard(db, slug=arena.slug)
    assert fresh is not first
    assert [r.team for r in fresh.rows] == ["beta", "alpha"]


def test_a_rescore_with_failed_jobs_cannot_be_published(db) -> None:
    from geoarena.leaderboard.scoring import TruthCache
    from geoarena.leaderboard.settings import Settings

    class BrokenCache(TruthCache):
        def get(self, *args, **kwargs):
            raise RuntimeError("truth store unreachable")

    arena = make_arena(db)
    _submit(arena, "alpha", synthetic()[1])
    _score_all(arena)
    run = lb.start_rescore(db, slug=arena.slug)
    Worker(db, Settings(max_attempts=1), truths=BrokenCache()).run(exit_when_idle=True)
    state = lb.rescore_status(db, rescore_id=run)
    assert state.status == "ready" and state.jobs == {"failed": 1}
    with pytest.raises(Conflict, match="could not be re-scored"):
        lb.publish_rescore(db, rescore_id=run)
    # The submission itself is untouched: still scored, old scores still shown.
    view = lb.list_submissions(db, principal=arena.members["alpha"], slug=arena.slug)[0]
    assert view.status == "scored" and "public" in view.scores
