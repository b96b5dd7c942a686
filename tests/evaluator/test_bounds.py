"""The IoU bounds that settle or prune pairs without an intersection are true bounds:
for any pair of valid polygons, lower <= GEOS IoU <= upper (up to rounding)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import shapely
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from shapely import affinity

from geoarena.evaluator import PolygonTable, get_rules, score
from geoarena.evaluator.matching import iou_lower_bound, iou_upper_bound, octagon_iou_lower_bound
from geoarena.evaluator.sides import select, slivers

from .helpers import PRESET_NAMES, per_image
from .oracle import oracle_score

coordinate = st.floats(-60, 60, allow_nan=False, width=32)


@st.composite
def polygons(draw) -> shapely.Geometry:
    """Valid (Multi)Polygons: rotated rectangles, hulls, concave shapes, holes, parts."""
    kind = draw(st.sampled_from(["rect", "hull", "concave", "holed", "multi"]))
    if kind == "rect":
        x, y = draw(coordinate), draw(coordinate)
        w, h = draw(st.floats(0.5, 40)), draw(st.floats(0.5, 40))
        shape = shapely.box(x, y, x + w, y + h)
    elif kind == "hull":
        points = draw(st.lists(st.tuples(coordinate, coordinate), min_size=3, max_size=9))
        shape = shapely.MultiPoint(points).convex_hull
    elif kind == "concave":
        x, y, w = draw(coordinate), draw(coordinate), draw(st.floats(4, 30))
        shape = shapely.Polygon([(x, y), (x + w, y), (x + w, y + w), (x + w / 2, y + w / 3)])
    elif kind == "holed":
        x, y, w = draw(coordinate), draw(coordinate), draw(st.floats(6, 30))
        shape = shapely.box(x, y, x + w, y + w).difference(
            shapely.box(x + 2, y + 2, x + w - 2, y + w - 2)
        )
    else:
        x, y = draw(coordinate), draw(coordinate)
        shape = shapely.MultiPolygon(
            [shapely.box(x, y, x + 5, y + 5), shapely.box(x + 9, y, x + 14, y + 6)]
        )
    angle = draw(st.floats(0, 180))
    turned = affinity.rotate(shape, angle, origin=(0, 0))
    return turned if turned.is_valid and turned.area > 0 else shapely.box(0, 0, 1, 1)


@st.composite
def pairs(draw) -> tuple[shapely.Geometry, shapely.Geometry]:
    a = draw(polygons())
    if draw(st.booleans()):  # a jittered copy: the case the bounds are meant to settle
        b = affinity.rotate(
            affinity.translate(a, draw(st.floats(-3, 3)), draw(st.floats(-3, 3))),
            draw(st.floats(-8, 8)),
        )
    else:
        b = draw(polygons())
    return a, b


@settings(max_examples=400, deadline=None)
@given(pair_list=st.lists(pairs(), min_size=1, max_size=8))
def test_bounds_hold(pair_list) -> None:
    a = np.array([p[0] for p in pair_list], dtype=object)
    b = np.array([p[1] for p in pair_list], dtype=object)
    a_area, b_area = shapely.area(a), shapely.area(b)
    inter = shapely.area(shapely.intersection(a, b))
    # GEOS's overlay can fail on edges a sub-ulp turn apart (a jitter of 1e-145: two
    # triangles of area 1 whose union GEOS measures as 1 and whose intersection it
    # returns as two points): no bound can agree with an overlay that contradicts itself
    union = shapely.area(shapely.union(a, b))
    assume(np.allclose(inter, a_area + b_area - union, rtol=1e-6, atol=1e-9))
    iou = inter / (a_area + b_area - inter)
    a_box, b_box = shapely.bounds(a), shapely.bounds(b)
    # the scorer bounds no sliver's pairs: GEOS's IoUs of those are off by more than 1e-9
    held = ~(slivers(a_area, a_box) | slivers(b_area, b_box))
    lower = np.maximum(
        octagon_iou_lower_bound(a, b, a_area, b_area), iou_lower_bound(a_area, b_area, a_box, b_box)
    )
    assert (lower <= iou + 1e-9)[held].all()
    assert (iou_upper_bound(a_area, b_area, a_box, b_box) >= iou - 1e-9)[held].all()


#: found by a search like the test above's: GEOS's IoU of each with itself is 0, 0, 1.22
SLIVERS = [
    "POLYGON ((0 0, -40.47627151916983 18.302167596904678, "
    "4.843136929860789e-39 1.0710869318600135e-38, 0 0))",
    "POLYGON ((-2.2005400938617445e-16 2.966546020850988e-17, "
    "-2.5961636045818333 -19.257958790971742, -2.4971946959468434e-16 "
    "-1.9038854917766456e-16, -2.2005400938617445e-16 2.966546020850988e-17))",
    "POLYGON ((51.59788129390614 25.144795312494598, 0 0, "
    "-8.989393408455814e-7 -4.3807311767625854e-7, 51.59788129390614 25.144795312494598))",
]


@pytest.mark.parametrize("preset", PRESET_NAMES)
def test_slivers_are_scored_as_geos_measures_them(preset: str) -> None:
    """No bound, clip or settling stands in for GEOS on a sliver: it is ``unbounded``,
    and each matched with itself gets the verdict of GEOS's IoU, as the simple oracle
    computes it (with no area filter: every preset's drops these tiny ones). These three
    get GEOS's verdict unmarked too; the mark is what keeps any sliver from the bounds."""
    rules = dataclasses.replace(
        get_rules(preset), truth_area_filter=None, proposal_area_filter=None
    )
    ids = [f"AOI_2_Vegas_img{k}" for k in range(len(SLIVERS))]
    table = PolygonTable.from_wkt(ids, [1] * len(ids), SLIVERS, [1.0] * len(ids))
    assert per_image(score(table, table, rules)) == oracle_score(table, table, rules)
    assert select(table, rules, "truth").unbounded.all()


def test_octagon_settles_a_rotated_jittered_building() -> None:
    """Where the covering box cannot tell (IoU bound below 0.5), the octagon in the
    building's own frame can."""
    truth = affinity.rotate(shapely.box(0, 0, 30, 12), 30)
    proposal = affinity.translate(truth, 1.0, 0.5)
    a, b = np.array([proposal]), np.array([truth])
    areas = shapely.area(a), shapely.area(b)
    iou = shapely.area(truth.intersection(proposal)) / shapely.area(truth.union(proposal))
    box = iou_lower_bound(*areas, shapely.bounds(a), shapely.bounds(b))[0]
    octagon = octagon_iou_lower_bound(a, b, *areas)[0]
    assert box < 0.5 < octagon <= iou
