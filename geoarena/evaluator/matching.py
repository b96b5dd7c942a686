"""Candidate pairs, IoU, exact pruning and the order-dependent greedy matching.

The greedy rule: proposals are visited in order; each takes the unmatched truth with the
highest IoU (ties: the first truth in file order); it is a true positive when that IoU
passes the threshold. Only pairs that pass can ever match, and the best unmatched truth
passes exactly when some unmatched truth passes, so the matching needs nothing but the
passing pairs. That is what makes the pruning below exact.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import shapely

from .areas import intersection_areas, polygon_areas
from .arrays import BoolArray, FloatArray, IntArray, ObjectArray, distinct_positions
from .clipping import clipped_areas
from .rules import Rules
from .sides import Side
from .slots import rematch_ties_by_slots

_COLLECTION = 7
#: bound slack: a pair is pruned only when its IoU upper bound is below the threshold by
#: more than floating-point noise, so rounding can never change a verdict.
_SLACK = 1e-9
#: how far a clipped IoU may be from GEOS's and still be trusted: rounding puts them
#: ~1e-14 apart in pixels; in map units of ~1e6 GEOS's own rounding is ~1e-9 of the IoU
_CLIPPED_SLACK = 1e-6
#: below this many pairs, splitting the IoU work over threads costs more than it saves.
_PARALLEL_MIN = 20_000


def slot_boxes(bounds: FloatArray, image: IntArray, origin: float, width: float) -> FloatArray:
    """Shift each box along x into its image's own slot, so images never share candidates."""
    boxes = bounds.copy()
    shift = image.astype(np.float64) * width - origin
    boxes[:, 0] += shift
    boxes[:, 2] += shift
    return boxes


def iou_upper_bound(
    p_area: FloatArray, t_area: FloatArray, p_bounds: FloatArray, t_bounds: FloatArray
) -> FloatArray:
    """An upper bound on IoU from areas and boxes alone.

    The intersection is at most the smaller area and at most the overlap of the boxes; IoU
    = I / (a + b - I) grows with I, so plugging in that cap bounds it.
    """
    dx = np.minimum(p_bounds[:, 2], t_bounds[:, 2]) - np.maximum(p_bounds[:, 0], t_bounds[:, 0])
    dy = np.minimum(p_bounds[:, 3], t_bounds[:, 3]) - np.maximum(p_bounds[:, 1], t_bounds[:, 1])
    cap = np.minimum(np.clip(dx, 0, None) * np.clip(dy, 0, None), np.minimum(p_area, t_area))
    return _iou_of(p_area, t_area, cap)


def iou_lower_bound(
    p_area: FloatArray, t_area: FloatArray, p_bounds: FloatArray, t_bounds: FloatArray
) -> FloatArray:
    """A lower bound on IoU from areas and boxes alone.

    The union lies inside the box that covers both boxes, so the intersection
    a + b - union is at least a + b - area(covering box).
    """
    w = np.maximum(p_bounds[:, 2], t_bounds[:, 2]) - np.minimum(p_bounds[:, 0], t_bounds[:, 0])
    h = np.maximum(p_bounds[:, 3], t_bounds[:, 3]) - np.minimum(p_bounds[:, 1], t_bounds[:, 1])
    return _iou_of(p_area, t_area, np.clip(p_area + t_area - w * h, 0, None))


