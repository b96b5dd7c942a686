"""``convex_rings`` proves only valid polygons valid, and proves the common ones.

GEOS's validity check is the reference: a ring the proof accepts must make a valid
polygon for every input (random rings, rings turning the other way at one vertex by a
rounding error, stars, spikes, repeated and collinear points, coordinates of UTM size),
and the rules must treat a proved polygon exactly as one GEOS checked.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from geoarena.evaluator import read_proposals, sides
from geoarena.evaluator.convexity import convex_rings
from geoarena.evaluator.rules import get_rules
from geoarena.evaluator.synthetic import make_pair


def _rings(rings: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Closed rings as convex_rings takes them."""
    closed = [np.vstack([r, r[:1]]) for r in rings]
    offsets = np.cumsum([0] + [len(r) for r in closed])
    return np.vstack(closed), offsets


def _proved(rings: list[np.ndarray]) -> list[bool]:
    coords, offsets = _rings(rings)
    return convex_rings(coords, offsets).tolist()


def _valid(rings: list[np.ndarray]) -> list[bool]:
    polygons = [shapely.Polygon(r) for r in rings]
    return shapely.is_valid(np.array(polygons, dtype=object)).tolist()


def _turned(ring: np.ndarray, angle: float, offset: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return ring @ np.array([[c, s], [-s, c]]) + offset


SQUARE = np.array([[0.0, 0], [4, 0], [4, 4], [0, 4]])


def test_convex_rings_either_way_round_are_proved() -> None:
    hexagon = np.column_stack([np.cos(np.arange(6) / 3 * np.pi), np.sin(np.arange(6) / 3 * np.pi)])
    rings = [
        SQUARE,
        SQUARE[::-1],
        hexagon,
        _turned(SQUARE, 0.3, 5e5),
        np.array([[0, 0], [1, 0], [0, 1.0]]),
    ]
    assert _proved(rings) == [True] * len(rings)


@pytest.mark.parametrize(
    "ring",
    [
        np.array([[0.0, 0], [4, 0], [4, 2], [2, 2], [2, 4], [0, 4]]),  # an L: a reflex vertex
        np.array([[0.0, 0], [2, 6], [4, 0], [-1, 4], [5, 4]]),  # a pentagram: winds twice
        np.array([[0.0, 0], [2, 0], [4, 0], [4, 4], [0, 4]]),  # a straight vertex
        np.array([[0.0, 0], [4, 0], [4, 0], [4, 4], [0, 4]]),  # a repeated point
        np.array([[0.0, 0], [4, 0], [4, 4], [4, 8], [4, 4], [0, 4]]),  # a spike
        np.array([[0.0, 0], [4, 0], [0, 4], [4, 4]]),  # a bowtie
        np.array([[0.0, 0], [4, 0], [8, 0]]),  # no area
    ],
    ids=["reflex", "pentagram", "straight", "repeated", "spike", "bowtie", "flat"],
)
def test_other_rings_are_left_to_geos(ring: np.ndarray) -> None:
    assert _proved([ring]) == [False]


def test_a_turn_within_rounding_is_not_trusted() -> None:
    """Three points on y = 0.1 x + 0.3 as decimals round them: the computed orientation
    is not 0, but below its rounding error, so the middle one's turn is unknown."""
    a, b, c = [14.42, 1.7420000000000002], [51.18, 5.418], [95.05, 9.805000000000001]
    ring = np.array([a, b, c, [95.05, 50.0], [14.42, 50.0]])
    e1, e2 = np.subtract(b, a), np.subtract(c, b)
    assert e1[0] * e2[1] - e1[1] * e2[0] != 0  # rounding makes it turn
    assert _proved([ring]) == [False]


coordinate = st.floats(-1e3, 1e3, allow_nan=False)


@st.composite
def rings(draw: st.DrawFn) -> np.ndarray:
    """Rings of every kind: random points, convex hulls, rotated boxes far from the
    origin, and any of them with one vertex moved by a few ulps."""
    kind = draw(st.sampled_from(["random", "hull", "box"]))
    if kind == "box":
        w, h = draw(st.floats(1e-3, 100)), draw(st.floats(1e-3, 100))
        box = np.array([[0.0, 0], [w, 0], [w, h], [0, h]])
        ring = _turned(box, draw(st.floats(0, 7)), draw(st.sampled_from([0.0, 650.0, 5e6])))
    else:
        n = draw(st.integers(3, 12))
        points = np.array(draw(st.lists(st.tuples(coordinate, coordinate), min_size=n, max_size=n)))
        ring = points
        if kind == "hull":
            hull = shapely.convex_hull(shapely.MultiPoint(points))
            if hull.geom_type != "Polygon":
                return points
            ring = np.asarray(hull.exterior.coords)[:-1]
    if draw(st.booleans()):
        k = draw(st.integers(0, len(ring) - 1))
        steps = draw(st.integers(-4, 4))
        ring = ring.copy()
        for _ in range(abs(steps)):
            ring[k, 1] = np.nextafter(ring[k, 1], np.inf if steps > 0 else -np.inf)
    return ring


@settings(max_examples=400, deadline=None)
@given(st.lists(rings(), min_size=1, max_size=6))
def test_a_proved_ring_is_valid_for_geos(drawn: list[np.ndarray]) -> None:
    for proved, valid in zip(_proved(drawn), _valid(drawn), strict=True):
        assert valid or not proved


def test_the_rules_treat_proved_polygons_as_geos_checked_ones() -> None:
    """The same Side, whether select asks GEOS about every polygon or only about those
    not proved valid when read; and of a SpaceNet-like file, GEOS sees few."""
    _, data = make_pair(20, 40, seed=7)
    table = read_proposals(data)
    assert table.valid is not None and table.valid.mean() > 0.8
    asked: list[int] = []
    real = shapely.is_valid

    def counting(geometries: np.ndarray) -> np.ndarray:
        asked.append(len(geometries))
        return real(geometries)

    for name in ("deepglobe", "spacenet-utilities", "topcoder"):
        rules = get_rules(name)
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(sides.shapely, "is_valid", counting)
            fast = sides.select(table, rules, "proposal")
        checked = sides.select(replace(table, valid=None), rules, "proposal")
        assert asked[-1] <= 0.2 * len(table)
        for field in ("rows", "area", "bounds", "invalid", "unbounded"):
            assert np.array_equal(getattr(fast, field), getattr(checked, field)), field
        assert fast.counts == checked.counts
        assert shapely.to_wkb(fast.geometry).tolist() == shapely.to_wkb(checked.geometry).tolist()
