"""Ranked boards: one query of (submission, metric value) pairs, the pure ranking rules of
``ranking.py``, full per-city scores for the rows shown, and a cache that every request
validates against the phase's ``board_version`` (bumped in the same transaction as any
change), so a board is never served stale."""

from __future__ import annotations

import csv
import io
import threading
from dataclasses import replace
from typing import Any

from sqlalchemy import and_, select, update
from sqlalchemy.orm import Session, aliased

from geoarena.leaderboard.db import Database
from geoarena.leaderboard.errors import (
    Forbidden,
    LeaderboardError,
)
from geoarena.leaderboard.lookups import Principal, get_challenge, get_phase, private_visible
from geoarena.leaderboard.ranking import Board, Entry, Row, rank
from geoarena.leaderboard.schema import (
    PRIVATE,
    PUBLIC,
    SCORED,
    Challenge,
    Phase,
    Score,
    Submission,
    Team,
    utcnow,
)
from geoarena.leaderboard.scoring import SplitScore


def bump_board(session: Session, *, phase_id: int | None = None, challenge_id: int | None = None):
    """Mark the boards of a phase (or of every phase of a challenge) as changed."""
    where = Phase.id == phase_id if phase_id is not None else Phase.challenge_id == challenge_id
    session.execute(update(Phase).where(where).values(board_version=Phase.board_version + 1))


class _BoardCache:
    """Ranked boards keyed by (database, phase, split), valid while the phase's
    ``board_version`` (bumped in the same transaction as any change) is unchanged; every
    request still reads the version, so a board is never served stale."""

    def __init__(self, size: int = 256) -> None:
        self._boards: dict[tuple[Any, ...], tuple[tuple[Any, ...], Board]] = {}
        self._lock = threading.Lock()
        self.size = size

    def get(self, key: tuple[Any, ...], version: tuple[Any, ...]) -> Board | None:
        with self._lock:
            hit = self._boards.get(key)
        return hit[1] if hit is not None and hit[0] == version else None

    def put(self, key: tuple[Any, ...], version: tuple[Any, ...], board: Board) -> None:
        with self._lock:
            self._boards.pop(key, None)
            self._boards[key] = (version, board)
            while len(self._boards) > self.size:
                self._boards.pop(next(iter(self._boards)))


_board_cache = _BoardCache()


def clear_board_cache() -> None:
    """Forget every cached board (benchmarks measure the uncached path with it)."""
    global _board_cache
    _board_cache = _BoardCache()


_SCORE_COLUMNS = (
    Score.submission_id,
    Score.split,
    Score.f1,
    Score.precision,
    Score.recall,
    Score.tp,
    Score.fp,
    Score.fn,
    Score.mean_city_f1,
)


def load_scores(
    session: Session, where: list[Any], generation: int | None = None
) -> dict[int, dict[str, SplitScore]]:
    """{submission_id: {split: SplitScore}} of current scores (or of one generation)."""
    query = select(*_SCORE_COLUMNS, Score.cities).join(
        Submission, Submission.id == Score.submission_id
    )
    query = query.where(*where).where(
        Score.current if generation is None else Score.generation == generation
    )
    out: dict[int, dict[str, SplitScore]] = {}
    for row in session.execute(query):
        out.setdefault(row.submission_id, {})[row.split] = SplitScore.from_row(row)
    return out


def scored_entries(
    session: Session, phase: Phase, metric: str, generation: int | None = None
) -> list[Entry]:
    """Every scored submission of ``phase`` with its metric value on each split: one query,
    no per-city data (see :func:`_attach_scores`)."""
    column = "f1" if metric == "f1" else "mean_city_f1"
    splits = {split: aliased(Score) for split in (PUBLIC, PRIVATE)}
    query = (
        select(
            Submission.id,
            Submission.uuid,
            Submission.is_baseline,
            Submission.baseline_label,
            Submission.created_at,
            Submission.selected_final,
            Team.name,
            *(getattr(alias, column) for alias in splits.values()),
        )
        .outerjoin(Team, Team.id == Submission.team_id)
        .where(Submission.phase_id == phase.id, Submission.status == SCORED)
    )
    for split, alias in splits.items():
        which = alias.current if generation is None else alias.generation == generation
        query = query.outerjoin(
            alias, and_(alias.submission_id == Submission.id, alias.split == split, which)
        )
    return [
        Entry(
            submission_id=r[0],
            uuid=r[1],
            team=None if r[2] else r[6],
            created_at=r[4],
            selected_final=r[5],
            baseline_label=r[3],
            values={
                split: value
                for split, value in zip(splits, r[7:], strict=True)
                if value is not None
            },
        )
        for r in session.execute(query)
    ]