def octagon_iou_lower_bound(
    a: ObjectArray, b: ObjectArray, a_area: FloatArray, b_area: FloatArray
) -> FloatArray:
    """A lower bound on IoU from octagons that cover both polygons of each pair.

    In any frame, the union lies inside the region bounded by the extremes of x, y,
    x + y and x - y over both polygons' vertices (a convex set holding every vertex holds
    the polygons): a box with four right isosceles corners cut off, which never overlap
    (each extreme is reached by a vertex on the box's edges), so its area is the box's
    minus the four triangles. Then I >= a + b - area, as in :func:`iou_lower_bound`. Two
    frames are tried: the image's, and one turned to the first edge of ``b``'s ring, in
    which a rotated rectangular building is axis-aligned and the bound nearly tight.
    """
    xy_a, owner_a = shapely.get_coordinates(a, return_index=True)
    xy_b, owner_b = shapely.get_coordinates(b, return_index=True)
    start_b = np.searchsorted(owner_b, np.arange(len(b)))
    second = np.minimum(start_b + 1, max(len(xy_b) - 1, 0))
    edge = xy_b[second] - xy_b[np.minimum(start_b, max(len(xy_b) - 1, 0))] if len(xy_b) else None
    frames = [(np.ones(len(b)), np.zeros(len(b)))]
    if edge is not None:
        length = np.hypot(edge[:, 0], edge[:, 1])
        ok = length > 0
        frames.append(
            (
                np.where(ok, edge[:, 0] / np.where(ok, length, 1), 1.0),
                np.where(ok, edge[:, 1] / np.where(ok, length, 1), 0.0),
            )
        )
    best = np.zeros(len(b))
    for cos, sin in frames:
        ea = _extremes(xy_a, owner_a, len(a), cos, sin)
        eb = _extremes(xy_b, owner_b, len(b), cos, sin)
        lo, hi = np.minimum(ea[0::2], eb[0::2]), np.maximum(ea[1::2], eb[1::2])
        (x0, y0, s0, d0), (x1, y1, s1, d1) = lo, hi
        cuts = (s0 - (x0 + y0), (x1 + y1) - s1, d0 - (x0 - y1), (x1 - y0) - d1)
        area = (x1 - x0) * (y1 - y0) - sum(np.clip(c, 0, None) ** 2 for c in cuts) / 2
        bound = _iou_of(a_area, b_area, np.clip(a_area + b_area - area, 0, None))
        best = np.maximum(best, np.where(np.isfinite(bound), bound, 0.0))
    return best


def _extremes(
    xy: FloatArray, owner: IntArray, n: int, cos: FloatArray, sin: FloatArray
) -> FloatArray:
    """Per polygon, in the frame turned by (cos, sin) of its pair: min and max of x, y,
    x + y and x - y over its vertices, as rows (xmin, xmax, ymin, ymax, ...); NaN (no
    bound) for a polygon without vertices."""
    out = np.full((8, n), np.nan)
    if len(xy) == 0:
        return out
    c, s = cos[owner], sin[owner]
    x = xy[:, 0] * c + xy[:, 1] * s
    y = xy[:, 1] * c - xy[:, 0] * s
    start = np.minimum(np.searchsorted(owner, np.arange(n)), len(xy) - 1)
    for k, values in enumerate((x, y, x + y, x - y)):
        out[2 * k] = np.minimum.reduceat(values, start)
        out[2 * k + 1] = np.maximum.reduceat(values, start)
    out[:, np.bincount(owner, minlength=n) == 0] = np.nan
    return out


def settled_by_boxes(
    proposals: Side, truth: Side, pi: IntArray, ti: IntArray, rules: Rules
) -> tuple[BoolArray, IntArray]:
    """Pairs that are certainly matched, decided from areas and boxes alone, and the
    positions of the lone pairs the boxes left open (:func:`settled_by_octagons` may
    settle those from their vertices; nothing here reads a geometry, so a stored truth
    decodes only the polygons of the pairs left).

    A pair is settled when it is the only candidate of both its proposal and its truth
    (so no other pair can compete for either) and its IoU lower bound already passes the
    threshold. Jittered detections of compact buildings are mostly settled this way, which
    skips their polygon intersections. Not used when the IoU of a GeometryCollection
    intersection counts as 0 (the bound knows nothing of the intersection's type), nor
    when ties go by index slots (every match's turn then reorders its image's slots).
    """
    if rules.collection_iou == "zero" or rules.tie_break == "rtree_slots" or len(pi) == 0:
        return np.zeros(len(pi), dtype=bool), np.empty(0, dtype=np.int64)
    lone: BoolArray = (np.bincount(pi, minlength=len(proposals.area))[pi] == 1) & (
        np.bincount(ti, minlength=len(truth.area))[ti] == 1
    )
    lone &= ~(proposals.unbounded[pi] | truth.unbounded[ti])
    bound = iou_lower_bound(
        proposals.area[pi], truth.area[ti], proposals.bounds[pi], truth.bounds[ti]
    )
    settled: BoolArray = lone & rules.passes(bound - _SLACK)
    return settled, np.flatnonzero(lone & ~settled)


