"""Ranking rules, as pure functions over scored entries.

Public board: each team's best public score. Private board (after reveal): the best
private score among the team's selected finals, or among its N best public submissions
when it selected none (Kaggle's rule). Ties go to the earlier submission. Baselines are
listed beside the board, unranked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from geoarena.leaderboard.schema import PRIVATE, PUBLIC
from geoarena.leaderboard.scoring import SplitScore

METRICS = {
    "f1": "overall F1 (TP/FP/FN summed over all images, SpaceNet)",
    "mean_city_f1": "mean of per-city F1 (SpaceNet round 2 / DeepGlobe prize rule)",
}

#: short column headers for the ranking metric.
METRIC_LABELS = {"f1": "Overall F1", "mean_city_f1": "Mean city F1"}

TIE_RULE = "Ties: the earlier submission ranks higher."


@dataclass(frozen=True)
class Entry:
    """One scored submission with its ranking-metric value on each split available.

    Ranking needs only these numbers; the full scores (counts, per-city) are loaded for
    the rows shown, which keeps a board of 10,000 submissions cheap.
    """

    submission_id: int
    uuid: str
    team: str | None
    created_at: datetime
    selected_final: bool
    baseline_label: str | None
    values: dict[str, float]


@dataclass(frozen=True)
class Row:
    rank: int | None
    team: str
    entry: Entry
    value: float
    submissions: int
    #: the full score on the board's split, attached after ranking.
    score: SplitScore | None = None


@dataclass
class Board:
    split: str
    metric: str
    rows: list[Row] = field(default_factory=list)
    baselines: list[Row] = field(default_factory=list)
    cities: list[str] = field(default_factory=list)

    @property
    def rule(self) -> str:
        text = f"Ranked by {METRICS[self.metric]} on the {self.split} split. {TIE_RULE}"
        if self.split == PRIVATE:
            text += (
                " Each team's private score is the best of its selected final submissions,"
                " or of its best public submissions when it selected none."
            )
        return text


def metric_value(score: SplitScore, metric: str) -> float:
    return score.f1 if metric == "f1" else score.mean_city_f1


def _key(entry: Entry, split: str) -> tuple[float, datetime, int]:
    return (-entry.values[split], entry.created_at, entry.submission_id)


def rank(entries: list[Entry], *, split: str, metric: str, final_selections: int) -> Board:
    """The board of ``split`` from every scored entry of a phase (no full scores yet)."""
    board = Board(split=split, metric=metric)
    by_team: dict[str, list[Entry]] = {}
    for entry in entries:
        if PUBLIC not in entry.values or split not in entry.values:
            continue
        if entry.team is None:
            label = entry.baseline_label or "baseline"
            board.baselines.append(Row(None, label, entry, entry.values[split], 1))
        else:
            by_team.setdefault(entry.team, []).append(entry)
    best: list[tuple[str, Entry, int]] = []
    for team, team_entries in by_team.items():
        if split == PUBLIC:
            pool = team_entries
        else:
            finals = [e for e in team_entries if e.selected_final]
            pool = finals or sorted(team_entries, key=lambda e: _key(e, PUBLIC))[:final_selections]
        chosen = min(pool, key=lambda e: _key(e, split))
        best.append((team, chosen, len(team_entries)))
    best.sort(key=lambda t: _key(t[1], split))
    for place, (team, entry, count) in enumerate(best, start=1):
        board.rows.append(Row(place, team, entry, entry.values[split], count))
    board.baselines.sort(key=lambda r: _key(r.entry, split))
    return board
