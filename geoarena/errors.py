"""The errors geoarena raises on purpose, under one root, and the one located-problem type.

Domain code raises these and nothing else for "your input is bad" or "that is not
allowed now"; each outer layer maps them to its own medium in exactly one place: the
command line prints the problems and exits 2 (bad input) or 1 (refused)
(:func:`geoarena.cli.exit_on_error`), the HTTP API answers one error body with the status
of the class (``geoarena.leaderboard.api.errors``). No domain error knows an exit code or
an HTTP status.

Examples
--------
>>> p = Problem("preds.csv", 12, "PolygonWKT_Pix", "unparsable WKT")
>>> str(p)
'preds.csv:12: [PolygonWKT_Pix] unparsable WKT'
>>> str(Problem("", 0, "--plot", "no scored polygon in image 'img9'"))
"[--plot] no scored polygon in image 'img9'"
>>> err = InvalidInput([p], total=3)
>>> print(err)
preds.csv: 3 problems
preds.csv:12: [PolygonWKT_Pix] unparsable WKT
... and 2 more problems
>>> isinstance(err, GeoarenaError), err.total
(True, 3)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Problem:
    """One located problem of an input: a CSV row, a YAML field, a request field.

    ``line`` is 1-based; 0 means the whole file. ``column`` names the CSV column, the
    dotted YAML path or the request field ("" when the whole line is wrong).
    """

    file: str
    line: int
    column: str
    reason: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        column = f"[{self.column}] " if self.column else ""
        # a problem of no file (a command-line option, a request field) starts at its column
        return f"{where}: {column}{self.reason}" if where else f"{column}{self.reason}"

    def to_dict(self) -> dict[str, str | int]:
        return {"file": self.file, "line": self.line, "column": self.column, "reason": self.reason}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Problem:
        return cls(str(data["file"]), int(data["line"]), str(data["column"]), str(data["reason"]))


class GeoarenaError(Exception):
    """Root of every error geoarena raises on purpose.

    ``problems`` locates what is wrong (empty for a refused action); ``total`` counts all
    problems even when only the first ones are kept.
    """

    problems: tuple[Problem, ...] = ()
    total: int = 0

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle without calling ``__init__`` again (subclasses' signatures differ), so an
        error keeps its problems across processes (a validation pool)."""
        return (_restore, (type(self), self.args, self.__dict__))


def _restore(
    cls: type[GeoarenaError], args: tuple[Any, ...], state: dict[str, Any]
) -> GeoarenaError:
    error = cls.__new__(cls)
    Exception.__init__(error, *args)
    error.__dict__.update(state)
    return error


class InvalidInput(GeoarenaError, ValueError):
    """An input (file, config, request) cannot be used; nothing was changed.

    Keeps the first ``MAX_KEPT`` problems and counts the rest, so a file with a million
    bad rows costs a bounded amount of memory to report.
    """

    #: problems kept on the error (all are counted in ``total``).
    MAX_KEPT = 1_000
    #: problems the message spells out before summarising.
    SHOWN = 50
    #: what one problem is called in the summary line.
    noun = "problem"

    def __init__(
        self, problems: Iterable[Problem], total: int | None = None, *, message: str | None = None
    ) -> None:
        kept = tuple(problems)
        if not kept and message is None:
            raise ValueError(f"{type(self).__name__} needs a problem or a message")
        self.problems = kept[: self.MAX_KEPT]
        self.total = max(len(kept), total or 0)
        super().__init__(message if message is not None else self._message())

    def _nouns(self, count: int) -> str:
        return self.noun if count == 1 else self.noun + "s"

    @classmethod
    def about(cls, reason: str, *, file: str = "", column: str = "") -> InvalidInput:
        """One problem of a whole input (a request field, a file)."""
        return cls([Problem(file, 0, column, reason)])

    def _message(self) -> str:
        if self.total == 1 and len(self.problems) == 1:
            return str(self.problems[0])
        shown = self.problems[: self.SHOWN]
        lines = [f"{self.problems[0].file}: {self.total} {self._nouns(self.total)}"]
        lines.extend(map(str, shown))
        if self.total > len(shown):
            rest = self.total - len(shown)
            lines.append(f"... and {rest} more {self._nouns(rest)}")
        return "\n".join(lines)


class NotFound(GeoarenaError, LookupError):
    """The thing named does not exist (or the caller may not know that it does)."""


class Forbidden(GeoarenaError):
    """The caller may not do this."""


class Conflict(GeoarenaError):
    """Not possible in the current state (a duplicate name, a closed phase, a running job)."""


class LimitExceeded(GeoarenaError):
    """A quota or rate limit is used up; ``retry_after`` seconds until it frees, if known."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def invalid_input_from(validation_error: Any, *, file: str = "") -> InvalidInput:
    """An :class:`InvalidInput` from a pydantic ``ValidationError`` (duck-typed, so this
    module needs no pydantic): one problem per field, named by its dotted path."""
    problems = [
        Problem(
            file,
            0,
            ".".join(str(part) for part in err["loc"]),
            "unknown field" if err["type"] == "extra_forbidden" else err["msg"],
        )
        for err in validation_error.errors()
    ]
    return InvalidInput(problems)


__all__ = [
    "Conflict",
    "Forbidden",
    "GeoarenaError",
    "InvalidInput",
    "LimitExceeded",
    "NotFound",
    "Problem",
    "invalid_input_from",
]
