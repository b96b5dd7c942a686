"""Rich tables of a leaderboard (CLI ``show`` and the demo)."""

from __future__ import annotations

from typing import Any

from rich.table import Table


def board_table(board: dict[str, Any]) -> Table:
    """A leaderboard (as returned by the API) as a rich table with per-city columns."""
    table = Table(
        title=f"{board['title']} - phase {board['phase']} - {board['split']} leaderboard",
        caption=board["rule"],
    )
    table.add_column("Rank", justify="right", no_wrap=True)
    table.add_column("Team", no_wrap=True)
    table.add_column(board["metric"], justify="right")
    for name in ("F1", "Precision", "Recall", "TP", "FP", "FN"):
        table.add_column(name, justify="right")
    for city in board["cities"]:
        table.add_column(f"F1 {city}", justify="right")
    table.add_column("Entries", justify="right")
    for row in board["rows"] + board["baselines"]:
        baseline = row["rank"] is None
        table.add_row(
            "-" if baseline else str(row["rank"]),
            f"{row['team']} (baseline)" if baseline else row["team"],
            f"{row['score']:.4f}",
            f"{row['f1']:.4f}",
            f"{row['precision']:.4f}",
            f"{row['recall']:.4f}",
            str(row["tp"]),
            str(row["fp"]),
            str(row["fn"]),
            *[f"{row['cities'][c]:.4f}" if c in row["cities"] else "-" for c in board["cities"]],
            str(row["entries"]),
            style="italic dim" if baseline else None,
        )
    return table


def board_width() -> int | None:
    """The terminal's width on a terminal; wide enough for every column otherwise
    (rich would fall back to 80 columns and truncate the per-city scores)."""
    import sys

    return None if sys.stdout.isatty() else 200
