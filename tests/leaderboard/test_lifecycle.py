"""The challenge life cycle on every engine: every state x action of the state machine,
and the regression tests of the integrity defects (finals after reveal, mixed boards after
a rescore, silent re-splits, late uploads)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from geoarena import leaderboard as lb
from geoarena.errors import Conflict, InvalidInput
from geoarena.leaderboard import lifecycle
from geoarena.leaderboard.errors import PhaseClosed
from geoarena.leaderboard.lifecycle import ALLOWED, Action
from geoarena.leaderboard.schema import AuditEntry, Challenge, Phase, Score, Submission, utcnow
from geoarena.leaderboard.states import LatePolicy, PhaseState
from geoarena.leaderboard.validators import InlineValidator

from .factories import degrade, make_arena, perfect, synthetic


def _submit(arena, team: str, data: bytes):
    return lb.submit(arena.db, principal=arena.members[team], slug=arena.slug, data=data)


def _score(arena) -> None:
    lb.Worker(arena.db).run(exit_when_idle=True)


def _put_in_state(arena, state: PhaseState) -> None:
    """Drive the arena's phase into ``state`` the way an organizer would."""
    db, slug = arena.db, arena.slug
    if state is PhaseState.SCHEDULED:
        later = lb.PhaseChange(opens_at=utcnow() + timedelta(days=1))
        lb.set_phase(db, slug=slug, name="main", change=later)
    elif state in (PhaseState.CLOSED, PhaseState.REVEALED):
        lb.close_phase(db, slug=slug)
        if state is PhaseState.REVEALED:
            lb.reveal(db, slug=slug)


def _attempt(arena, action: Action, uuid: str) -> None:
    db, slug, alpha = arena.db, arena.slug, arena.members["alpha"]
    if action is Action.SUBMIT:
        _submit(arena, "alpha", synthetic()[1])
    elif action is Action.SELECT_FINALS:
        lb.select_finals(db, principal=alpha, slug=slug, uuids=[uuid])
    elif action is Action.EDIT:
        lb.set_phase(db, slug=slug, name="main", change=lb.PhaseChange(daily_limit=9))
    elif action is Action.CLOSE:
        lb.close_phase(db, slug=slug)
    elif action is Action.REOPEN:
        lb.reopen_phase(db, slug=slug)
    else:
        lb.reveal(db, slug=slug)


@pytest.mark.parametrize("state", list(PhaseState))
@pytest.mark.parametrize("action", list(Action))
def test_every_action_in_every_state(db, state: PhaseState, action: Action) -> None:
    """Legal transitions succeed; every illegal one is refused and changes nothing."""
    arena = make_arena(db, teams=("alpha",))
    uuid = ""
    if state is not PhaseState.SCHEDULED:  # a scored submission, for finals
        uuid = _submit(arena, "alpha", synthetic()[1]).uuid
        _score(arena)
    _put_in_state(arena, state)
    with db.session() as s:
        before = s.execute(select(Phase)).scalar_one()
        assert lifecycle.state_of(before, utcnow()) is state
        audited = len(s.execute(select(AuditEntry)).all())
    allowed = state in ALLOWED[action]
    if action is Action.SELECT_FINALS and state is PhaseState.CLOSED:
        allowed = False  # no finals window was opened
    if allowed:
        _attempt(arena, action, uuid)
    else:
        with pytest.raises((Conflict, PhaseClosed)):
            _attempt(arena, action, uuid)
        with db.session() as s:
            after = s.execute(select(Phase)).scalar_one()
            assert (after.closed_at, after.revealed_at, after.daily_limit) == (
                before.closed_at,
                before.revealed_at,
                before.daily_limit,
            )
            assert len(s.execute(select(AuditEntry)).all()) == audited


