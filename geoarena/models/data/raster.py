"""Reading GeoTIFF tiles and scenes with rasterio: pixels, georeference, bands, nodata.

GDAL reads every TIFF compression (LZW, DEFLATE, JPEG, ZSTD, ...) without extra codec
packages, 8- and 16-bit pixels, any number of bands, and windows of scenes of any size,
so one reader serves training tiles and large-scene prediction. Each raster keeps its
affine transform and CRS (:class:`GeoRef`) so that labels in map coordinates can be
converted to pixels, and predictions back to map coordinates.

The network sees three bands: ``bands`` (1-based) picks them; by default the RGB of a
3- or 4-band product, (red, green, blue) = (5, 3, 2) of an 8-band WorldView-3 product,
and a single band repeated. Nodata pixels (the raster's nodata value or mask) are set to
0, which the normalisation maps to black.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from numpy.typing import NDArray
from rasterio.errors import NotGeoreferencedWarning, RasterioIOError
from rasterio.windows import Window
from shapely import affinity
from shapely.geometry.base import BaseGeometry

from geoarena.errors import InvalidInput, Problem

Pixels = NDArray[np.uint8 | np.uint16]


class DataError(InvalidInput):
    """Unusable input data; each problem names the file (and line) and the reason."""

    @classmethod
    def of(cls, file: str | Path, reason: str, *, line: int = 0) -> DataError:
        """One problem of one file (``line`` 0: the whole file)."""
        return cls([Problem(str(file), line, "", reason)])


@dataclass(frozen=True)
class GeoRef:
    """Where a raster's pixels are: its affine transform (pixel -> map) and CRS."""

    transform: Affine
    #: the CRS as WKT (None: not georeferenced, map = pixel coordinates)
    crs: str | None

    def to_map(self, geoms: Sequence[BaseGeometry]) -> list[BaseGeometry]:
        """Pixel geometries (SpaceNet convention, pixel corners) -> map coordinates."""
        return _affine(geoms, self.transform)

    def to_pixels(self, geoms: Sequence[BaseGeometry]) -> list[BaseGeometry]:
        """Map geometries -> pixel coordinates of this raster."""
        return _affine(geoms, ~self.transform)

    def shifted(self, row: int, col: int) -> GeoRef:
        """The georeference of a window starting at (``row``, ``col``)."""
        return GeoRef(self.transform * Affine.translation(col, row), self.crs)


def _affine(geoms: Sequence[BaseGeometry], t: Affine) -> list[BaseGeometry]:
    matrix = [t.a, t.b, t.d, t.e, t.c, t.f]
    return [affinity.affine_transform(g, matrix) for g in geoms]


def default_bands(count: int) -> tuple[int, int, int]:
    """The three bands (1-based) the network sees by default for a ``count``-band raster."""
    if count == 1:
        return (1, 1, 1)
    if count == 8:
        return (5, 3, 2)  # WorldView-3 MUL order: coastal, blue, green, yellow, red, ...
    if count >= 3:
        return (1, 2, 3)
    raise ValueError(f"cannot pick RGB from a {count}-band raster: set `bands`")


@dataclass(frozen=True)
class RasterInfo:
    height: int
    width: int
    count: int
    dtype: str
    georef: GeoRef


def open_raster(path: Path) -> rasterio.DatasetReader:
    """Open ``path``; a missing or unreadable file is a ``DataError`` naming it."""
    path = Path(path)
    if not path.is_file():
        raise DataError.of(path, "tile not found")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            return rasterio.open(path)
    except RasterioIOError as exc:
        raise DataError.of(path, f"unreadable tile ({exc})") from None


def raster_info(path: Path) -> RasterInfo:
    with open_raster(path) as ds:
        return RasterInfo(ds.height, ds.width, ds.count, ds.dtypes[0], _georef(ds))


def _georef(ds: rasterio.DatasetReader) -> GeoRef:
    crs = ds.crs.to_wkt() if ds.crs is not None else None
    return GeoRef(ds.transform, crs)


def read_georef(path: Path) -> GeoRef:
    """The transform and CRS of a raster (identity / None when not georeferenced)."""
    return raster_info(path).georef


def read_raw_tile(
    path: Path, *, bands: Sequence[int] | None = None, window: Window | None = None
) -> Pixels:
    """Three bands of a raster (or of a ``window`` of it, padded with 0 outside) as
    (H, W, 3) of its stored dtype (uint8 or uint16); nodata pixels are 0."""
    with open_raster(path) as ds:
        return read_window(ds, bands=bands, window=window, source=path)


def read_window(
    ds: rasterio.DatasetReader,
    *,
    bands: Sequence[int] | None = None,
    window: Window | None = None,
    source: Path | str = "",
) -> Pixels:
    """(H, W, 3) pixels of an open raster (see :func:`read_raw_tile`)."""
    source = source or ds.name
    dtype = ds.dtypes[0]
    if dtype not in ("uint8", "uint16"):
        raise DataError.of(source, f"expected 8- or 16-bit pixels, got {dtype}")
    try:
        chosen = tuple(bands) if bands is not None else default_bands(ds.count)
    except ValueError as exc:
        raise DataError.of(source, str(exc)) from None
    if any(not 1 <= b <= ds.count for b in chosen):
        raise DataError.of(source, f"bands {list(chosen)} not in 1..{ds.count}")
    boundless = window is not None
    try:
        unique = sorted(set(chosen))
        data = ds.read(unique, window=window, boundless=boundless, fill_value=0)
        valid = ds.read_masks(unique[0], window=window, boundless=boundless) > 0
    except RasterioIOError as exc:
        raise DataError.of(source, f"unreadable tile ({exc})") from None
    stack = np.stack([data[unique.index(b)] for b in chosen], axis=-1)
    if not valid.all():
        stack[~valid] = 0
    return np.ascontiguousarray(stack)


__all__ = [
    "DataError",
    "GeoRef",
    "Pixels",
    "RasterInfo",
    "default_bands",
    "open_raster",
    "raster_info",
    "read_georef",
    "read_raw_tile",
    "read_window",
]
