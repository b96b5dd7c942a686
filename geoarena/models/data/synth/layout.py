"""Where things are in a synthetic tile: a rotated street grid, blocks, parcels, buildings.

Everything is laid out in a local street frame in metres (streets along the axes), then
mapped onto the tile's pixel grid by one rotation + scale (``Frame``), so streets are
off-grid and every length follows the ground sample distance. Footprints are built as
explicit valid rings (rectangles, L-shapes), never by boolean operations, and every truth
polygon is clipped to the tile, snapped to the 0.01 px grid the truth CSV is written
with, and checked valid *after* snapping (:func:`truth_polygon`): no seed can produce an
invalid or self-intersecting truth polygon.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import shapely
from shapely import affinity
from shapely.geometry import Polygon, box
from shapely.geometry.base import BaseGeometry

from geoarena.models.data.synth.styles import CityStyle

#: the truth CSV writes coordinates with 2 decimals: polygons are validated on that grid.
PRECISION = 0.01
#: truth polygons smaller than this (pixels) are dropped (slivers cut by the tile edge).
MIN_AREA_PX = 6.0
RoofKind = Literal["flat", "hip", "gable"]


@dataclass(frozen=True)
class Building:
    """One building: its truth polygon (tile pixels) and how to draw it."""

    polygon: Polygon  # clipped to the tile, valid on the 0.01 px grid
    footprint: Polygon  # unclipped, in tile pixels (roof shading near the tile edge)
    height: float  # metres
    roof: RoofKind
    colour: tuple[float, float, float]
    #: direction of the ridge of a gable roof (radians, tile frame)
    ridge: float = 0.0


@dataclass
class Layout:
    """Everything placed on one tile, in tile pixel coordinates."""

    roads: list[BaseGeometry] = field(default_factory=list)
    sidewalks: list[BaseGeometry] = field(default_factory=list)
    paved: list[BaseGeometry] = field(default_factory=list)  # driveways, courtyards
    walls: list[BaseGeometry] = field(default_factory=list)  # compound walls (not buildings)
    pools: list[BaseGeometry] = field(default_factory=list)
    buildings: list[Building] = field(default_factory=list)


@dataclass(frozen=True)
class Frame:
    """Local street frame (metres, streets along the axes) -> tile pixels."""

    centre: float  # tile centre, pixels
    angle: float  # radians
    gsd: float  # metres per pixel

    def to_tile(self, geom: BaseGeometry) -> BaseGeometry:
        c, s, k = math.cos(self.angle), math.sin(self.angle), 1.0 / self.gsd
        return affinity.affine_transform(
            geom, [c * k, -s * k, s * k, c * k, self.centre, self.centre]
        )


def rectangle(u: float, v: float, w: float, d: float) -> Polygon:
    return box(u, v, u + w, v + d)


def l_shape(rng: np.random.Generator, u: float, v: float, w: float, d: float) -> Polygon:
    """An L: a ``w`` x ``d`` rectangle without one corner, as one explicit 6-vertex ring."""
    cw, cd = w * rng.uniform(0.35, 0.6), d * rng.uniform(0.35, 0.6)
    ring = [(0, 0), (w, 0), (w, d - cd), (w - cw, d - cd), (w - cw, d), (0, d)]
    poly = Polygon([(u + x, v + y) for x, y in ring])
    if rng.random() < 0.5:  # mirror so that the cut corner varies
        poly = affinity.scale(poly, -1, 1, origin=(u + w / 2, v + d / 2))
    return poly


def truth_polygon(footprint: BaseGeometry, size: int) -> Polygon | None:
    """The truth polygon of a footprint: clipped to the tile, on the CSV's 0.01 px grid,
    valid; None when nothing usable is left."""
    clipped = shapely.set_precision(footprint.intersection(box(0, 0, size, size)), PRECISION)
    if not clipped.is_valid:
        clipped = shapely.make_valid(clipped)
    parts = [p for p in shapely.get_parts(clipped) if isinstance(p, Polygon) and p.is_valid]
    if not parts:
        return None
    best = max(parts, key=lambda p: p.area)
    best = shapely.set_precision(best, PRECISION)  # re-snap (make_valid may add vertices)
    if not isinstance(best, Polygon) or not best.is_valid or best.area < MIN_AREA_PX:
        return None
    return best


class _Placer:
    """Accepts footprints (local metres) that overlap nothing accepted before."""

    def __init__(self) -> None:
        self.accepted: list[BaseGeometry] = []

    def add(self, poly: BaseGeometry) -> bool:
        for other in self.accepted:
            if poly.intersects(other) and poly.intersection(other).area > 1e-4:
                return False
        self.accepted.append(poly)
        return True


def _u(rng: np.random.Generator, r: tuple[float, float]) -> float:
    return float(rng.uniform(*r))


def _streets(
    rng: np.random.Generator,
    extent: float,
    spacing: tuple[float, float],
    width: tuple[float, float],
) -> list[tuple[float, float]]:
    """Street centre lines (position, width) across ``[-extent, extent]``."""
    out = []
    pos = -extent - _u(rng, spacing) * rng.random()
    while pos < extent + spacing[1]:
        out.append((pos, _u(rng, width)))
        pos += _u(rng, spacing)
    return out


def layout_tile(
    rng: np.random.Generator, style: CityStyle, size: int, gsd: float
) -> tuple[Layout, Frame, list[tuple[Polygon, float, RoofKind]]]:
    """Roads, blocks and building footprints of one tile.

    Returns the layout (without buildings), the frame and the accepted footprints in
    local metres with their height and roof kind; ``render`` turns them into
    :class:`Building` values once it has picked their colours.
    """
    angle = math.radians(rng.uniform(-style.rotation, style.rotation))
    frame = Frame(size / 2, angle, gsd)
    extent = size * gsd * 0.75  # half-side in metres covering the rotated tile
    tile = box(0, 0, size, size)
    along = _streets(rng, extent, style.block[0], style.road_width)
    across = _streets(rng, extent, style.block[1], style.road_width)
    layout = Layout()
    for pos, w in along:
        layout.roads.append(frame.to_tile(box(pos - w / 2, -2 * extent, pos + w / 2, 2 * extent)))
    for pos, w in across:
        layout.roads.append(frame.to_tile(box(-2 * extent, pos - w / 2, 2 * extent, pos + w / 2)))
    placer = _Placer()
    found: list[tuple[Polygon, float, RoofKind]] = []
    for (u0, wu0), (u1, wu1) in itertools.pairwise(along):
        for (v0, wv0), (v1, wv1) in itertools.pairwise(across):
            blk = box(u0 + wu0 / 2, v0 + wv0 / 2, u1 - wu1 / 2, v1 - wv1 / 2)
            if not frame.to_tile(blk).intersects(tile):
                continue
            walk = _u(rng, (1.5, 2.5))
            inner = blk.buffer(-walk, join_style="mitre")
            if inner.is_empty:
                continue
            layout.sidewalks.append(frame.to_tile(blk.difference(inner)))
            placed, extra = _fill(rng, style, inner.bounds)
            found += [(poly, height, roof) for poly, height, roof in placed if placer.add(poly)]
            for kind, geom in extra:
                getattr(layout, kind).append(frame.to_tile(geom))
    return layout, frame, found


#: decorations of a block: (``Layout`` field, geometry in local metres)
Extra = list[tuple[str, BaseGeometry]]
Placed = list[tuple[Polygon, float, RoofKind]]


def _roof(rng: np.random.Generator, style: CityStyle) -> RoofKind:
    if rng.random() >= style.pitched:
        return "flat"
    return "hip" if rng.random() < 0.6 else "gable"


def _fill(
    rng: np.random.Generator, style: CityStyle, bounds: tuple[float, float, float, float]
) -> tuple[Placed, Extra]:
    """Footprints (local metres) of one block, and its decorations."""
    if style.kind == "perimeter":
        return _perimeter(rng, style, bounds), []
    if style.kind == "slabs" and rng.random() < 0.25:
        return _halls(rng, bounds)
    u0, v0, u1, v1 = bounds
    placed: Placed = []
    extra: Extra = []
    rows = (
        ((v0, v1, 0),)
        if style.kind == "slabs"
        else ((v0, (v0 + v1) / 2, 0), ((v0 + v1) / 2, v1, 1))
    )
    for top, bottom, row in rows:
        u = u0
        while u < u1 - 3.0:
            pitch = _u(rng, style.frontage)
            if style.kind == "slabs":
                pitch += _u(rng, style.building[0])
            pitch = min(pitch, u1 - u)
            if style.kind == "compounds":
                extra.append(("walls", _wall(rectangle(u, top, pitch, bottom - top))))
            if rng.random() < style.occupancy:
                if style.kind == "slabs":
                    p, e = _slab_rows(rng, style, u, pitch, top, bottom)
                else:
                    p, e = _parcel(rng, style, u, pitch, top, bottom, row)
                placed += p
                extra += e
            u += pitch
    return placed, extra


def _parcel(
    rng: np.random.Generator,
    style: CityStyle,
    u: float,
    width: float,
    top: float,
    bottom: float,
    row: int,
) -> tuple[Placed, Extra]:
    """The building(s) of one parcel, fronting the street at ``top`` (row 0) or
    ``bottom`` (row 1)."""
    bw_range, bd_range = style.building
    setback = _u(rng, style.setback)
    w = min(_u(rng, bw_range), width - 2.0)
    d = min(_u(rng, bd_range), bottom - top - setback - 1.5)
    if w < 3.0 or d < 3.0:
        return [], []
    pu = u + rng.uniform(1.0, max(width - w - 1.0, 1.0))
    pv = top + setback if row == 0 else bottom - setback - d
    poly = l_shape(rng, pu, pv, w, d) if rng.random() < style.l_shape else rectangle(pu, pv, w, d)
    if style.jitter:
        poly = affinity.rotate(poly, rng.uniform(-style.jitter, style.jitter), origin="centroid")
    placed: Placed = [(poly, _u(rng, style.height), _roof(rng, style))]
    extra: Extra = []
    if style.kind == "suburb":  # a driveway to the street and maybe a pool behind
        dw = _u(rng, (3.0, 4.5))
        du = pu + (0 if rng.random() < 0.5 else w - dw)
        v_a, v_b = (top, pv) if row == 0 else (pv + d, bottom)
        extra.append(("paved", box(du, v_a, du + dw, v_b)))
        if rng.random() < style.pools:
            pw, pd = _u(rng, (4.0, 8.0)), _u(rng, (3.0, 4.5))
            back = pv + d + 1.5 if row == 0 else pv - 1.5 - pd
            extra.append(("pools", box(pu + 1, back, pu + 1 + pw, back + pd)))
    if style.kind == "compounds" and rng.random() < 0.35:  # a second house, often touching
        w2, d2 = min(_u(rng, bw_range), width - 1.0), _u(rng, bd_range)
        v2 = pv + d if row == 0 else pv - d2
        if rng.random() < 0.5:
            v2 += rng.uniform(0.5, 2.0) * (1 if row == 0 else -1)
        side = rectangle(u + 0.5, v2, w2, d2)
        if side.area > 6 and top <= side.bounds[1] and side.bounds[3] <= bottom:
            placed.append((side, _u(rng, style.height), _roof(rng, style)))
    return placed, extra


def _slab_rows(
    rng: np.random.Generator, style: CityStyle, u: float, width: float, top: float, bottom: float
) -> tuple[Placed, Extra]:
    """A column of parallel slabs across the block (residential compounds)."""
    placed: Placed = []
    length = min(_u(rng, style.building[0]), width - 4.0)
    if length < 10:
        return [], []
    v = top + _u(rng, style.setback)
    while True:
        d = _u(rng, style.building[1])
        if v + d > bottom - 2:
            break
        u_start = u + rng.uniform(1.0, max(width - length - 1.0, 1.0))
        if rng.random() < style.l_shape:
            poly = l_shape(rng, u_start, v, length, d * 1.8)
        else:
            poly = rectangle(u_start, v, length, d)
        if poly.bounds[3] <= bottom - 2:
            placed.append((poly, _u(rng, style.height), _roof(rng, style)))
        v = poly.bounds[3] + _u(rng, (0.9, 1.6)) * d
    return placed, []


def _perimeter(
    rng: np.random.Generator, style: CityStyle, bounds: tuple[float, float, float, float]
) -> Placed:
    """Buildings lining the block's four sides, sharing walls, around a courtyard."""
    u0, v0, u1, v1 = bounds
    dep = _u(rng, style.building[1])
    out: Placed = []

    def run(a0: float, a1: float, make: Callable[[float, float], Polygon]) -> None:
        a = a0
        while a < a1 - 3.0:
            step = min(_u(rng, style.frontage), a1 - a)
            if a1 - (a + step) < 4.0:  # no sliver at the end of the row
                step = a1 - a
            if rng.random() < style.occupancy:
                out.append((make(a, step), _u(rng, style.height), _roof(rng, style)))
            a += step

    if v1 - v0 < 2 * dep + 6:  # a narrow block: one row, through
        run(u0, u1, lambda a, s: rectangle(a, v0, s, v1 - v0))
        return out
    run(u0, u1, lambda a, s: rectangle(a, v0, s, dep))
    run(u0, u1, lambda a, s: rectangle(a, v1 - dep, s, dep))
    if u1 - u0 > 2 * dep + 6:
        run(v0 + dep, v1 - dep, lambda a, s: rectangle(u0, a, dep, s))
        run(v0 + dep, v1 - dep, lambda a, s: rectangle(u1 - dep, a, dep, s))
    return out


