"""Intersection areas of polygon pairs by clipping against a convex polygon, in numpy.

Most building footprints are convex (rectangles, rotated or not), and GEOS's overlay, made
for any two geometries, takes ~11 us a pair of them: the largest cost of a score. Clipping
a simple polygon by each edge's half-plane of a convex one (Sutherland-Hodgman) leaves the
outline of their intersection, possibly with zero-width bridges between its pieces, whose
shoelace area is the intersection's area. Done for thousands of pairs at once, one
half-plane at a time, it takes ~3 us a pair.

The areas agree with GEOS's to rounding, not bit for bit: the caller recomputes with GEOS
every pair whose IoU the difference could put on the other side of the threshold or of
another candidate of its proposal (``matching.pair_iou``). Coordinates are taken relative
to a vertex of the pair, so the rounding is relative to the buildings' size, not to the
coordinates' magnitude (map units in UTM are ~1e6).

Examples
--------
>>> import shapely
>>> square = shapely.box(0, 0, 2, 2)
>>> ell = shapely.from_wkt("POLYGON ((1 1, 3 1, 3 3, 2 3, 2 2, 1 2, 1 1))")
>>> area, done = clipped_areas(np.array([ell, square]), np.array([0]), np.array([1]))
>>> float(area[0]), bool(done[0])
(1.0, True)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely
from numpy.typing import NDArray

from .arrays import BoolArray, FloatArray, IntArray, ObjectArray
from .convexity import ring_turns

_POLYGON = 3
#: rings with more vertices go to GEOS, whose overlay grows better with size; and one
#: block's arrays are padded to its longest ring
MAX_VERTICES = 64
#: pairs clipped together: enough to spread numpy's per-call cost, few enough that the
#: padded arrays stay in cache-sized blocks
_BLOCK = 4096


@dataclass(frozen=True, eq=False)
class Rings:
    """The shell of each Polygon without holes, as closed rings of flat coordinates."""

    xy: FloatArray  # (n_points, 2): each ring's points, its closing repeat included
    start: IntArray  # each polygon's first point
    count: IntArray  # its vertices, the closing repeat aside; 0: not clippable
    #: 1 / -1: strictly convex, turning counter-clockwise / clockwise; 0: not known to be.
    #: Proved as the clip sees the ring: relative to its first vertex. Those subtractions
    #: round, and a vertex within rounding of its neighbour (1e-217 from it, where the
    #: ring is ~1 across) can land on or past it and leave the ring convex no more
    turn: NDArray[np.int8]

    @classmethod
    def of(cls, geometries: ObjectArray) -> Rings:
        """The rings of valid geometries (a Polygon without holes, of 3 to MAX_VERTICES
        vertices, is clippable; validity is the caller's to know)."""
        n = len(geometries)
        points = shapely.get_num_coordinates(geometries)
        simple = shapely.get_type_id(geometries) == _POLYGON
        simple &= (points >= 4) & (points <= MAX_VERTICES + 1)
        simple &= shapely.get_num_interior_rings(geometries) == 0
        which = np.flatnonzero(simple)
        xy = shapely.get_coordinates(geometries[which])
        offsets = np.concatenate([[0], np.cumsum(points[which])])
        start, count = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64)
        start[which], count[which] = offsets[:-1], points[which] - 1
        turn = np.zeros(n, dtype=np.int8)
        turn[which] = ring_turns(xy - np.repeat(xy[offsets[:-1]], points[which], axis=0), offsets)
        return cls(xy, start, count, turn)


def clipped_areas(
    geometries: ObjectArray, a: IntArray, b: IntArray
) -> tuple[FloatArray, BoolArray]:
    """The area of ``geometries[a[k]] & geometries[b[k]]`` for each pair ``k`` where one of
    the two is provably convex (``convexity.ring_turns``) and both are clippable, with the
    mask of those pairs (the others' areas are 0: GEOS's to compute). The geometries must
    be valid."""
    rings = Rings.of(geometries)
    ok = (rings.count[a] > 0) & (rings.count[b] > 0) & ((rings.turn[a] != 0) | (rings.turn[b] != 0))
    area = np.zeros(len(a))
    pairs = np.flatnonzero(ok)
    # the convex one clips the other; of two convex ones, the one with fewer edges
    b_clips = (rings.turn[b[pairs]] != 0) & (
        (rings.turn[a[pairs]] == 0) | (rings.count[b[pairs]] <= rings.count[a[pairs]])
    )
    subject = np.where(b_clips, a[pairs], b[pairs])
    clip = np.where(b_clips, b[pairs], a[pairs])
    # blocks of rings of similar length, so that little of the padding is wasted
    order = np.lexsort((rings.count[clip], rings.count[subject]))
    for lo in range(0, len(order), _BLOCK):
        block = order[lo : lo + _BLOCK]
        area[pairs[block]] = _clip_block(rings, subject[block], clip[block])
    return area, ok


