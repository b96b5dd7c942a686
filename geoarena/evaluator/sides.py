"""Apply the rules to one side (truth or proposals): what is scored, and as which polygon."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import shapely

from .areas import polygon_areas
from .arrays import BoolArray, FloatArray, IntArray, ObjectArray
from .rules import AreaFilter, Rules
from .table import PolygonTable

_POLYGON, _MULTIPOLYGON, _COLLECTION = 3, 6, 7

#: which side of the metric a table is; the rules treat the two sides differently.
Role = Literal["truth", "proposal"]
#: a polygon whose area is below this fraction of its box's is a sliver (a rectangle's
#: box is at most twice its area, one of 10:1 turned 45 degrees ~6 times)
SLIVER = 1e-5


@dataclass(frozen=True, eq=False)
class Side:
    """The polygons of one side that take part in matching, in file order.

    ``rows`` indexes the source :class:`PolygonTable`; ``invalid`` marks polygons kept
    invalid on purpose (``as_is``/``zero`` policies), whose pairs need special handling.
    ``unbounded`` marks those, the repaired polygons whose ``area`` is not the area of
    the polygon overlapped (``area_formula="shoelace"``) and slivers (:func:`slivers`):
    IoU bounds from areas do not hold for their pairs, which are therefore never pruned,
    settled nor clipped: GEOS intersects them.
    """

    rows: IntArray
    geometry: ObjectArray
    area: FloatArray
    bounds: FloatArray  # (n, 4): xmin, ymin, xmax, ymax (zeros for an empty geometry)
    invalid: BoolArray
    unbounded: BoolArray
    counts: dict[str, int]


def select(table: PolygonTable, rules: Rules, role: Role, keep: BoolArray | None = None) -> Side:
    """Filter and repair ``table`` per ``rules``; ``role`` is "truth" or "proposal".

    ``keep`` optionally pre-selects rows (e.g. the images of one leaderboard split).
    """
    rows = np.arange(len(table)) if keep is None else np.flatnonzero(keep)
    geometry = table.geometry[rows]
    counts: dict[str, int] = {}

    def drop(mask: BoolArray, what: str) -> None:
        nonlocal rows, geometry
        counts[what] = int(mask.sum())
        rows, geometry = rows[~mask], geometry[~mask]

    if rules.negative_ids == "drop":
        drop(table.building_id[rows] == -1, "dropped_negative_id")
    empty = shapely.is_empty(geometry)
    if role == "truth" or rules.empty_proposal == "drop":
        drop(empty, "dropped_empty")
    else:  # the "-1,POLYGON EMPTY" no-building marker is never a false positive
        drop(empty & (table.building_id[rows] == -1), "dropped_empty")
    empty = shapely.is_empty(geometry)

    multi = shapely.get_type_id(geometry) == _MULTIPOLYGON
    counts["multipolygon"] = int(multi.sum())
    if rules.multipolygon == "first" and multi.any():
        geometry = geometry.copy()
        geometry[multi] = shapely.get_geometry(geometry[multi], 0)

    raw_area = polygon_areas(geometry, rules.area_formula)
    # GEOS checks the polygons not proved valid when they were read
    doubtful = ~empty if table.valid is None else ~empty & ~table.valid[rows]
    invalid = np.zeros(len(rows), dtype=bool)
    invalid[doubtful] = ~shapely.is_valid(geometry[doubtful])
    counts["invalid"] = int(invalid.sum())
    was_invalid = invalid.copy()
    policy = rules.invalid_truth if role == "truth" else rules.invalid_proposal
    if policy in ("buffer0", "make_valid") and invalid.any():
        geometry = geometry.copy()
        repaired, failed = _repair(geometry[invalid], policy)
        geometry[invalid] = repaired
        counts["repaired"] = int(invalid.sum() - failed.sum())
        if failed.any():  # GEOS cannot repair them: scored as is (IoU 0), and reported
            counts["repair_failed"] = int(failed.sum())
        invalid[invalid] = failed
    if rules.area_formula == "shoelace":  # the tester measures each polygon as submitted, even
        area, unbounded = raw_area, was_invalid  # one it overlaps as repaired
    else:  # only a repaired polygon has a new area
        area, unbounded = raw_area, invalid
        if policy in ("buffer0", "make_valid") and was_invalid.any():
            area = raw_area.copy()
            area[was_invalid] = polygon_areas(geometry[was_invalid], rules.area_formula)

    area_filter = rules.truth_area_filter if role == "truth" else rules.proposal_area_filter
    if area_filter is not None:
        measured = raw_area if rules.area_of == "raw" else area
        small = ~_passes(measured, area_filter)
        if role == "proposal" and rules.empty_proposal == "fp":
            small &= ~empty  # an empty proposal is scored as a false positive, not filtered
        counts["dropped_small"] = int(small.sum())
        rows, geometry, area, invalid, unbounded = (
            rows[~small],
            geometry[~small],
            area[~small],
            invalid[~small],
            unbounded[~small],
        )
    bounds = np.nan_to_num(shapely.bounds(geometry), nan=0.0)
    return Side(rows, geometry, area, bounds, invalid, unbounded | slivers(area, bounds), counts)


def slivers(area: FloatArray, bounds: FloatArray) -> BoolArray:
    """Which polygons are slivers, their area below ``SLIVER`` of their box's.

    GEOS measures a polygon's overlaps to a relative error of about eps x box area /
    area (its shoelace sums products of box-sized coordinates), which for a sliver can
    exceed the bounds' slack of 1e-9: GEOS takes the IoU with itself of two of the
    slivers in ``test_bounds`` as 0 and of the third as 1.22.
    """
    box = (bounds[:, 2] - bounds[:, 0]) * (bounds[:, 3] - bounds[:, 1])
    sliver: BoolArray = area < SLIVER * box
    return sliver


def _repair(geometries: ObjectArray, policy: str) -> tuple[ObjectArray, BoolArray]:
    """The repaired geometries and which could not be repaired: GEOS refuses a few
    (coordinates near the float limit overflow its precision model), and one refusal must
    not abort the whole score."""

    def fix(g: ObjectArray) -> ObjectArray:
        if policy == "buffer0":
            return np.asarray(shapely.buffer(g, 0), dtype=object)
        return _polygonal(np.asarray(shapely.make_valid(g), dtype=object))

    failed = np.zeros(len(geometries), dtype=bool)
    try:
        return fix(geometries), failed
    except shapely.errors.GEOSException:
        pass
    out = geometries.copy()
    for k in range(len(geometries)):
        try:
            out[k : k + 1] = fix(geometries[k : k + 1])
        except shapely.errors.GEOSException:
            failed[k] = True
    return out, failed


def _polygonal(geometries: ObjectArray) -> ObjectArray:
    """Keep only the polygon parts of make_valid's output (it may add lines and points,
    or collapse a polygon to a line): what is not polygonal becomes an empty polygon."""
    out = geometries.copy()
    kind = shapely.get_type_id(geometries)
    out[(kind != _POLYGON) & (kind != _MULTIPOLYGON) & (kind != _COLLECTION)] = shapely.Polygon()
    for k in np.flatnonzero(kind == _COLLECTION):
        parts = shapely.get_parts(geometries[k])
        polygons = parts[np.isin(shapely.get_type_id(parts), (_POLYGON, _MULTIPOLYGON))]
        out[k] = shapely.union_all(polygons) if len(polygons) else shapely.Polygon()
    return out


def _passes(area: FloatArray, area_filter: AreaFilter) -> BoolArray:
    if area_filter.inclusive:
        return area >= area_filter.min_area
    return area > area_filter.min_area
