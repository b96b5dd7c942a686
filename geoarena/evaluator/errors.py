"""The evaluator's input error: a truth or proposal file that cannot be scored.

Every problem is a :class:`geoarena.errors.Problem` naming the file, the 1-based line,
the column and the reason, so that a team can fix its CSV without guessing.
"""

from __future__ import annotations

from geoarena.errors import InvalidInput


class InputError(InvalidInput):
    """An input file cannot be scored; ``problems`` lists its bad rows (the first
    ``MAX_KEPT``), ``total`` counts them all."""

    noun = "bad row"