def settled_by_octagons(
    proposals: Side, truth: Side, pi: IntArray, ti: IntArray, rules: Rules
) -> BoolArray:
    """Of the lone pairs the boxes left open, those whose covering-octagon IoU lower bound
    passes: the covering box is loose for rotated buildings, the octagon much less so."""
    octagon = octagon_iou_lower_bound(
        proposals.geometry[pi], truth.geometry[ti], proposals.area[pi], truth.area[ti]
    )
    settled: BoolArray = rules.passes(octagon - _SLACK)
    return settled


def pair_iou(
    proposals: Side,
    truth: Side,
    pi: IntArray,
    ti: IntArray,
    rules: Rules,
    *,
    every_pair: bool = False,
) -> tuple[FloatArray, list[tuple[int, int, str]]]:
    """IoU of each (proposal, truth) pair, and the pairs GEOS could not intersect.

    Pairs with a polygon kept invalid on purpose are computed one by one (GEOS may refuse
    them; they then get IoU 0 and are reported); all others are computed in bulk, and a
    bulk chunk that GEOS refuses is redone pair by pair, so one bad pair costs no score.

    A pair with a convex polygon is intersected by clipping (:mod:`clipping`, ~4x faster
    than GEOS's overlay), GEOS's overlay doing it again wherever the difference in
    rounding could decide (:func:`_needs_exact` with ``_CLIPPED_SLACK``); GEOS does all of
    them for ``every_pair`` (its IoUs are reported) and under ``collection_iou="zero"``
    (the type of GEOS's result decides).

    Under ``iou_formula="union"`` the union is built only where ``I / (a + b - I)``, which
    differs from ``area(I) / area(union)`` in the last bits only, could decide otherwise
    (:func:`_needs_exact`), for the pairs of an ``unbounded`` polygon (whose area is not
    that of the polygon overlapped, so the two formulas differ by more), or for
    ``every_pair`` when each IoU is reported.
    """
    iou = np.zeros(len(pi), dtype=np.float64)
    failures: list[tuple[int, int, str]] = []
    invalid = proposals.invalid[pi] | truth.invalid[ti]
    special = invalid & ~truth.invalid[ti] if rules.invalid_truth == "zero" else invalid
    bulk = ~invalid
    bulk &= ~(shapely.is_empty(proposals.geometry[pi]) | shapely.is_empty(truth.geometry[ti]))
    if bulk.any():
        pairs = np.flatnonzero(bulk)
        a, b = proposals.geometry[pi[pairs]], truth.geometry[ti[pairs]]
        sums = proposals.area[pi[pairs]] + truth.area[ti[pairs]]
        inter = np.zeros(len(pairs))
        clipped = np.zeros(len(pairs), dtype=bool)
        if not every_pair and rules.collection_iou == "area":
            inter, clipped = _clipped(proposals, truth, pi[pairs], ti[pairs], rules.iou_threshold)
        values = _ratio(inter, sums - inter)
        by_geos = ~clipped | _needs_exact(values, pi[pairs], rules.iou_threshold, _CLIPPED_SLACK)
        geos = np.flatnonzero(by_geos)
        refused = np.zeros(len(pairs), dtype=bool)
        inter[geos], refused[geos] = _bulk(
            lambda sl: _intersection_area(a[geos[sl]], b[geos[sl]], rules), len(geos)
        )
        values[geos] = _ratio(inter[geos], sums[geos] - inter[geos])
        if rules.iou_formula == "union":
            # a polygon whose area is not the one overlapped (``unbounded``: a shoelace
            # area of a ring as submitted, beside its repair) puts the estimate off by
            # more than rounding: its pairs always get the union
            loose = proposals.unbounded[pi[pairs]] | truth.unbounded[ti[pairs]]
            exact = every_pair | loose | _needs_exact(values, pi[pairs], rules.iou_threshold)
            near = np.flatnonzero(exact & ~refused)
            a, b = a[near], b[near]
            union, refused_union = _bulk(
                lambda sl: polygon_areas(shapely.union(a[sl], b[sl]), rules.area_formula),
                len(near),
            )
            values[near] = _ratio(inter[near], union)
            refused[near] |= refused_union
        iou[pairs] = values
        special[pairs[refused]] = True
    for k in np.flatnonzero(special):
        a, b = proposals.geometry[pi[k] : pi[k] + 1], truth.geometry[ti[k] : ti[k] + 1]
        try:
            inter = _intersection_area(a, b, rules)
            union = polygon_areas(shapely.union(a, b), rules.area_formula)
        except shapely.errors.GEOSException as exc:
            failures.append((int(pi[k]), int(ti[k]), str(exc).split("\n")[0]))
            continue
        iou[k] = _ratio(inter, union)[0]
    return iou, failures


