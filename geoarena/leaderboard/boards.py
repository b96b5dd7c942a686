"""Ranked boards: the one ``Board`` type behind the API's JSON, the CSV export, the rich
table and the pages.

Building one takes one query of (submission, metric value) pairs, the pure rules of
``ranking.py``, and the full scores of the rows shown. Boards are cached per process and
validated on every request against the phase's ``board_version`` (bumped in the same
transaction as any change), so a board is never served stale.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict
from sqlalchemy import and_, select
from sqlalchemy.orm import Session, aliased

from geoarena.errors import Forbidden
from geoarena.evaluator import PRESETS, Metric
from geoarena.leaderboard.access import Principal, private_visible
from geoarena.leaderboard.challenges import active_rescore, get_challenge, get_phase
from geoarena.leaderboard.db import Database
from geoarena.leaderboard.honest_ranks import Gap, neighbour_gaps
from geoarena.leaderboard.ranking import Entry, Standing, rank, rule_text
from geoarena.leaderboard.schema import Challenge, Phase, Score, Submission, Team, utcnow
from geoarena.leaderboard.scores import SplitScore, load_scores
from geoarena.leaderboard.states import Split, SubmissionState


class BoardRow(BaseModel):
    """One line of a board: a ranked team, or an unranked baseline or late entry."""

    model_config = ConfigDict(frozen=True)

    rank: int | None
    #: the team's name, or the baseline's label
    team: str
    baseline: bool
    #: the team's best submission after the close (unranked)
    late: bool = False
    #: uuid of the submission that earns the place
    submission: str
    submitted_at: datetime
    #: the board's ranking metric on the board's split
    value: float
    #: the team's scored submissions in the phase
    entries: int
    score: SplitScore
    #: the difference to the row ranked above, with its 95% bootstrap interval (honest
    #: ranks); None for the first row, unranked rows, and scores without per-image counts
    gap: Gap | None = None


class Board(BaseModel):
    """A phase's ranked board of one split."""

    model_config = ConfigDict(frozen=True)

    challenge: str
    title: str
    phase: str
    split: Split
    metric: Metric
    rule: str
    revealed: bool
    cities: list[str]
    rows: list[BoardRow]
    baselines: list[BoardRow]
    late: list[BoardRow] = []
    #: why these numbers may still change (a rescore in progress), if they may
    notice: str | None = None
    #: rows whose interval is still being computed (a cold board: ask again shortly)
    gaps_pending: int = 0


def scored_entries(session: Session, phase: Phase, metric: Metric, generation: int) -> list[Entry]:
    """Every scored submission of ``phase`` on the board (not hidden, not disqualified,
    nor its team) with its metric value on each split of ``generation``: one query, no
    per-city data."""
    column = Metric(metric).value
    splits = {split: aliased(Score) for split in Split}
    query = (
        select(
            Submission.id,
            Submission.uuid,
            Submission.is_baseline,
            Submission.baseline_label,
            Submission.created_at,
            Submission.selected_final,
            Team.name,
            Submission.is_late,
            *(getattr(alias, column) for alias in splits.values()),
        )
        .outerjoin(Team, Team.id == Submission.team_id)
        .where(
            Submission.phase_id == phase.id,
            Submission.status == SubmissionState.SCORED,
            Submission.excluded.is_(None),
            Team.excluded.is_(None),
        )
    )
    for split, alias in splits.items():
        query = query.outerjoin(
            alias,
            and_(
                alias.submission_id == Submission.id,
                alias.split == split,
                alias.generation == generation,
            ),
        )
    return [
        Entry(
            submission_id=r[0],
            uuid=r[1],
            team=None if r[2] else r[6],
            created_at=r[4],
            selected_final=r[5],
            baseline_label=r[3],
            late=r[7],
            values={
                split: value
                for split, value in zip(splits, r[8:], strict=True)
                if value is not None
            },
        )
        for r in session.execute(query)
    ]


