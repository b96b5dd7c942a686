"""Valid polygons recognised from their coordinates: one ring, strictly convex, once round.

GEOS's validity check (``shapely.is_valid``) takes ~0.7 us a SpaceNet polygon, the
largest cost of applying the rules to a proposal file after its intersections. But most
building footprints are convex quadrilaterals, and a ring that provably turns the same
way at every vertex and goes round exactly once is simple, so its polygon is valid
whatever GEOS would compute. The WKT reader has the coordinates at hand as arrays
(``wkt.parse_wkt``), and this proof costs a fraction of GEOS's check; every polygon it
cannot prove (a reflex or straight vertex, a repeated point, a hole, a MultiPolygon) is
left to GEOS.

Each turn's side is Shewchuk's orientation test in floating point, trusted only beyond
its error bound (``ccwerrboundA``), so rounding cannot fake a turn. With every turn
strictly the same way, the edges' directions rotate monotonically; they cross the x
axis twice per turn round, so two crossings mean the ring winds once (a pentagram's
turns all go the same way too, but it winds twice).

Examples
--------
>>> square = np.array([[0.0, 0], [1, 0], [1, 1], [0, 1], [0, 0]])
>>> star = np.array([[0.0, 0], [2, 6], [4, 0], [-1, 4], [5, 4], [0, 0]])
>>> convex_rings(np.vstack([square, star]), np.array([0, 5, 11])).tolist()
[True, False]
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from .arrays import BoolArray, FloatArray, IntArray

#: Shewchuk's bound on the rounding error of a 2-D orientation determinant, relative to
#: the sum of its two products' magnitudes: (3 + 16 eps) eps, eps = 2**-53
_ORIENTATION_ERROR = (3.0 + 16.0 * 2.0**-53) * 2.0**-53


def convex_rings(coords: FloatArray, offsets: IntArray) -> BoolArray:
    """Which closed rings are strictly convex and wind once: ring ``i`` is the points
    ``offsets[i]`` to ``offsets[i + 1] - 1`` of ``coords`` (x and y first; more columns
    are ignored), at least 4, its last a repeat of its first."""
    convex: BoolArray = ring_turns(coords, offsets) != 0
    return convex


def ring_turns(coords: FloatArray, offsets: IntArray) -> NDArray[np.int8]:
    """Per ring (as :func:`convex_rings` takes them), the way a strictly convex one that
    winds once turns: 1 counter-clockwise, -1 clockwise; 0 for any other ring."""
    first, close = offsets[:-1], offsets[1:] - 1
    if len(first) == 0:
        return np.zeros(0, dtype=np.int8)
    if (close - first < 3).any():
        raise ValueError("a ring has fewer than 4 points")
    # edge j runs from point j to j + 1; a ring's edges are first .. close - 1, and the
    # edges from a closing point into the next ring are meaningless
    dx, dy = np.diff(coords[:, 0]), np.diff(coords[:, 1])
    # the turn from edge k to edge k + 1 (at point k + 1), Shewchuk's orientation test
    # with his error bound; each ring's turn at its first vertex is from its last edge
    cross_a, cross_b = dx[:-1] * dy[1:], dy[:-1] * dx[1:]
    last = close - 1
    wrap_a, wrap_b = dx[last] * dy[first], dy[last] * dx[first]
    # per ring, its stretch of ``turn`` from ``first``: the turns at its vertices after
    # the first, then two meaningless ones (in and out of the closing point; the last
    # ring's first is past the end), which take its first vertex's turn
    turn = np.empty(len(dx), dtype=np.int8)
    turn[:-1] = _sign(cross_a, cross_b)
    wrap = _sign(wrap_a, wrap_b)
    _patch(turn, last, wrap)
    _patch(turn, close, wrap)
    low, high = np.minimum.reduceat(turn, first), np.maximum.reduceat(turn, first)
    # each edge points down (y decreasing) or not; a ring turning one way changes between
    # the two twice per time round (its last edge to its first included)
    down = dy < 0
    change = np.empty(len(dx), dtype=bool)
    change[:-1] = down[:-1] != down[1:]
    _patch(change, last, down[last] != down[first])
    _patch(change, close, np.zeros(len(close), dtype=bool))
    once = np.add.reduceat(change, first) == 2
    out: NDArray[np.int8] = np.where((low == high) & once, low, 0).astype(np.int8)
    return out


def _sign(a: FloatArray, b: FloatArray) -> NDArray[np.int8]:
    """The sign of ``a - b`` where rounding cannot have changed it, else 0: ``a`` and
    ``b`` are products of differences of the input coordinates (Shewchuk's orient2d)."""
    det = a - b
    bound = _ORIENTATION_ERROR * (np.abs(a) + np.abs(b))
    sign: NDArray[np.int8] = (det > bound).astype(np.int8) - (det < -bound).astype(np.int8)
    return sign


def _patch(values: NDArray[Any], at: IntArray, new: NDArray[Any]) -> None:
    """``values[at] = new`` where ``at`` is inside ``values``."""
    inside = at < len(values)
    values[at[inside]] = new[inside]