def _needs_exact(
    estimate: FloatArray, pi: IntArray, threshold: float, slack: float = _SLACK
) -> BoolArray:
    """Pairs whose estimated IoU could rank or pass otherwise than the exact one: those
    within ``slack`` of the threshold, and passing pairs within ``slack`` of another of
    the same proposal (the greedy matching compares a proposal's candidates only)."""
    near = np.abs(estimate - threshold) <= slack
    maybe = np.flatnonzero(estimate >= threshold - slack)
    order = maybe[np.lexsort((estimate[maybe], pi[maybe]))]
    close = (pi[order][1:] == pi[order][:-1]) & (np.diff(estimate[order]) <= 2 * slack)
    near[order[1:][close]] = True
    near[order[:-1][close]] = True
    return near


def _clipped(
    proposals: Side, truth: Side, p: IntArray, t: IntArray, threshold: float
) -> tuple[FloatArray, BoolArray]:
    """Intersection areas of the pairs (p, t) that :func:`clipping.clipped_areas` can
    clip, and their mask; each polygon's ring is read once, however many pairs it is in.

    Left to GEOS: the pairs of an ``unbounded`` polygon (their union is built from the
    intersection whatever its IoU, so it must be GEOS's), and those whose areas' ratio,
    a bound on their IoU, is within the slack of the threshold: such a pair either fails
    or is near the threshold, as a building split in two exact halves is, and GEOS would
    redo it."""
    a, b = proposals.area[p], truth.area[t]
    ratio = _ratio(np.minimum(a, b), np.maximum(a, b))
    ask = ~(proposals.unbounded[p] | truth.unbounded[t]) & (ratio > threshold + _CLIPPED_SLACK)
    area = np.zeros(len(p))
    clipped = np.zeros(len(p), dtype=bool)
    asked = np.flatnonzero(ask)
    p, t = p[asked], t[asked]
    ps = distinct_positions(p, len(proposals.rows))
    ts = distinct_positions(t, len(truth.rows))
    polygons = np.concatenate([proposals.geometry[ps], truth.geometry[ts]])
    area[asked], clipped[asked] = clipped_areas(
        polygons, np.searchsorted(ps, p), len(ps) + np.searchsorted(ts, t)
    )
    return area, clipped


def _intersection_area(a: ObjectArray, b: ObjectArray, rules: Rules) -> FloatArray:
    """Area of each pair's intersection under the ``area_formula`` rule (0 for a
    GeometryCollection under ``collection_iou="zero"``)."""
    inter = shapely.intersection(a, b)
    area = intersection_areas(inter, rules.area_formula)
    if rules.collection_iou == "zero":
        area = np.where(shapely.get_type_id(inter) == _COLLECTION, 0.0, area)
    return area


def _iou_of(a_area: FloatArray, b_area: FloatArray, intersection: FloatArray) -> FloatArray:
    """IoU from the two areas and an intersection area (0 where the union is empty): the
    bounds put a bound on the intersection in, and get the same bound on IoU out."""
    return _ratio(intersection, a_area + b_area - intersection)


def _ratio(numerator: FloatArray, denominator: FloatArray) -> FloatArray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denominator > 0, numerator / denominator, 0.0)


