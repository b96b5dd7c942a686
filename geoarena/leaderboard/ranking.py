"""Ranking rules, as pure functions over scored entries.

Public board: each team's best public score. Private board (after reveal): the best
private score among the team's selected finals, or among its N best public submissions
when it selected none (Kaggle's rule). Ties go to the earlier submission. Baselines are
listed beside the board, unranked.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from geoarena.evaluator import Metric
from geoarena.leaderboard.states import Split

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
    #: arrived after the close: shown, never ranked
    late: bool
    values: dict[Split, float]


@dataclass(frozen=True)
class Standing:
    """A team's (or baseline's) place on a board and the entry that earns it."""

    rank: int | None
    team: str
    entry: Entry
    #: the team's scored submissions in the phase
    entries: int

    def value(self, split: Split) -> float:
        return self.entry.values[split]


def rule_text(split: Split, metric: Metric) -> str:
    """The ranking rule of a board, in words."""
    text = f"Ranked by {metric.description} on the {split} split. {TIE_RULE}"
    if split is Split.PRIVATE:
        text += (
            " Each team's private score is the best of its selected final submissions,"
            " or of its best public submissions when it selected none."
        )
    return text


def _key(entry: Entry, split: Split) -> tuple[float, datetime, int]:
    return (-entry.values[split], entry.created_at, entry.submission_id)


@dataclass(frozen=True)
class Ranking:
    """A board's standings before full scores are attached."""

    ranked: list[Standing]
    baselines: list[Standing]
    #: each team's best late submission, unranked
    late: list[Standing]


def rank(entries: list[Entry], *, split: Split, final_selections: int) -> Ranking:
    """The standings of ``split`` from every scored entry of a phase."""
    baselines: list[Standing] = []
    by_team: dict[str, list[Entry]] = {}
    late: dict[str, list[Entry]] = {}
    for entry in entries:
        if Split.PUBLIC not in entry.values or split not in entry.values:
            continue
        if entry.team is None:
            baselines.append(Standing(None, entry.baseline_label or "baseline", entry, 1))
        elif entry.late:
            late.setdefault(entry.team, []).append(entry)
        else:
            by_team.setdefault(entry.team, []).append(entry)
    best: list[tuple[str, Entry, int]] = []
    for team, team_entries in by_team.items():
        if split is Split.PUBLIC:
            pool = team_entries
        else:
            finals = [e for e in team_entries if e.selected_final]
            by_public = sorted(team_entries, key=lambda e: _key(e, Split.PUBLIC))
            pool = finals or by_public[:final_selections]
        chosen = min(pool, key=lambda e: _key(e, split))
        best.append((team, chosen, len(team_entries)))
    best.sort(key=lambda t: _key(t[1], split))
    ranked = [
        Standing(place, team, entry, count)
        for place, (team, entry, count) in enumerate(best, start=1)
    ]
    baselines.sort(key=lambda s: _key(s.entry, split))
    late_best = [
        Standing(None, team, min(team_entries, key=lambda e: _key(e, split)), len(team_entries))
        for team, team_entries in late.items()
    ]
    late_best.sort(key=lambda s: _key(s.entry, split))
    return Ranking(ranked, baselines, late_best)