def _build(
    session: Session, challenge: Challenge, phase: Phase, split: Split, notice: str | None
) -> Board:
    metric, generation = challenge.ranking_metric, challenge.generation
    ranking = rank(
        scored_entries(session, phase, metric, generation),
        split=split,
        final_selections=phase.final_selections,
    )
    standings = ranking.ranked + ranking.baselines + ranking.late
    shown = [s.entry.submission_id for s in standings]
    full = load_scores(session, [Score.submission_id.in_(shown)], generation) if shown else {}

    def row(standing: Standing) -> BoardRow:
        entry = standing.entry
        return BoardRow(
            rank=standing.rank,
            team=standing.team,
            baseline=entry.team is None,
            late=entry.late,
            submission=entry.uuid,
            submitted_at=entry.created_at,
            value=standing.value(split),
            entries=standing.entries,
            score=full[entry.submission_id][split],
        )

    rows = [row(s) for s in ranking.ranked]
    baselines, late = [row(s) for s in ranking.baselines], [row(s) for s in ranking.late]
    return Board(
        challenge=challenge.slug,
        title=challenge.title,
        phase=phase.name,
        split=split,
        metric=metric,
        rule=rule_text(split, metric),
        revealed=phase.revealed_at is not None,
        cities=sorted({c for r in rows + baselines + late for c in r.score.cities}),
        rows=rows,
        baselines=baselines,
        late=late,
        notice=notice,
    )


def leaderboard(
    db: Database,
    *,
    slug: str,
    split: Split = Split.PUBLIC,
    phase: str | None = None,
    principal: Principal | None = None,
    interval_budget: float = 2.0,
) -> Board:
    """The ranked board of ``split``; the private one only after reveal (or to organizers).

    Each ranked row carries its gap to the row above (``honest_ranks``); pairs not yet
    computed are computed for up to ``interval_budget`` seconds, and ``gaps_pending``
    counts the rest."""
    split = Split(split)
    with db.session() as session:
        challenge = get_challenge(session, slug)
        phase_row = get_phase(session, challenge, phase, utcnow())
        if split is Split.PRIVATE and not private_visible(principal, phase_row):
            raise Forbidden("the private leaderboard is not revealed yet")
        rescore = active_rescore(session, challenge.id)
        notice = (
            f"rescore {rescore.id} is in progress ({rescore.reason or 'no reason given'}): "
            "these scores will change when the organizers publish it"
            if rescore is not None
            else None
        )
        key = ("board", phase_row.id, split)
        version = (
            phase_row.board_version,
            challenge.ranking_metric,
            challenge.generation,
            phase_row.final_selections,
            phase_row.revealed_at,
            notice,
        )
        board: Board | None = db.cache.get(key, version)
        if board is None:
            board = _build(session, challenge, phase_row, split, notice)
            db.cache.put(key, version, board)
        gaps, pending = neighbour_gaps(
            db,
            session,
            generation=challenge.generation,
            split=split,
            metric=challenge.ranking_metric,
            city_rule=PRESETS[challenge.rules].city,
            rows=[(r.submission, r.team) for r in board.rows],
            budget=interval_budget,
        )
        if not gaps and not pending:
            return board
        rows = [r.model_copy(update={"gap": gaps.get(r.submission)}) for r in board.rows]
        return board.model_copy(update={"rows": rows, "gaps_pending": pending})


class ShakeupRow(BaseModel):
    """A team's public and private place; ``change`` > 0 means it moved up."""

    model_config = ConfigDict(frozen=True)

    team: str
    public_rank: int | None
    private_rank: int | None
    public_value: float | None
    private_value: float | None

    @property
    def change(self) -> int | None:
        if self.public_rank is None or self.private_rank is None:
            return None
        return self.public_rank - self.private_rank


class Shakeup(BaseModel):
    """How the revealed private board reordered the public one (Kaggle's "shake-up")."""

    model_config = ConfigDict(frozen=True)

    challenge: str
    title: str
    phase: str
    metric: Metric
    revealed: bool
    rows: list[ShakeupRow]


def shakeup(
    db: Database, *, slug: str, phase: str | None = None, principal: Principal | None = None
) -> Shakeup:
    """Each ranked team's public and private rank, in private order (the private board's
    visibility rules apply: after reveal, or to organizers)."""
    private = leaderboard(db, slug=slug, split=Split.PRIVATE, phase=phase, principal=principal)
    public = leaderboard(
        db, slug=slug, split=Split.PUBLIC, phase=private.phase, principal=principal
    )
    before = {r.team: r for r in public.rows}
    rows = [
        ShakeupRow(
            team=r.team,
            public_rank=before[r.team].rank if r.team in before else None,
            private_rank=r.rank,
            public_value=before[r.team].value if r.team in before else None,
            private_value=r.value,
        )
        for r in private.rows
    ]
    return Shakeup(
        challenge=private.challenge,
        title=private.title,
        phase=private.phase,
        metric=private.metric,
        revealed=private.revealed,
        rows=rows,
    )