def _bulk(work: Callable[[slice], FloatArray], n: int) -> tuple[FloatArray, BoolArray]:
    """``work`` over slices of ``n`` pairs, on threads when there are many (GEOS releases
    the GIL in bulk operations); a slice GEOS refuses is zeros, marked in the mask."""

    def attempt(sl: slice) -> FloatArray | None:
        try:
            return work(sl)
        except shapely.errors.GEOSException:
            return None

    workers = min(os.cpu_count() or 1, 4)
    chunks = 1 if n < _PARALLEL_MIN or workers < 2 else workers
    edges = np.linspace(0, n, chunks + 1).astype(int)
    slices = [slice(lo, hi) for lo, hi in itertools.pairwise(edges)]
    if chunks == 1:
        parts = [attempt(slices[0])]
    else:
        with ThreadPoolExecutor(chunks) as pool:
            parts = list(pool.map(attempt, slices))
    out = np.zeros(n)
    refused = np.zeros(n, dtype=bool)
    for sl, part in zip(slices, parts, strict=True):
        if part is None:
            refused[sl] = True
        else:
            out[sl] = part
    return out, refused


def greedy_match(
    rank: IntArray,
    pi: IntArray,
    ti: IntArray,
    iou: FloatArray,
    n_truth: int,
    slot_image: IntArray | None = None,
) -> tuple[IntArray, FloatArray]:
    """Match proposals to truths given only the passing pairs.

    Parameters
    ----------
    rank : visiting position of every proposal (0 = first).
    pi, ti, iou : the passing pairs (proposal index, truth index in file order, IoU).
    n_truth : number of truths.
    slot_image : the image of every truth, when ties go by index slots
        (``tie_break="rtree_slots"``, :mod:`.slots`); None: ties go by file order.

    Returns
    -------
    match : truth index matched by each proposal, -1 for a false positive.
    match_iou : IoU of that match (0 for false positives).

    Examples
    --------
    Two proposals want the same truth; the one visited first wins:

    >>> import numpy as np
    >>> greedy_match(np.array([1, 0]), np.array([0, 1]), np.array([0, 0]),
    ...              np.array([0.9, 0.6]), n_truth=1)
    (array([-1,  0]), array([0. , 0.6]))
    """
    match = np.full(len(rank), -1, dtype=np.int64)
    match_iou = np.zeros(len(rank), dtype=np.float64)
    if len(pi) == 0:
        return match, match_iou
    # A pair whose proposal and truth appear in no other passing pair cannot be contested.
    lone = (np.bincount(pi, minlength=len(rank))[pi] == 1) & (
        np.bincount(ti, minlength=n_truth)[ti] == 1
    )
    match[pi[lone]] = ti[lone]
    match_iou[pi[lone]] = iou[lone]
    contested = ~lone
    order = np.lexsort((ti[contested], -iou[contested], rank[pi[contested]]))
    taken = np.zeros(n_truth, dtype=bool)
    current, settled = -1, False
    for p, t, v in zip(
        pi[contested][order].tolist(),
        ti[contested][order].tolist(),
        iou[contested][order].tolist(),
        strict=True,
    ):
        if p != current:
            current, settled = p, False
        if settled or taken[t]:
            continue
        taken[t] = True
        match[p], match_iou[p], settled = t, v, True
    if slot_image is not None:
        return rematch_ties_by_slots(rank, pi, ti, iou, slot_image, match, match_iou)
    return match, match_iou


def chosen_candidates(
    rank: IntArray, pi: IntArray, ti: IntArray, iou: FloatArray, match: IntArray
) -> tuple[IntArray, FloatArray]:
    """Replay the matching over every candidate pair: the truth each proposal picked.

    At its turn each proposal picks the unmatched truth of highest IoU (> 0), passing or
    not; solaris reports, per truth, the largest IoU of the proposals that picked it.
    ``match`` is the final matching, which decides what is taken before each turn.
    """
    chosen = np.full(len(rank), -1, dtype=np.int64)
    chosen_iou = np.zeros(len(rank))
    taken = np.zeros(int(ti.max()) + 1 if len(ti) else 0, dtype=bool)
    order = np.lexsort((ti, -iou, rank[pi]))
    current, settled = -1, False
    for p, t, v in zip(pi[order].tolist(), ti[order].tolist(), iou[order].tolist(), strict=True):
        if p != current:
            if current >= 0 and match[current] >= 0:
                taken[match[current]] = True
            current, settled = p, False
        if settled or taken[t] or v <= 0:
            continue
        chosen[p], chosen_iou[p], settled = t, v, True
    return chosen, chosen_iou
