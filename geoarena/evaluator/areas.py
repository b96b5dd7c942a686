"""Polygon areas as each reference scorer computes them (the ``area_formula`` rule knob).

The three scorers measure the same polygons with different floating-point formulas, and
on decimal coordinates the last bits decide which side of an area filter of 20 px or an
IoU threshold of 0.5 a polygon lands on (conformance cases 19-22):

* ``geos``: GEOS's area (shapely), as solaris and our default use it;
* ``ogr``: OGR's ring formula (``OGR_G_Area``: per ring, half the absolute value of the
  sum of ``x[i] * (y[i+1] - y[i-1])`` over its points, cyclically), as the SpaceNet
  utilities scorer uses it for its area filter and for both areas of its IoU;
* ``shoelace``: the TopCoder tester's trapezoid formula (per ring, half the absolute value
  of the sum of ``(x[i-1] + x[i]) * (y[i-1] - y[i])``), in Java doubles; the tester
  measures an overlap (a ``java.awt.geom.Area``) with another formula, half the absolute
  value of the sum of ``x[i] * y[i+1] - x[i+1] * y[i]`` over every ring at once, which
  :func:`intersection_areas` applies to GEOS's intersection. ``Area`` builds its own
  outline of the overlap (its vertices, their order and its arithmetic are not GEOS's),
  so that one area can differ from the tester's in the last bits: an IoU within about
  1e-12 of the threshold may get the other verdict there.

A polygon's area is its shell's less its holes', a MultiPolygon's the sum of its parts';
sums run point by point in ring order, as the references' loops do, so the results are
bit for bit theirs. Everything is vectorized over arrays of geometries.

Examples
--------
>>> import numpy as np, shapely
>>> box = shapely.from_wkt("POLYGON ((100.3 200.7, 103.5 200.7, 103.5 206.95, 100.3 206.95, "
...                        "100.3 200.7))")
>>> [float(polygon_areas(np.array([box]), rule)[0]) for rule in ("geos", "ogr", "shoelace")]
[20.000000000000018, 20.0, 20.0]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import shapely

from .arrays import BoolArray, FloatArray, IntArray, ObjectArray

AreaRule = Literal["geos", "ogr", "shoelace"]

_POLYGON = 3


def polygon_areas(geometries: ObjectArray, rule: AreaRule) -> FloatArray:
    """The area of each geometry (Polygon, MultiPolygon or GeometryCollection, whose
    non-polygonal parts have no area) under ``rule``."""
    if rule == "geos":
        return np.asarray(shapely.area(geometries), dtype=np.float64)
    rings = _Rings.of(geometries)
    sums = _ring_sums(rings.x, rings.y, rings.point_ring, len(rings.owner), rule)
    ring_area = np.abs(sums) * 0.5
    signed = np.where(rings.shell, ring_area, -ring_area)
    # bincount adds in input order: shell, then each hole, then the next part, as the
    # references' loops do
    return _sums(rings.owner, signed, len(geometries))


def intersection_areas(intersections: ObjectArray, rule: AreaRule) -> FloatArray:
    """The area of each pair's intersection under ``rule``: :func:`polygon_areas`, except
    that the tester measures an overlap with its ``Area`` formula (module docstring)."""
    if rule != "shoelace":
        return polygon_areas(intersections, rule)
    rings = _Rings.of(intersections)
    x, y, ring = rings.x, rings.y, rings.point_ring
    same: BoolArray = ring[1:] == ring[:-1]
    terms = (x[:-1] * y[1:] - x[1:] * y[:-1])[same]
    # one signed sum over all rings of a geometry (GEOS orients holes against shells)
    return np.abs(_sums(rings.owner[ring[1:][same]], terms, len(intersections))) * 0.5


@dataclass(frozen=True)
class _Rings:
    """The polygon rings of an array of geometries, flattened: every point's ``x``, ``y``
    and ring; per ring, its geometry (``owner``) and whether it is a shell. A geometry's
    rings are consecutive and in order (shell, its holes, the next part's shell...)."""

    x: FloatArray
    y: FloatArray
    point_ring: IntArray
    owner: IntArray
    shell: BoolArray

    @classmethod
    def of(cls, geometries: ObjectArray) -> _Rings:
        # most footprints are one ring: their points are read in one call, without
        # building ring geometries
        simple = (shapely.get_type_id(geometries) == _POLYGON) & (
            shapely.get_num_interior_rings(geometries) == 0
        )
        one = np.flatnonzero(simple)
        coords, point_ring = shapely.get_coordinates(geometries[one], return_index=True)
        point_rings, owners, shells = [point_ring.astype(np.int64)], [one], [simple[one]]
        points = [coords]
        other = np.flatnonzero(~simple)
        if len(other):
            parts, part_owner = shapely.get_parts(geometries[other], return_index=True)
            polygonal = shapely.get_type_id(parts) == _POLYGON
            parts, part_owner = parts[polygonal], part_owner[polygonal]
            rings, polygon = shapely.get_rings(parts, return_index=True)
            shell = np.ones(len(rings), dtype=bool)
            shell[1:] = polygon[1:] != polygon[:-1]  # each shell is listed before its holes
            coords, point_ring = shapely.get_coordinates(rings, return_index=True)
            points.append(coords)
            point_rings.append(point_ring.astype(np.int64) + len(one))
            owners.append(other[part_owner[polygon]])
            shells.append(shell)
        xy = np.concatenate(points)
        return cls(
            xy[:, 0],
            xy[:, 1],
            np.concatenate(point_rings),
            np.concatenate(owners).astype(np.int64),
            np.concatenate(shells),
        )


def _ring_sums(
    x: FloatArray, y: FloatArray, ring: IntArray, n_rings: int, rule: AreaRule
) -> FloatArray:
    """Per ring, the sum (twice the signed area) of the rule's terms over its closed point
    sequence (the last point repeats the first, as in WKT)."""
    if rule == "ogr":
        start = np.searchsorted(ring, np.arange(n_rings))
        end = np.append(start[1:], len(ring)) - 1  # the last point of each ring
        k = np.arange(len(ring))
        first, last = k == start[ring], k == end[ring]
        nxt = np.where(last, start[ring], k + 1)
        prv = np.where(first, end[ring], k - 1)
        terms = x * (y[nxt] - y[prv])
        return _sums(ring, terms, n_rings)
    same: BoolArray = ring[1:] == ring[:-1]  # consecutive points of one ring
    terms = ((x[:-1] + x[1:]) * (y[:-1] - y[1:]))[same]
    return _sums(ring[1:][same], terms, n_rings)


def _sums(index: IntArray, terms: FloatArray, n: int) -> FloatArray:
    """Per-bin sums, added in input order (bincount's loop), as float64."""
    return np.asarray(np.bincount(index, weights=terms, minlength=n), dtype=np.float64)
