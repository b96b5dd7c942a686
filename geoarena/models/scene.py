"""Rasters of any size: read window by window, predicted block by block, stitched seamlessly.

A scene is cut into square *blocks*; each block is predicted on its block plus a
``margin`` on every side (read from disk as a window, so memory is bounded by the block
size, not the scene's) and post-processed there. A building belongs to the block that
holds its representative point, so a building on a seam comes out exactly once, and it
comes out whole because the block saw it with its margin around it: in window mode the
maps of a pixel do not depend on the block they are computed for (``inference.py``), so
the building's polygon is the same in both blocks that see it. Buildings wider than the
margin may come out cut at the edge of a block's margin.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from numpy.typing import NDArray
from rasterio.windows import Window
from shapely import affinity
from shapely.geometry import Point

from geoarena.models.data.normalize import CityNormalizer
from geoarena.models.data.raster import GeoRef, open_raster, read_window
from geoarena.models.inference import Maps, Reader, Region, TilePredictor
from geoarena.models.postprocess import Instance, Thresholds, maps_to_polygons


@dataclass(frozen=True)
class SceneSettings:
    """Block size and margin, in original pixels."""

    block: int = 1024
    margin: int = 128


class RasterScene:
    """A raster on disk, read as normalised uint8 windows (zero outside the raster)."""

    def __init__(
        self,
        path: Path,
        normalizer: CityNormalizer,
        city: str,
        bands: Sequence[int] | None = None,
    ) -> None:
        self.path = Path(path)
        self.ds: rasterio.DatasetReader = open_raster(self.path)
        self.normalizer, self.city, self.bands = normalizer, city, bands
        self.height, self.width = self.ds.height, self.ds.width
        crs = self.ds.crs.to_wkt() if self.ds.crs is not None else None
        self.georef = GeoRef(self.ds.transform, crs)

    def read(self, region: Region) -> NDArray[np.uint8]:
        r0, c0, r1, c1 = region
        window = Window(c0, r0, c1 - c0, r1 - r0)
        raw = read_window(self.ds, bands=self.bands, window=window, source=self.path)
        return self.normalizer(raw, self.city)

    def close(self) -> None:
        self.ds.close()

    def __enter__(self) -> RasterScene:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def blocks(height: int, width: int, block: int) -> list[Region]:
    """The scene's blocks, row by row (the last row and column may be narrower)."""
    return [
        (r, c, min(r + block, height), min(c + block, width))
        for r in range(0, height, block)
        for c in range(0, width, block)
    ]


def predict_scene(
    predictor: TilePredictor,
    read: Reader,
    height: int,
    width: int,
    thresholds: Thresholds,
    settings: SceneSettings = SceneSettings(),
    *,
    on_maps: Callable[[Maps], None] | None = None,
) -> list[Instance]:
    """Buildings of a ``height`` x ``width`` raster, in its pixel coordinates.

    ``on_maps`` receives the maps when the raster fits in one block (a tile), e.g. to
    cache them for threshold tuning.
    """
    found: list[Instance] = []
    margin = settings.margin
    for core in blocks(height, width, settings.block):
        r0, c0, r1, c1 = core
        window = (
            max(r0 - margin, 0),
            max(c0 - margin, 0),
            min(r1 + margin, height),
            min(c1 + margin, width),
        )
        # float16, as cached and as validation post-processes them: a cached map
        # reproduces these polygons exactly
        prob, energy = (
            m.astype(np.float16) for m in predictor.predict(read, height, width, window)
        )
        maps = (prob, energy)
        if on_maps is not None and window == (0, 0, height, width):
            on_maps(maps)
        found += _owned(maps_to_polygons(*maps, thresholds), core, window)
    return found


def _owned(instances: list[Instance], core: Region, window: Region) -> list[Instance]:
    """The instances (window coordinates) whose representative point lies in ``core``,
    moved to scene coordinates."""
    wr0, wc0 = window[0], window[1]
    r0, c0, r1, c1 = core
    out = []
    for inst in instances:
        poly = affinity.translate(inst.polygon, wc0, wr0)
        point: Point = poly.representative_point()
        if r0 <= point.y < r1 and c0 <= point.x < c1:
            out.append(Instance(poly, inst.confidence, inst.area))
    return out


__all__ = ["RasterScene", "SceneSettings", "blocks", "predict_scene"]
