"""A board as a rich table (CLI ``show``, the demo) and as CSV (exports, downloads)."""

from __future__ import annotations

import csv
import io
import sys

from rich.table import Table

from geoarena.leaderboard.boards import Board, BoardRow

#: characters that make a spreadsheet read a cell as a formula (CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def board_table(board: Board) -> Table:
    """A board as a rich table with per-city columns."""
    table = Table(
        title=f"{board.title} - phase {board.phase} - {board.split} leaderboard",
        caption=board.rule,
    )
    table.add_column("Rank", justify="right", no_wrap=True)
    table.add_column("Team", no_wrap=True)
    table.add_column(board.metric.label, justify="right")
    for name in ("F1", "Precision", "Recall", "TP", "FP", "FN"):
        table.add_column(name, justify="right")
    for city in board.cities:
        table.add_column(f"F1 {city}", justify="right")
    table.add_column("Entries", justify="right")
    for row in board.rows + board.baselines:
        s = row.score
        table.add_row(
            "-" if row.baseline else str(row.rank),
            f"{row.team} (baseline)" if row.baseline else row.team,
            f"{row.value:.4f}",
            f"{s.f1:.4f}",
            f"{s.precision:.4f}",
            f"{s.recall:.4f}",
            str(s.tp),
            str(s.fp),
            str(s.fn),
            *[f"{s.cities[c].f1:.4f}" if c in s.cities else "-" for c in board.cities],
            str(row.entries),
            style="italic dim" if row.baseline else None,
        )
    return table


def board_width() -> int | None:
    """The terminal's width on a terminal; wide enough for every column otherwise
    (rich would fall back to 80 columns and truncate the per-city scores)."""
    return None if sys.stdout.isatty() else 200


def safe_cell(text: str) -> str:
    """A text cell a spreadsheet will not evaluate (a leading ``'`` defuses formulas)."""
    return "'" + text if text.startswith(_FORMULA_START) else text


def board_csv(board: Board) -> str:
    """The board as CSV, one row per team and baseline, one column per city F1."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    head = ["rank", "team", "baseline", "submission", "submitted_at", board.metric.value]
    head += ["f1", "precision", "recall", "tp", "fp", "fn"]
    writer.writerow(head + [f"f1_{c}" for c in board.cities])
    for row in board.rows + board.baselines:
        writer.writerow(_csv_row(board, row))
    return out.getvalue()


def _csv_row(board: Board, row: BoardRow) -> list[str | int]:
    s = row.score
    return [
        "" if row.rank is None else row.rank,
        safe_cell(row.team),
        int(row.baseline),
        row.submission,
        row.submitted_at.isoformat(),
        f"{row.value:.6f}",
        f"{s.f1:.6f}",
        f"{s.precision:.6f}",
        f"{s.recall:.6f}",
        s.tp,
        s.fp,
        s.fn,
        *[f"{s.cities[c].f1:.6f}" if c in s.cities else "" for c in board.cities],
    ]