def test_finals_are_frozen_at_reveal_and_the_winner_cannot_change(db) -> None:
    """D1: after reveal a team re-selected a better private submission and jumped to 1."""
    arena = make_arena(db, teams=("alpha", "beta"), final_selections=1)
    truth, props = synthetic()
    weak = _submit(arena, "alpha", degrade(props, 0.3, seed=1))
    strong = _submit(arena, "alpha", perfect(truth))
    _submit(arena, "beta", degrade(props, 0.7, seed=2))
    _score(arena)
    alpha = arena.members["alpha"]
    lb.select_finals(db, principal=alpha, slug=arena.slug, uuids=[weak.uuid])
    with pytest.raises(Conflict, match="open"):  # reveal needs a closed phase
        lb.reveal(db, slug=arena.slug)
    lb.close_phase(db, slug=arena.slug)
    lb.reveal(db, slug=arena.slug)
    board = lb.leaderboard(db, slug=arena.slug, split="private", principal=alpha)
    assert [r.team for r in board.rows] == ["beta", "alpha"]
    with pytest.raises(Conflict, match="revealed"):
        lb.select_finals(db, principal=alpha, slug=arena.slug, uuids=[strong.uuid])
    again = lb.leaderboard(db, slug=arena.slug, split="private", principal=alpha)
    assert [r.team for r in again.rows] == ["beta", "alpha"]
    with pytest.raises(PhaseClosed):  # no upload gets a private score after reveal
        _submit(arena, "alpha", perfect(truth))


def test_a_finals_window_after_the_close(db) -> None:
    arena = make_arena(db, teams=("alpha",))
    view = _submit(arena, "alpha", synthetic()[1])
    _score(arena)
    window = lb.PhaseChange(finals_until=utcnow() + timedelta(hours=1))
    lb.set_phase(db, slug=arena.slug, name="main", change=window)
    lb.close_phase(db, slug=arena.slug)
    alpha = arena.members["alpha"]
    assert lb.select_finals(db, principal=alpha, slug=arena.slug, uuids=[view.uuid])
    ended = lb.PhaseChange(finals_until=utcnow() - timedelta(seconds=1))
    lb.set_phase(db, slug=arena.slug, name="main", change=ended)
    with pytest.raises(Conflict, match="finals window ended"):
        lb.select_finals(db, principal=alpha, slug=arena.slug, uuids=[view.uuid])


def test_reveal_waits_for_every_score(db) -> None:
    arena = make_arena(db, teams=("alpha",))
    _submit(arena, "alpha", synthetic()[1])
    lb.close_phase(db, slug=arena.slug)
    with pytest.raises(Conflict, match="still being scored"):
        lb.reveal(db, slug=arena.slug)
    _score(arena)
    lb.reveal(db, slug=arena.slug)


def test_late_submissions_are_refused_or_scored_unranked(db) -> None:
    arena = make_arena(db, teams=("alpha", "beta"))
    truth, props = synthetic()
    _submit(arena, "alpha", degrade(props, 0.5))
    _submit(arena, "beta", degrade(props, 0.6, seed=3))
    _score(arena)
    lb.close_phase(db, slug=arena.slug)
    with pytest.raises(PhaseClosed, match="late"):
        _submit(arena, "alpha", perfect(truth))
    late = lb.PhaseChange(
        late_policy=LatePolicy.UNRANKED, finals_until=utcnow() + timedelta(hours=1)
    )
    lb.set_phase(db, slug=arena.slug, name="main", change=late)
    view = _submit(arena, "alpha", perfect(truth))
    assert view.late
    _score(arena)
    board = lb.leaderboard(db, slug=arena.slug)
    assert [r.team for r in board.late] == ["alpha"] and board.late[0].value == 1.0
    assert all(r.value < 1.0 for r in board.rows)  # the late perfect score is not ranked
    with pytest.raises(InvalidInput, match="on-time"):
        lb.select_finals(db, principal=arena.members["alpha"], slug=arena.slug, uuids=[view.uuid])


def test_an_upload_during_a_rescore_is_rescored_before_it_can_be_published(db) -> None:
    """D2: submissions accepted during a rescore stayed on the old truth after publish."""
    arena = make_arena(db, teams=("alpha", "beta"))
    truth, props = synthetic()
    _submit(arena, "alpha", degrade(props, 0.8))
    _score(arena)
    new_truth = perfect(truth).replace(b"Confidence", b"Spare")  # same buildings, new bytes
    run = lb.start_rescore(db, slug=arena.slug, truth=new_truth, reason="fix")
    assert lb.leaderboard(db, slug=arena.slug).notice  # the boards say scores may change
    during = _submit(arena, "beta", perfect(truth))
    lb.Worker(db).run_once()  # alpha's rescore job only
    with pytest.raises(Conflict):
        lb.publish_rescore(db, rescore_id=run)
    _score(arena)
    assert lb.rescore_status(db, rescore_id=run).status == "ready"
    lb.publish_rescore(db, rescore_id=run)
    board = lb.leaderboard(db, slug=arena.slug)
    assert board.notice is None and [r.team for r in board.rows] == ["beta", "alpha"]
    with db.session() as s:
        challenge = s.execute(select(Challenge)).scalar_one()
        shown = s.execute(
            select(Score.truth_sha256).where(Score.generation == challenge.generation)
        ).scalars()
        assert set(shown) == {challenge.truth_sha256}  # every shown score: the new truth
        ids = {s.execute(select(Submission.id).where(Submission.uuid == during.uuid)).scalar()}
        rows = s.execute(select(Score).where(Score.submission_id.in_(ids))).scalars().all()
    assert {r.generation for r in rows} == {0, run}


