"""Training targets from building polygons: instance raster, mask and energy.

Coordinates follow SpaceNet pixel WKT: pixel (row r, column c) covers [c, c+1] x [r, r+1],
so its centre is (c + 0.5, r + 0.5). A pixel belongs to a building when its centre lies
inside the polygon.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import shapely
from numpy.typing import NDArray
from scipy import ndimage
from shapely.geometry.base import BaseGeometry
from skimage.draw import polygon as fill_polygon

Window = tuple[slice, slice]


def polygon_window(geom: BaseGeometry, shape: tuple[int, int]) -> tuple[Window, NDArray[np.bool_]]:
    """The pixels of ``geom`` (pixel-centre rule, holes cut out) as a boolean window of the
    raster of ``shape``: ``(rows, cols)`` slices and the window's mask.

    Working on the bounding window keeps rasterising a tile's buildings proportional to
    their area, not to the number of buildings times the tile size.
    """
    height, width = shape
    minx, miny, maxx, maxy = geom.bounds
    r0, c0 = max(math.floor(miny - 0.5), 0), max(math.floor(minx - 0.5), 0)
    r1, c1 = min(math.ceil(maxy + 0.5) + 1, height), min(math.ceil(maxx + 0.5) + 1, width)
    window = np.zeros((max(r1 - r0, 0), max(c1 - c0, 0)), dtype=bool)
    if window.size:
        for part in getattr(geom, "geoms", [geom]):
            if part.geom_type != "Polygon" or part.is_empty:
                continue
            _fill_ring(window, np.asarray(part.exterior.coords), True, r0, c0)
            for hole in part.interiors:
                _fill_ring(window, np.asarray(hole.coords), False, r0, c0)
    return (slice(r0, r0 + window.shape[0]), slice(c0, c0 + window.shape[1])), window


def _fill_ring(
    out: NDArray[np.bool_], coords: NDArray[np.float64], value: bool, r0: int, c0: int
) -> None:
    xs, ys = coords[:, 0] - 0.5 - c0, coords[:, 1] - 0.5 - r0
    rr, cc = fill_polygon(ys, xs, shape=out.shape)
    out[rr, cc] = value


def rasterize_instances(
    polygons: Sequence[BaseGeometry], shape: tuple[int, int]
) -> NDArray[np.int32]:
    """Instance raster: 0 = background, i + 1 = ``polygons[i]`` (later ones win overlaps).

    Holes are cut out; empty geometries and non-polygons are skipped.
    """
    labels = np.zeros(shape, dtype=np.int32)
    for index, geom in enumerate(polygons, start=1):
        if geom is None or geom.is_empty:
            continue
        window, region = polygon_window(geom, shape)
        labels[window][region] = index
    return labels


def energy_from_instances(labels: NDArray[np.int32]) -> NDArray[np.float32]:
    """Per-building distance to its own boundary, normalised to [0, 1] per building.

    Distance is measured to the nearest pixel *not of the same building*, so two touching
    buildings each fall to low energy along their shared wall -- the signal the watershed
    uses to separate them. Background is 0; each building's deepest pixel is 1.
    """
    energy = np.zeros(labels.shape, dtype=np.float32)
    for index, sl in enumerate(ndimage.find_objects(labels), start=1):
        if sl is None:
            continue
        # pad by one pixel so that the tile border counts as the building's boundary
        padded = (slice(max(s.start - 1, 0), s.stop + 1) for s in sl)
        window = tuple(padded)
        own = labels[window] == index
        dist = ndimage.distance_transform_edt(np.pad(own, 1))[1:-1, 1:-1]
        peak = dist.max()
        if peak > 0:
            energy[window] = np.where(own, dist / peak, energy[window])
    return energy


def make_targets(
    polygons: Sequence[BaseGeometry], shape: tuple[int, int]
) -> tuple[NDArray[np.uint8], NDArray[np.float32]]:
    """(mask uint8 0/1, energy float32 in [0, 1]) for one tile."""
    labels = rasterize_instances(polygons, shape)
    return (labels > 0).astype(np.uint8), energy_from_instances(labels)


def polygons_from_wkt(wkts: Sequence[str]) -> list[BaseGeometry]:
    """Parse pixel WKT (2-D or 3-D), dropping the z coordinate and empty geometries."""
    geoms = shapely.force_2d(shapely.from_wkt(np.asarray(wkts, dtype=object)))
    return [g for g in geoms if g is not None and not g.is_empty]
