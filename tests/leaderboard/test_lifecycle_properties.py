"""Random sequences of organizer and participant actions against the life cycle, on every
engine (hypothesis' stateful testing), checking after every step:

* after reveal, the private board changes only through an audited organizer action
  (publishing a rescore, excluding or reinstating a team);
* every ranked score is of the challenge's current generation and truth;
* every team's quota counts exactly its submissions that count.
"""

from __future__ import annotations

import contextlib
import uuid as uuidlib

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import select

from geoarena import leaderboard as lb
from geoarena.errors import GeoarenaError
from geoarena.leaderboard.schema import Challenge, Score, Submission
from geoarena.leaderboard.states import Exclusion, FailureKind, LatePolicy, SubmissionState

from .factories import degrade, make_arena, perfect, synthetic

TEAMS = ("alpha", "beta")


def _board_key(board: lb.Board) -> list[tuple[object, ...]]:
    return [(r.rank, r.team, r.submission, round(r.value, 12)) for r in board.rows]


def machine_for(db: lb.Database) -> type[RuleBasedStateMachine]:
    class Challenge_(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.arena = make_arena(
                db, slug=f"p{uuidlib.uuid4().hex[:10]}", teams=TEAMS, daily_limit=4
            )
            self.truth, self.props = synthetic()
            self.snapshot: list[tuple[object, ...]] | None = None  # private board at reveal

        # --- helpers ----------------------------------------------------------------------
        @property
        def slug(self) -> str:
            return self.arena.slug

        def _private(self) -> list[tuple[object, ...]]:
            org = self.arena.organizer
            return _board_key(lb.leaderboard(db, slug=self.slug, split="private", principal=org))

        def _revealed(self) -> bool:
            return any(p.revealed_at for p in self._challenge().phases)

        def _challenge(self) -> lb.ChallengeView:
            return next(c for c in lb.list_challenges(db) if c.slug == self.slug)

        def _audited_change(self) -> None:
            """An organizer action that may change a revealed board: take a new snapshot."""
            if self.snapshot is not None:
                self.snapshot = self._private()

        @staticmethod
        def _attempt(action: object, *args: object, **kwargs: object) -> None:
            with contextlib.suppress(GeoarenaError):  # refused: the invariants check
                action(*args, **kwargs)  # type: ignore[operator]

        @initialize(keeps=st.lists(st.sampled_from([0.3, 0.6, 1.0]), min_size=2, max_size=2))
        def opening_round(self, keeps: list[float]) -> None:
            """Both teams on the board before the random part starts."""
            for team, keep in zip(TEAMS, keeps, strict=True):
                self.submit(team, keep)
            self.score()

        # --- participant actions ------------------------------------------------------
        @rule(team=st.sampled_from(TEAMS), keep=st.sampled_from([0.3, 0.6, 1.0]))
        def submit(self, team: str, keep: float) -> None:
            data = perfect(self.truth) if keep == 1.0 else degrade(self.props, keep, seed=7)
            member = self.arena.members[team]
            self._attempt(lb.submit, db, principal=member, slug=self.slug, data=data)

        @rule()
        def score(self) -> None:
            lb.Worker(db).run(exit_when_idle=True)

        @rule(team=st.sampled_from(TEAMS), pick=st.integers(0, 5))
        def select_finals(self, team: str, pick: int) -> None:
            member = self.arena.members[team]
            mine = lb.list_submissions(db, principal=member, slug=self.slug)
            if mine:
                chosen = [mine[pick % len(mine)].uuid]
                self._attempt(lb.select_finals, db, principal=member, slug=self.slug, uuids=chosen)

        # --- organizer actions ---------------------------------------------------------
        @rule()
        def close(self) -> None:
            self._attempt(lb.close_phase, db, slug=self.slug)

        @rule()
        def reopen(self) -> None:
            self._attempt(lb.reopen_phase, db, slug=self.slug)

        @rule()
        def reveal(self) -> None:
            try:
                lb.reveal(db, slug=self.slug)
            except GeoarenaError:
                return
            self.snapshot = self._private()

        @rule()
        def end_of_challenge(self) -> None:
            """The usual ending in one step (so that random runs reach it): every score
            in, the phase closed, the private board revealed."""
            lb.Worker(db).run(exit_when_idle=True)
            self._attempt(lb.close_phase, db, slug=self.slug)
            self.reveal()

        @rule(policy=st.sampled_from(list(LatePolicy)))
        def late_policy(self, policy: LatePolicy) -> None:
            change = lb.PhaseChange(late_policy=policy)
            self._attempt(lb.set_phase, db, slug=self.slug, name="main", change=change)

        @rule(kind=st.sampled_from(["same", "truth", "resplit"]))
        def start_rescore(self, kind: str) -> None:
            options: dict[str, object] = {}
            if kind == "truth":
                options["truth"] = perfect(self.truth)
            elif kind == "resplit":
                options["public_fraction"] = 0.5
            self._attempt(lb.start_rescore, db, slug=self.slug, **options)

        @rule()
        def publish_rescore(self) -> None:
            running = [r for r in self._rescores() if r.status in ("running", "ready")]
            if running:
                try:
                    lb.publish_rescore(db, rescore_id=running[0].id)
                except GeoarenaError:
                    return
                self._audited_change()

        @rule()
        def discard_rescore(self) -> None:
            running = [r for r in self._rescores() if r.status in ("running", "ready")]
            if running:
                self._attempt(lb.discard_rescore, db, rescore_id=running[0].id)

        @rule(team=st.sampled_from(TEAMS), exclude=st.booleans())
        def moderate(self, team: str, exclude: bool) -> None:
            try:
                if exclude:
                    kind = Exclusion.DISQUALIFIED
                    lb.exclude_team(db, slug=self.slug, team=team, kind=kind, reason="test")
                else:
                    lb.reinstate_team(db, slug=self.slug, team=team)
            except GeoarenaError:
                return
            self._audited_change()

        def _rescores(self) -> list[lb.RescoreView]:
            from geoarena.leaderboard.schema import Rescore

            with db.session() as s:
                challenge_id = s.execute(
                    select(Challenge.id).where(Challenge.slug == self.slug)
                ).scalar_one()
                ids = s.execute(
                    select(Rescore.id).where(Rescore.challenge_id == challenge_id)
                ).scalars()
                return [lb.rescore_status(db, rescore_id=i) for i in ids]

        # --- invariants ----------------------------------------------------------------
        @invariant()
        def revealed_board_changes_only_by_audited_actions(self) -> None:
            if self.snapshot is not None:
                assert self._private() == self.snapshot

        @invariant()
        def every_ranked_score_is_on_the_current_truth(self) -> None:
            board = lb.leaderboard(
                db, slug=self.slug, split="private", principal=self.arena.organizer
            )
            with db.session() as s:
                challenge = s.execute(select(Challenge).where(Challenge.slug == self.slug))
                current = challenge.scalar_one()
                for row in board.rows:
                    truths = s.execute(
                        select(Score.truth_sha256)
                        .join(Submission)
                        .where(
                            Submission.uuid == row.submission,
                            Score.generation == current.generation,
                        )
                    ).scalars()
                    assert set(truths) == {current.truth_sha256}

        @invariant()
        def quota_counts_the_submissions_that_count(self) -> None:
            for team in TEAMS:
                member = self.arena.members[team]
                mine = lb.list_submissions(db, principal=member, slug=self.slug)
                counted = [
                    s
                    for s in mine
                    if not (
                        s.status is SubmissionState.FAILED
                        and s.failure_kind is FailureKind.PLATFORM
                    )
                ]
                quota = lb.get_quota(db, principal=member, slug=self.slug)
                assert quota.total_used == len(counted)

    return Challenge_


@pytest.mark.slow
def test_random_life_cycles_keep_the_board_honest(db) -> None:
    run_state_machine_as_test(
        machine_for(db),
        settings=settings(
            max_examples=20,
            stateful_step_count=20,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        ),
    )