def test_one_rescore_at_a_time_and_a_discard(db) -> None:
    arena = make_arena(db, teams=("alpha",))
    _submit(arena, "alpha", synthetic()[1])
    _score(arena)
    run = lb.start_rescore(db, slug=arena.slug)
    with pytest.raises(Conflict, match="publish or discard"):
        lb.start_rescore(db, slug=arena.slug)
    with pytest.raises(Conflict, match="a rescore is in progress"):
        lb.close_phase(db, slug=arena.slug)
        lb.reveal(db, slug=arena.slug)
    lb.discard_rescore(db, rescore_id=run)
    assert lb.leaderboard(db, slug=arena.slug).notice is None
    lb.reveal(db, slug=arena.slug)


def test_the_split_is_frozen_and_a_resplit_is_an_audited_rescore(db) -> None:
    """D10: changing the public fraction mid-challenge silently re-split the images."""
    arena = make_arena(db, teams=("alpha",))
    _, props = synthetic()
    view = _submit(arena, "alpha", degrade(props, 0.7, seed=4))
    _score(arena)
    first = lb.get_submission(db, uuid=view.uuid, principal=arena.organizer).scores
    with pytest.raises(ValueError, match="public_fraction"):  # not a phase field any more
        lb.PhaseChange.model_validate({"public_fraction": 0.7})
    run = lb.start_rescore(db, slug=arena.slug, public_fraction=0.7, reason="bigger public")
    _score(arena)
    unchanged = lb.get_submission(db, uuid=view.uuid, principal=arena.organizer).scores
    assert unchanged == first  # nothing shown changes before publication
    lb.publish_rescore(db, rescore_id=run)
    after = lb.get_submission(db, uuid=view.uuid, principal=arena.organizer).scores
    assert after["public"].tp + after["public"].fn > first["public"].tp + first["public"].fn
    with db.session() as s:
        starts = s.execute(
            select(AuditEntry.details).where(AuditEntry.action == "rescore.start")
        ).scalars()
        assert [d["resplit"] for d in starts] == [True]
        assert s.execute(select(Challenge.public_fraction)).scalar_one() == 0.7


def test_closing_during_validation_refuses_at_commit(db) -> None:
    """The phase (and the quota day) are those of the commit, not of the validation's
    start: an upload still being validated when the phase closes is refused."""
    arena = make_arena(db, teams=("alpha",))

    class ClosingValidator(InlineValidator):
        def validate(self, check):
            result = super().validate(check)
            lb.close_phase(db, slug=arena.slug)  # the deadline passes meanwhile
            return result

    with pytest.raises(PhaseClosed):
        lb.submit(
            db,
            principal=arena.members["alpha"],
            slug=arena.slug,
            data=synthetic()[1],
            validator=ClosingValidator(),
        )
    with db.session() as s:
        assert s.execute(select(Submission)).first() is None


def test_reopen_needs_a_future_close_time(db) -> None:
    arena = make_arena(db, teams=("alpha",))
    past = lb.PhaseChange(closes_at=utcnow() - timedelta(minutes=1))
    lb.set_phase(db, slug=arena.slug, name="main", change=past)
    with pytest.raises(Conflict, match="later close time"):
        lb.reopen_phase(db, slug=arena.slug)
    future = lb.PhaseChange(closes_at=utcnow() + timedelta(hours=1))
    lb.set_phase(db, slug=arena.slug, name="main", change=future)  # extending reopens
    with db.session() as s:
        assert lifecycle.state_of(s.execute(select(Phase)).scalar_one(), utcnow()) == "open"
    with db.transaction() as s:
        s.execute(update(Phase).values(closed_at=utcnow()))
    lb.reopen_phase(db, slug=arena.slug)
