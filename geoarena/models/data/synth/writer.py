"""Writing a synthetic data set: georeferenced GeoTIFFs and SpaceNet truth, all or nothing.

Tiles are LZW-compressed GeoTIFFs with a transform and a CRS (each city in its own UTM
zone, tiles side by side), so the georeferenced paths -- labels in map coordinates,
``PolygonWKT_Geo``, GeoJSON / GeoPackage output -- run on synthetic data too. 16-bit
output mimics WorldView-3 pan-sharpened products: 11-bit digital numbers with per-city,
per-band gains and offsets, most of them in the low few hundreds.

The set is written into a temporary sibling folder and renamed into place at the end, so
a failure never leaves a partial set behind, and an existing non-empty folder is never
mixed with new tiles (stale tiles would later score as false positives): it is refused,
or replaced as a whole with ``overwrite=True``.
"""

from __future__ import annotations

import contextlib
import csv
import os
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pyogrio.raw
import rasterio
import shapely
from affine import Affine
from numpy.typing import NDArray
from rasterio.crs import CRS
from shapely import affinity
from shapely.geometry.base import BaseGeometry

from geoarena.errors import Conflict
from geoarena.models.data.synth.layout import Building
from geoarena.models.data.synth.render import RGB_BANDS, render_tile
from geoarena.models.data.synth.styles import CITIES, CityStyle

#: city -> (EPSG code of its UTM zone, easting, northing of its first tile)
_PLACES = {
    "Gridvale": (32611, 660_000.0, 4_000_000.0),
    "Oldtown": (32631, 450_000.0, 5_410_000.0),
    "Towerpark": (32651, 350_000.0, 3_450_000.0),
    "Sandfield": (32636, 450_000.0, 1_720_000.0),
}
Layout = Literal["flat", "spacenet"]


def georeference(style: CityStyle, k: int, size: int, gsd: float) -> tuple[Affine, CRS]:
    """Transform and CRS of tile ``k`` of a city: tiles side by side in rows of 100."""
    epsg, east, north = _PLACES[style.name]
    x0 = east + (k % 100) * size * gsd
    y0 = north - (k // 100) * size * gsd
    return Affine(gsd, 0.0, x0, 0.0, -gsd, y0), CRS.from_epsg(epsg)


def to_digital_numbers(
    image: NDArray[np.float32], style: CityStyle, bits: int
) -> NDArray[np.uint8 | np.uint16]:
    """Reflectance -> stored pixels: 8-bit linear, or 11-bit WorldView-like numbers in
    uint16 with the city's own band gains and offsets (each city needs its own stretch)."""
    if bits == 8:
        return np.clip(np.round(image * 255.0), 0, 255).astype(np.uint8)
    rng = np.random.default_rng(style.aoi)
    gains = 380.0 + 90.0 * style.aoi + rng.uniform(-60, 60, image.shape[-1])
    offsets = 40.0 * style.aoi + rng.uniform(0, 40, image.shape[-1])
    dn = offsets + gains * image**1.15
    return np.clip(np.round(dn), 0, 2047).astype(np.uint16)


def write_geotiff(path: Path, pixels: NDArray[np.generic], transform: Affine, crs: CRS) -> None:
    """(H, W, C) pixels as an LZW-compressed, tiled GeoTIFF."""
    height, width, count = pixels.shape
    tiled = height >= 256 and width >= 256
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=width,
        height=height,
        count=count,
        dtype=pixels.dtype,
        crs=crs,
        transform=transform,
        compress="lzw",
        tiled=tiled,
        **({"blockxsize": 256, "blockysize": 256} if tiled else {}),
    ) as ds:
        ds.write(np.moveaxis(pixels, -1, 0))


