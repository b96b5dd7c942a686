"""Training targets from building polygons: instance raster, mask and energy.

Coordinates follow SpaceNet pixel WKT: pixel (row r, column c) covers [c, c+1] x [r, r+1],
so its centre is (c + 0.5, r + 0.5). A pixel belongs to a building when its centre lies
inside the polygon.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import shapely
from numpy.typing import NDArray
from scipy import ndimage
from shapely.geometry.base import BaseGeometry
from skimage.draw import polygon as fill_polygon


def _fill_ring(out: NDArray[Any], coords: NDArray[np.float64], value: int | bool) -> None:
    xs, ys = coords[:, 0] - 0.5, coords[:, 1] - 0.5
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
        parts = getattr(geom, "geoms", [geom])
        for part in parts:
            if part.geom_type != "Polygon":
                continue
            region = np.zeros(shape, dtype=bool)
            _fill_ring(region, np.asarray(part.exterior.coords), True)
            for hole in part.interiors:
                _fill_ring(region, np.asarray(hole.coords), False)
            labels[region] = index
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