def _padded(
    rings: Rings, which: IntArray, width: int, origin: FloatArray, *, closed: bool
) -> FloatArray:
    """(len(which), width, 2): each ring from its first vertex, relative to ``origin``,
    padded by repeating its last vertex (a zero-length edge: no area, no crossing), or
    with ``closed`` its closing repeat of the first."""
    last = rings.count[which] - (0 if closed else 1)
    i = np.minimum(np.arange(width)[None, :], last[:, None])
    out: FloatArray = rings.xy[rings.start[which][:, None] + i] - origin[:, None, :]
    return out


def _clip_block(rings: Rings, subject: IntArray, clip: IntArray) -> FloatArray:
    """Intersection areas of one block of pairs (``clip`` convex)."""
    n = len(subject)
    # clip rings in descending length: the pairs still clipping at edge j are a prefix
    order = np.argsort(-rings.count[clip], kind="stable")
    subject, clip = subject[order], clip[order]
    edges = rings.count[clip]
    origin = rings.xy[rings.start[clip]]
    q = _padded(rings, subject, int(rings.count[subject].max()), origin, closed=False)
    c = _padded(rings, clip, int(edges[0]) + 1, origin, closed=True)
    sign = rings.turn[clip].astype(np.float64)
    area = np.zeros(n)
    alive = np.ones(n, dtype=bool)
    active = n
    for j in range(int(edges[0])):
        now = int(np.count_nonzero(edges > j))
        if now < active:  # these pairs are clipped by all their edges
            area[now:active] = _shoelace(q[now:active])
            q, active = q[:now], now
        q, left = _clip_edge(q, c[:now, j], c[:now, j + 1], sign[:now])
        alive[:now] &= left
    area[:active] = _shoelace(q)
    area[~alive] = 0.0
    out = np.empty(n)
    out[order] = area
    return out


def _clip_edge(
    q: FloatArray, a: FloatArray, b: FloatArray, sign: FloatArray
) -> tuple[FloatArray, BoolArray]:
    """Each ring of ``q`` (padded, (n, w, 2)) clipped by the half-plane left of a -> b
    (right of it for ``sign`` -1), padded again; and whether anything is left."""
    n, w = q.shape[:2]
    e = b - a
    side = (e[:, 0:1] * (q[..., 1] - a[:, 1:2]) - e[:, 1:2] * (q[..., 0] - a[:, 0:1])) * sign[
        :, None
    ]
    inside = side >= 0
    # the previous vertex of each; the padding repeats the last, so column 0's is column -1
    prev_side = np.roll(side, 1, axis=1)
    prev_q = np.roll(q, 1, axis=1)
    crosses = inside != np.roll(inside, 1, axis=1)
    # where the edge prev -> here crosses the line: t in [0, 1] as the sides differ in sign
    with np.errstate(invalid="ignore", divide="ignore"):  # 0 / 0 where it does not cross
        t = prev_side / (prev_side - side)
        cut = prev_q + t[..., None] * (q - prev_q)
    # each vertex emits its crossing (if any), then itself (if inside), in ring order
    emits = np.stack([crosses, inside], axis=2).reshape(n, 2 * w)
    points = np.stack([cut, q], axis=2).reshape(-1, 2)[emits.ravel()]
    kept = emits.sum(axis=1)
    alive = kept > 0
    if not alive.any():
        return np.zeros((n, 1, 2)), alive
    width = int(kept.max())
    first = np.cumsum(kept) - kept
    at = first[:, None] + np.minimum(np.arange(width)[None, :], np.maximum(kept, 1)[:, None] - 1)
    out: FloatArray = points[np.minimum(at, len(points) - 1)]
    return out, alive


def _shoelace(q: FloatArray) -> FloatArray:
    """Area of each padded ring of ``q``."""
    x, y = q[..., 0], q[..., 1]
    cross = x * np.roll(y, -1, axis=1) - np.roll(x, -1, axis=1) * y
    area: FloatArray = np.abs(cross.sum(axis=1)) * 0.5
    return area
