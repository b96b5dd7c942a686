"""Clipped intersection areas agree with GEOS's to rounding, and the scorer trusts them
only where rounding cannot decide: its verdicts and IoUs near the threshold stay GEOS's."""

from __future__ import annotations

import numpy as np
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from geoarena.evaluator import PolygonTable, matching
from geoarena.evaluator.clipping import clipped_areas
from geoarena.evaluator.rules import get_rules
from geoarena.evaluator.sides import select


def _box(x: float, y: float, w: float, h: float, angle: float) -> shapely.Polygon:
    return shapely.affinity.rotate(shapely.box(x, y, x + w, y + h), angle, use_radians=True)


offset = st.sampled_from([0.0, 650.0, 4.5e6])
size = st.floats(0.5, 60)
place = st.floats(-30, 30)


@st.composite
def convex(draw: st.DrawFn, at: float, box: bool | None = None) -> shapely.Polygon:
    """A rotated box, or the convex hull of random points (whose turns may be too close
    to straight for the proof)."""
    if draw(st.booleans()) if box is None else box:
        corner = at + draw(place), at + draw(place)
        return _box(*corner, draw(size), draw(size), draw(st.floats(0, 7)))
    points = draw(st.lists(st.tuples(place, place), min_size=3, max_size=10))
    hull = shapely.convex_hull(shapely.MultiPoint([(at + x, at + y) for x, y in points]))
    return hull if hull.geom_type == "Polygon" else _box(at, at, 1, 1, 0)


@st.composite
def any_polygon(draw: st.DrawFn, at: float) -> shapely.Polygon:
    """A valid polygon of one ring: convex, an L, or two overlapping boxes."""
    kind = draw(st.sampled_from(["convex", "ell", "union"]))
    if kind == "convex":
        return draw(convex(at))
    w, h = draw(size), draw(size)
    x, y = at + draw(place), at + draw(place)
    if kind == "ell":
        ring = [
            (x, y),
            (x + w, y),
            (x + w, y + h / 2),
            (x + w / 2, y + h / 2),
            (x + w / 2, y + h),
            (x, y + h),
        ]
        return shapely.Polygon(ring)
    union = shapely.union(
        _box(x, y, w, h, 0), _box(x + w / 3, y + h / 3, w, h, draw(st.floats(0, 1)))
    )
    return union if union.geom_type == "Polygon" and not union.interiors else _box(x, y, w, h, 0)


@st.composite
def pairs(draw: st.DrawFn) -> tuple[shapely.Polygon, shapely.Polygon, bool]:
    """A valid polygon, a convex one near it, and whether that is a box (a box's right
    angles are always provably convex, so its pair must be clipped)."""
    at, box = draw(offset), draw(st.booleans())
    return draw(any_polygon(at)), draw(convex(at, box)), box


@settings(max_examples=300, deadline=None)
@given(st.lists(pairs(), min_size=1, max_size=12), st.booleans())
def test_clipped_areas_are_geos_areas_to_rounding(drawn, swap: bool) -> None:
    a = [p if not swap else q for p, q, _ in drawn]
    b = [q if not swap else p for p, q, _ in drawn]
    polygons = np.array(a + b, dtype=object)
    n = len(drawn)
    area, done = clipped_areas(polygons, np.arange(n), np.arange(n, 2 * n))
    geos = shapely.area(shapely.intersection(polygons[:n], polygons[n:]))
    scale = np.maximum(shapely.area(polygons[:n]), shapely.area(polygons[n:]))
    # each pair has a convex polygon, which a hull of nearly collinear points may not be
    # provably: such a pair is GEOS's
    assert done[[box for _, _, box in drawn]].all()
    # GEOS rounds at the coordinates' magnitude (4.5e6 here), the clip at the buildings'
    assert (np.abs(area - geos)[done] <= 1e-9 * scale[done]).all()
    assert (area[~done] == 0).all()