def _halls(
    rng: np.random.Generator, bounds: tuple[float, float, float, float]
) -> tuple[Placed, Extra]:
    """An industrial block: a few large flat halls on paved ground."""
    u0, v0, u1, v1 = bounds
    placed: Placed = []
    extra: Extra = [("paved", box(*bounds).buffer(-rng.uniform(2, 6)))]
    for _ in range(int(rng.integers(1, 4))):
        w, d = _u(rng, (25.0, 60.0)), _u(rng, (20.0, 45.0))
        if u1 - u0 - w < 4 or v1 - v0 - d < 4:
            continue
        u, v = rng.uniform(u0 + 2, u1 - w - 2), rng.uniform(v0 + 2, v1 - d - 2)
        placed.append((rectangle(u, v, w, d), _u(rng, (8.0, 14.0)), "flat"))
    return placed, extra


def _wall(plot: Polygon) -> BaseGeometry:
    """A compound's wall: a thin ring on the ground that is *not* a building edge."""
    return shapely.buffer(plot.exterior, 0.25, cap_style="flat", join_style="mitre")


__all__ = [
    "MIN_AREA_PX",
    "PRECISION",
    "Building",
    "Frame",
    "Layout",
    "RoofKind",
    "layout_tile",
    "truth_polygon",
]