@contextlib.contextmanager
def replacing(out: Path, *, overwrite: bool) -> Iterator[Path]:
    """A temporary folder that becomes ``out`` when the block succeeds (removed if not)."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())) and not overwrite:
        raise Conflict(
            f"{out} already exists and is not empty: new tiles would mix with stale ones "
            "(pass overwrite / --overwrite to replace the folder)"
        )
    tmp = out.parent / f".{out.name}.partial-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if out.exists():
        shutil.rmtree(out) if out.is_dir() else out.unlink()
    tmp.rename(out)


def write_synthetic(
    out: str | Path,
    *,
    tiles: int = 40,
    seed: int = 0,
    size: int = 650,
    cities: list[str] | None = None,
    bits: int = 8,
    bands: int = 3,
    gsd: float = 0.3,
    layout: Layout = "flat",
    overwrite: bool = False,
) -> Path:
    """Write ``tiles`` tiles (round-robin over ``cities``) and their truth into ``out``.

    ``layout="flat"``: ``out/images/AOI_<n>_<City>_img<k>.tif`` and ``out/truth.csv``.
    ``layout="spacenet"``: the SpaceNet 2 download layout, one ``AOI_<n>_<City>_Train``
    folder per city with ``RGB-PanSharpen/``, ``MUL-PanSharpen/`` (8 bands), ``PAN/``,
    ``geojson/buildings/`` (labels in map coordinates) and ``summaryData/*.csv``.
    ``bands`` (3 or 8) is what the flat layout's tiles hold; ``gsd`` is metres per pixel.
    Returns the truth CSV (the flat one, or the first city's summary CSV).
    """
    names = cities or list(CITIES)
    unknown = [c for c in names if c not in CITIES]
    if unknown:
        raise ValueError(f"unknown synthetic cities {unknown}; choose from {sorted(CITIES)}")
    if bits not in (8, 16):
        raise ValueError(f"bits must be 8 or 16, got {bits}")
    if bands not in (3, 8):
        raise ValueError(f"bands must be 3 or 8, got {bands}")
    if not 0.05 <= gsd <= 5:
        raise ValueError(f"gsd must be between 0.05 and 5 metres per pixel, got {gsd}")
    out = Path(out)
    rng = np.random.default_rng(seed)
    with replacing(out, overwrite=overwrite) as tmp:
        writer = _SpaceNetWriter(tmp) if layout == "spacenet" else _FlatWriter(tmp)
        for k in range(tiles):
            style = CITIES[names[k % len(names)]]
            image, buildings = render_tile(rng, style, size, gsd)
            transform, crs = georeference(style, k, size, gsd)
            pixels = to_digital_numbers(image, style, bits)
            image_id = f"AOI_{style.aoi}_{style.name}_img{k}"
            writer.tile(
                SynthTile(
                    image_id,
                    style,
                    pixels if bands == 8 else pixels[..., list(RGB_BANDS)],
                    transform,
                    crs,
                    buildings,
                )
            )
        truth = writer.close()
    return out / truth.relative_to(tmp)


def truth_rows(image_id: str, buildings: list[Building], transform: Affine) -> list[list[object]]:
    """SpaceNet truth rows (pixel and map WKT); an empty tile gets one ``POLYGON EMPTY``."""
    if not buildings:
        return [[image_id, -1, "POLYGON EMPTY", "POLYGON EMPTY"]]
    polys = [b.polygon for b in buildings]
    pix = shapely.to_wkt(polys, rounding_precision=2)
    geo = shapely.to_wkt(to_map(polys, transform), rounding_precision=3)
    return [[image_id, i, p, g] for i, (p, g) in enumerate(zip(pix, geo, strict=True), start=1)]


def to_map(polys: Sequence[BaseGeometry], transform: Affine) -> list[BaseGeometry]:
    """Pixel geometries -> map coordinates with the tile's affine transform."""
    t = transform
    return [affinity.affine_transform(p, [t.a, t.b, t.d, t.e, t.c, t.f]) for p in polys]


HEADER = ["ImageId", "BuildingId", "PolygonWKT_Pix", "PolygonWKT_Geo"]


@dataclass(frozen=True)
class SynthTile:
    """One rendered tile on its way to disk: what each folder layout writes out."""

    image_id: str
    style: CityStyle
    #: digital numbers, (height, width, bands), the bands the layout's tiles hold.
    pixels: NDArray[np.generic]
    transform: Affine
    crs: CRS
    buildings: list[Building]


class _FlatWriter:
    def __init__(self, root: Path) -> None:
        (root / "images").mkdir()
        self.truth = root / "truth.csv"
        self.fh = open(self.truth, "w", newline="")  # noqa: SIM115 (closed in close())
        self.csv = csv.writer(self.fh)
        self.csv.writerow(HEADER)
        self.root = root

    def tile(self, t: SynthTile) -> None:
        write_geotiff(self.root / "images" / f"{t.image_id}.tif", t.pixels, t.transform, t.crs)
        self.csv.writerows(truth_rows(t.image_id, t.buildings, t.transform))

    def close(self) -> Path:
        self.fh.close()
        return self.truth


class _SpaceNetWriter:
    """The SpaceNet 2 download layout, several image products next to each other."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.summaries: dict[str, list[list[object]]] = {}

    def tile(self, t: SynthTile) -> None:
        aoi = f"AOI_{t.style.aoi}_{t.style.name}"
        city = self.root / f"{aoi}_Train"
        for sub in ("RGB-PanSharpen", "MUL-PanSharpen", "PAN", "geojson/buildings", "summaryData"):
            (city / sub).mkdir(parents=True, exist_ok=True)
        pixels, name = t.pixels, t.image_id
        rgb = pixels[..., list(RGB_BANDS)] if pixels.shape[-1] == 8 else pixels
        write_geotiff(
            city / "RGB-PanSharpen" / f"RGB-PanSharpen_{name}.tif", rgb, t.transform, t.crs
        )
        if pixels.shape[-1] == 8:
            write_geotiff(
                city / "MUL-PanSharpen" / f"MUL-PanSharpen_{name}.tif", pixels, t.transform, t.crs
            )
        pan = (
            pixels[..., : min(pixels.shape[-1], 3)]
            .mean(axis=-1, keepdims=True)
            .astype(pixels.dtype)
        )
        write_geotiff(city / "PAN" / f"PAN_{name}.tif", pan, t.transform, t.crs)
        write_label_geojson(
            city / "geojson" / "buildings" / f"buildings_{name}.geojson",
            t.buildings,
            t.transform,
            t.crs,
        )
        self.summaries.setdefault(aoi, []).extend(truth_rows(name, t.buildings, t.transform))

    def close(self) -> Path:
        paths = []
        for aoi, rows in self.summaries.items():
            path = (
                self.root / f"{aoi}_Train" / "summaryData" / f"{aoi}_Train_Building_Solutions.csv"
            )
            with open(path, "w", newline="") as fh:
                writer = csv.writer(fh)
                writer.writerow(HEADER)
                writer.writerows(rows)
            paths.append(path)
        return paths[0]


def write_label_geojson(path: Path, buildings: list[Building], transform: Affine, crs: CRS) -> None:
    """One tile's buildings as GeoJSON in map coordinates (SpaceNet's per-tile labels)."""
    geoms = to_map([b.polygon for b in buildings], transform)
    pyogrio.raw.write(
        path,
        geometry=np.asarray(shapely.to_wkb(geoms), dtype=object)
        if geoms
        else np.empty(0, dtype=object),
        field_data=[np.arange(1, len(geoms) + 1, dtype=np.int32)],
        fields=["building_id"],
        driver="GeoJSON",
        geometry_type="Polygon",
        crs=crs.to_string(),
    )


__all__ = [
    "georeference",
    "to_digital_numbers",
    "to_map",
    "write_geotiff",
    "write_label_geojson",
    "write_synthetic",
]
