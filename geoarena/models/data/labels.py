"""Building labels as SpaceNet ships them: the summary truth CSV (pixel WKT) or one GeoJSON
file per tile in map coordinates.

GeoJSON labels are read with pyogrio (GDAL's vector drivers), reprojected to the tile's
CRS when theirs differs (rasterio.warp), and converted to the tile's pixels with the
tile's own affine transform, so the rest of the pipeline only ever sees pixel WKT in
original-tile coordinates. Labels that land nowhere near their tile are an error (a wrong
CRS or a mismatched file), not a tile with silently missing buildings.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pyogrio.raw
import shapely
from pyogrio.errors import DataSourceError
from rasterio.crs import CRS
from rasterio.warp import transform_geom
from shapely.geometry import box, mapping, shape
from shapely.geometry.base import BaseGeometry

from geoarena.models.data.raster import DataError, RasterInfo

#: WKT written for converted labels: 3 decimals of a pixel.
_DECIMALS = 3


def read_truth_rows(paths: Iterable[Path]) -> dict[str, list[tuple[int, str]]]:
    """ImageId -> [(BuildingId, pixel WKT)] from SpaceNet truth CSVs (empty rows kept out).

    Every ImageId seen gets an entry, so images whose only row is ``POLYGON EMPTY`` are
    known to be empty rather than missing. Bad rows raise ``DataError`` with file and line.
    """
    csv.field_size_limit(sys.maxsize)
    rows: dict[str, list[tuple[int, str]]] = {}
    for path in paths:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            needed = {"ImageId", "BuildingId", "PolygonWKT_Pix"}
            if reader.fieldnames is None or not needed <= set(reader.fieldnames):
                raise DataError.of(path, f"truth CSV needs columns {sorted(needed)}", line=1)
            for line, row in enumerate(reader, start=2):
                image_id, wkt = (row["ImageId"] or "").strip(), (row["PolygonWKT_Pix"] or "")
                if not image_id:
                    raise DataError.of(path, "empty ImageId", line=line)
                try:
                    building = int(float(row["BuildingId"]))
                except (TypeError, ValueError):
                    raise DataError.of(path, "BuildingId is not a number", line=line) from None
                entry = rows.setdefault(image_id, [])
                if "EMPTY" not in wkt.upper():
                    entry.append((building, wkt.strip()))
    return rows


def read_geojson_labels(path: Path, raster: RasterInfo) -> list[str]:
    """The buildings of one tile's GeoJSON (any OGR vector file) as pixel WKT of the tile.

    An empty file (no features) is an empty tile. Non-polygon features are errors naming
    the feature; so are labels that all lie outside the tile.
    """
    try:
        meta, _, wkb, _ = pyogrio.raw.read(path, read_geometry=True, force_2d=True)
    except DataSourceError as exc:
        if _empty_geojson(path):
            return []
        raise DataError.of(path, f"unreadable labels ({exc})") from None
    if wkb is None or len(wkb) == 0:
        return []
    geoms = shapely.from_wkb(np.asarray(wkb, dtype=object))
    src = meta.get("crs")
    dst = raster.georef.crs
    if src and dst and CRS.from_user_input(src) != CRS.from_wkt(dst):
        geoms = np.asarray(
            [shape(transform_geom(src, CRS.from_wkt(dst), mapping(g))) for g in geoms], dtype=object
        )
    pixels = raster.georef.to_pixels(list(geoms))
    tile = box(0, 0, raster.width, raster.height)
    out: list[BaseGeometry] = []
    for i, geom in enumerate(pixels):
        if geom is None or geom.is_empty:
            continue
        if geom.geom_type not in ("Polygon", "MultiPolygon"):
            raise DataError.of(path, f"feature {i}: expected a polygon, got a {geom.geom_type}")
        out.append(geom)
    if out and not any(g.intersects(tile) for g in out):
        bounds = shapely.total_bounds(np.asarray(out, dtype=object)).round(1).tolist()
        raise DataError.of(
            path,
            f"no label lies on its {raster.width}x{raster.height} tile (pixel bounds {bounds}):"
            " wrong CRS, or labels of another tile?",
        )
    return list(shapely.to_wkt(np.asarray(out, dtype=object), rounding_precision=_DECIMALS))


def _empty_geojson(path: Path) -> bool:
    """A GeoJSON FeatureCollection without features, which GDAL may refuse to open."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and not data.get("features")


__all__ = ["read_geojson_labels", "read_truth_rows"]
