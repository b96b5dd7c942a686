"""Aligned plain-text tables: the evaluator's terminal output.

The evaluator's commands are short-lived processes whose wall time is largely start-up:
rich, the table library of the leaderboard's and the models' commands, cost ~22 ms of
imports of a ~0.65 s ``geoarena score`` from a prepared truth, for tables that need no
more than aligned columns. Plain text also reads the same pasted into an issue, a log or
a diff as on the terminal.

Examples
--------
>>> t = TextTable("scores", ["city", "TP", "F1"])
>>> t.add_row("AOI_2_Vegas", "12", "0.8000")
>>> t.add_rule()
>>> t.add_row("all", "112", "0.75")
>>> print(t.render())
scores
city          TP      F1
------------------------
AOI_2_Vegas   12  0.8000
------------------------
all          112    0.75
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

#: spaces between two columns
GAP = 2


@dataclass
class TextTable:
    """A titled table of text cells: the first column (a name) left-aligned, the others
    (numbers) right-aligned, a rule under the header and wherever :meth:`add_rule` puts
    one (before a total row), and an optional caption under the table."""

    title: str
    columns: Sequence[str]
    caption: str = ""
    #: the rows in order; ``None`` stands for a rule
    rows: list[tuple[str, ...] | None] = field(default_factory=list)

    def add_row(self, *cells: str) -> None:
        if len(cells) != len(self.columns):
            raise ValueError(f"{len(cells)} cells for {len(self.columns)} columns")
        self.rows.append(cells)

    def add_rule(self) -> None:
        self.rows.append(None)

    def render(self) -> str:
        cells = [tuple(self.columns), *(row for row in self.rows if row is not None)]
        widths = [max(len(row[k]) for row in cells) for k in range(len(self.columns))]
        rule = "-" * (sum(widths) + GAP * (len(widths) - 1))
        lines = [self.title, self._line(tuple(self.columns), widths), rule]
        lines += [rule if row is None else self._line(row, widths) for row in self.rows]
        if self.caption:
            lines.append(self.caption)
        return "\n".join(lines)

    @staticmethod
    def _line(row: tuple[str, ...], widths: list[int]) -> str:
        first, *rest = row
        parts = [first.ljust(widths[0])]
        parts += [cell.rjust(width) for cell, width in zip(rest, widths[1:], strict=True)]
        return (" " * GAP).join(parts).rstrip()