def _attach_scores(session: Session, board: Board) -> Board:
    """Load the full scores (counts, per-city) of the rows shown, in one query."""
    shown = [r.entry.submission_id for r in board.rows + board.baselines]
    full = load_scores(session, [Score.submission_id.in_(shown)]) if shown else {}

    def filled(row: Row) -> Row:
        return replace(row, score=full[row.entry.submission_id][board.split])

    board.rows = [filled(r) for r in board.rows]
    board.baselines = [filled(r) for r in board.baselines]
    board.cities = sorted({c for r in board.rows + board.baselines for c in r.score.cities})
    return board


def leaderboard(
    db: Database,
    *,
    slug: str,
    split: str = PUBLIC,
    phase: str | None = None,
    principal: Principal | None = None,
) -> tuple[Challenge, Phase, Board]:
    """The ranked board of ``split``; the private one only after reveal (or to organizers)."""
    if split not in (PUBLIC, PRIVATE):
        raise LeaderboardError("split must be public or private")
    with db.session() as session:
        challenge = get_challenge(session, slug)
        if split == PRIVATE and not private_visible(principal, challenge):
            raise Forbidden("the private leaderboard is not revealed yet")
        phase_row = get_phase(session, challenge, phase, utcnow())
        key = (db.url, phase_row.id, split)
        version = (phase_row.board_version, challenge.ranking_metric, phase_row.final_selections)
        board = _board_cache.get(key, version)
        if board is None:
            board = rank(
                scored_entries(session, phase_row, challenge.ranking_metric),
                split=split,
                metric=challenge.ranking_metric,
                final_selections=phase_row.final_selections,
            )
            board = _attach_scores(session, board)
            _board_cache.put(key, version, board)
        return challenge, phase_row, board


def board_to_dict(challenge: Challenge, phase: Phase, board: Board) -> dict[str, Any]:
    def row(r):
        return {
            "rank": r.rank,
            "team": r.team,
            "submission": r.entry.uuid,
            "submitted_at": r.entry.created_at.isoformat(),
            "score": r.value,
            "f1": r.score.f1,
            "precision": r.score.precision,
            "recall": r.score.recall,
            "tp": r.score.tp,
            "fp": r.score.fp,
            "fn": r.score.fn,
            "mean_city_f1": r.score.mean_city_f1,
            "cities": {c: v["f1"] for c, v in r.score.cities.items()},
            "entries": r.submissions,
        }

    return {
        "challenge": challenge.slug,
        "title": challenge.title,
        "phase": phase.name,
        "split": board.split,
        "metric": board.metric,
        "rule": board.rule,
        "revealed": challenge.revealed_at is not None,
        "cities": board.cities,
        "rows": [row(r) for r in board.rows],
        "baselines": [row(r) for r in board.baselines],
    }


def export_csv(
    db: Database,
    *,
    slug: str,
    split: str = PUBLIC,
    phase: str | None = None,
    principal: Principal | None = None,
) -> str:
    """The board as CSV, one column per city F1."""
    _, _, board = leaderboard(db, slug=slug, split=split, phase=phase, principal=principal)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    head = [
        "rank",
        "team",
        "submission",
        "submitted_at",
        board.metric,
        "f1",
        "precision",
        "recall",
        "tp",
        "fp",
        "fn",
    ]
    writer.writerow(head + [f"f1_{c}" for c in board.cities])
    for r in board.rows + board.baselines:
        writer.writerow(
            [
                "" if r.rank is None else r.rank,
                r.team,
                r.entry.uuid,
                r.entry.created_at.isoformat(),
                f"{r.value:.6f}",
                f"{r.score.f1:.6f}",
                f"{r.score.precision:.6f}",
                f"{r.score.recall:.6f}",
                r.score.tp,
                r.score.fp,
                r.score.fn,
            ]
            + [
                f"{r.score.cities[c]['f1']:.6f}" if c in r.score.cities else ""
                for c in board.cities
            ]
        )
    return out.getvalue()
