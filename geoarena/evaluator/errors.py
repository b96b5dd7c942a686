"""Row-level input errors.

Every problem with an input file is reported as a :class:`RowError` naming the file, the
1-based line, the column and the reason, so that a team can fix its CSV without guessing.
"""

from __future__ import annotations

from dataclasses import dataclass

#: how many row errors an :class:`InputError` message spells out before summarising.
MESSAGE_ROWS = 50


@dataclass(frozen=True, slots=True)
class RowError:
    """One bad row (or the whole file, with ``line`` 0) of an input CSV."""

    file: str
    line: int
    column: str
    reason: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        column = f" [{self.column}]" if self.column else ""
        return f"{where}:{column} {self.reason}"

    def to_dict(self) -> dict[str, object]:
        return {"file": self.file, "line": self.line, "column": self.column, "reason": self.reason}


class InputError(ValueError):
    """An input file cannot be scored; ``errors`` lists every bad row found.

    ``total`` counts all bad rows even when only the first ones were kept in ``errors``.
    """

    def __init__(self, errors: list[RowError], total: int | None = None) -> None:
        if not errors:
            raise ValueError("InputError needs at least one RowError")
        self.errors = errors
        self.total = len(errors) if total is None else total
        super().__init__(self._message())

    def _message(self) -> str:
        shown = self.errors[:MESSAGE_ROWS]
        lines = [str(e) for e in shown]
        if self.total > len(shown):
            lines.append(f"... and {self.total - len(shown)} more bad rows")
        head = f"{self.errors[0].file}: {self.total} bad row{'s' if self.total != 1 else ''}"
        return head + "\n" + "\n".join(lines) if self.total > 1 else lines[0]
