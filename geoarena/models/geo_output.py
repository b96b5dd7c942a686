"""Predictions where GIS tools expect them: map coordinates beside pixel coordinates.

The proposals CSV gets ``PolygonWKT_Geo`` (the pixel polygon through the tile's affine
transform, as in SpaceNet's own truth CSVs) next to ``PolygonWKT_Pix``, and the
footprints can be written as GeoJSON or GeoPackage in the imagery's CRS, so they open in
QGIS right on top of the GeoTIFFs. Tiles in different CRSs (several UTM zones) are
written in WGS 84 (EPSG:4326) instead, the one CRS they all share.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyogrio.raw
import shapely
from rasterio.crs import CRS
from rasterio.warp import transform_geom
from shapely.geometry import mapping, shape

from geoarena.models.data.raster import GeoRef
from geoarena.models.postprocess import Instance

DRIVERS = {".geojson": "GeoJSON", ".json": "GeoJSON", ".gpkg": "GPKG"}
HEADER = ["ImageId", "BuildingId", "PolygonWKT_Pix", "PolygonWKT_Geo", "Confidence"]


@dataclass(frozen=True)
class TilePrediction:
    """The buildings found on one raster, in its pixels, and where the raster is."""

    image_id: str
    instances: Sequence[Instance]
    georef: GeoRef


def write_geo_csv(predictions: Sequence[TilePrediction], out_csv: str | Path) -> Path:
    """The SpaceNet proposals CSV with ``PolygonWKT_Geo``; ``POLYGON EMPTY`` rows for
    rasters without buildings. Written to a temporary file, then renamed."""
    out_csv = Path(out_csv)
    out_csv.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_csv.with_name(out_csv.name + ".tmp")
    with open(tmp, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(HEADER)
        for pred in predictions:
            if not pred.instances:
                writer.writerow([pred.image_id, -1, "POLYGON EMPTY", "POLYGON EMPTY", 1.0])
                continue
            polys = [i.polygon for i in pred.instances]
            pix = shapely.to_wkt(polys, rounding_precision=2)
            geo = shapely.to_wkt(pred.georef.to_map(polys), rounding_precision=9)
            for k, (p, g, inst) in enumerate(zip(pix, geo, pred.instances, strict=True), 1):
                writer.writerow([pred.image_id, k, p, g, round(inst.confidence, 4)])
    tmp.replace(out_csv)
    return out_csv


def write_vector(predictions: Sequence[TilePrediction], path: str | Path) -> Path:
    """Footprints as GeoJSON (``.geojson``) or GeoPackage (``.gpkg``) with ``image_id``,
    ``building_id`` and ``confidence`` fields, in the imagery's CRS."""
    path = Path(path)
    driver = DRIVERS.get(path.suffix.lower())
    if driver is None:
        raise ValueError(f"{path}: vector output must end in {', '.join(sorted(DRIVERS))}")
    crss = {p.georef.crs for p in predictions if p.instances}
    if crss == {None}:
        dst = None  # not georeferenced: pixel coordinates, no CRS
    elif len(crss) == 1:
        dst = CRS.from_wkt(next(iter(crss)))
    else:
        dst = CRS.from_epsg(4326)
    geoms, image_ids, numbers, confidence = [], [], [], []
    for pred in predictions:
        mapped = pred.georef.to_map([i.polygon for i in pred.instances])
        if dst is not None and pred.georef.crs is not None and CRS.from_wkt(pred.georef.crs) != dst:
            src = CRS.from_wkt(pred.georef.crs)
            mapped = [shape(transform_geom(src, dst, mapping(g))) for g in mapped]
        for k, (geom, inst) in enumerate(zip(mapped, pred.instances, strict=True), 1):
            geoms.append(geom)
            image_ids.append(pred.image_id)
            numbers.append(k)
            confidence.append(inst.confidence)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    pyogrio.raw.write(
        path,
        geometry=np.asarray(shapely.to_wkb(geoms), dtype=object) if geoms else np.empty(0, object),
        field_data=[
            np.asarray(image_ids, dtype=object),
            np.asarray(numbers, dtype=np.int32),
            np.asarray(confidence, dtype=np.float64),
        ],
        fields=["image_id", "building_id", "confidence"],
        driver=driver,
        geometry_type="Polygon",
        crs=None if dst is None else dst.to_wkt(),
    )
    return path


__all__ = ["DRIVERS", "HEADER", "TilePrediction", "write_geo_csv", "write_vector"]