def test_pairs_without_a_proved_convex_ring_are_left_to_geos() -> None:
    ell = shapely.from_wkt("POLYGON ((0 0, 4 0, 4 2, 2 2, 2 4, 0 4, 0 0))")
    holed = shapely.box(0, 0, 9, 9).difference(shapely.box(3, 3, 6, 6))
    multi = shapely.MultiPolygon([shapely.box(0, 0, 1, 1), shapely.box(5, 5, 6, 6)])
    square = shapely.box(1, 1, 3, 3)
    polygons = np.array([ell, ell, holed, square, multi, square], dtype=object)
    area, done = clipped_areas(polygons, np.array([0, 2, 4]), np.array([1, 3, 5]))
    assert done.tolist() == [False, False, False] and area.tolist() == [0.0, 0.0, 0.0]


def test_a_ring_convex_only_before_the_shift_clips_nothing() -> None:
    """Found by the property above: a triangle with a vertex 1e-217 from its neighbour is
    convex, but relative to its first vertex (1, -6.7e-291) the two land on a line, and
    clipping by that ring took 0.25 of the 0.5 GEOS finds. It clips nothing: the convex
    quadrilateral clips it instead, and a pair of two such triangles is GEOS's."""
    quad = shapely.from_wkt("POLYGON ((0 0, -1 1, 0 1, 1 0, 0 0))")
    near = shapely.Polygon(
        [(1, -6.723e-291), (1.082e-217, -1.001e-292), (0, 0), (-1, 1), (1, -6.723e-291)]
    )
    polygons = np.array([quad, near, near, near])
    area, done = clipped_areas(polygons, np.array([0, 2]), np.array([1, 3]))
    assert done.tolist() == [True, False] and area.tolist() == [0.5, 0.0]
    assert shapely.area(shapely.intersection(quad, near)) == 0.5


def _side(wkts: list[str]) -> object:
    table = PolygonTable.from_wkt(["AOI_2_Vegas_img1"] * len(wkts), list(range(len(wkts))), wkts)
    return select(table, get_rules("deepglobe"), "truth")


def test_iou_near_the_threshold_is_geos_own(monkeypatch) -> None:
    """A building split in two exact halves, and a copy shifted by a third of its width:
    their IoUs are 0.5 to rounding, so GEOS computes them (bit for bit what it gives
    without clipping); a jittered copy is clipped, its IoU GEOS's to rounding."""
    truth = _side(["POLYGON ((10.3 20.1, 30.7 20.1, 30.7 40.9, 10.3 40.9, 10.3 20.1))"])
    proposals = _side(
        [
            "POLYGON ((10.3 20.1, 20.5 20.1, 20.5 40.9, 10.3 40.9, 10.3 20.1))",
            "POLYGON ((20.5 20.1, 30.7 20.1, 30.7 40.9, 20.5 40.9, 20.5 20.1))",
            "POLYGON ((17.1 20.1, 37.5 20.1, 37.5 40.9, 17.1 40.9, 17.1 20.1))",
            "POLYGON ((10.9 20.3, 31.1 20.0, 30.8 41.2, 10.1 40.7, 10.9 20.3))",
        ]
    )
    pi, ti = np.arange(4), np.zeros(4, dtype=np.int64)
    rules = get_rules("deepglobe")
    clipped: list[int] = []
    real = matching.clipped_areas

    def counting(polygons, a, b):
        area, done = real(polygons, a, b)
        clipped.append(int(done.sum()))
        return area, done

    monkeypatch.setattr(matching, "clipped_areas", counting)
    iou, _ = matching.pair_iou(proposals, truth, pi, ti, rules)
    exact, _ = matching.pair_iou(proposals, truth, pi, ti, rules, every_pair=True)  # all GEOS
    assert clipped == [2]  # the shifted and the jittered copies; the halves' ratio is 0.5
    assert abs(exact[2] - 0.5) < 1e-12
    assert iou[:3].tolist() == exact[:3].tolist()
    assert abs(iou[3] - exact[3]) < 1e-12 and iou[3] > 0.8
