"""SpaceNet / DeepGlobe building data as downloaded: tiles, image products and labels.

Layouts accepted: any folder holding GeoTIFF tiles (``*.tif``/``*.tiff``) anywhere below
it, with labels as truth CSVs (``ImageId,BuildingId,PolygonWKT_Pix``) or one GeoJSON per
tile in map coordinates. That covers the SpaceNet 2 download as it is::

    AOI_2_Vegas_Train/
      RGB-PanSharpen/RGB-PanSharpen_AOI_2_Vegas_img1.tif
      MUL/ MUL-PanSharpen/ PAN/                   (other products of the same tiles)
      geojson/buildings/buildings_AOI_2_Vegas_img1.geojson
      summaryData/AOI_2_Vegas_Train_Building_Solutions.csv

Tile names map to ImageIds by their ``AOI_<n>_<City>_img<k>`` part, else the file stem;
the part before it (``RGB-PanSharpen``) is the tile's *product*. Several products of the
same tiles are normal: one is chosen (``product``, default ``RGB-PanSharpen`` when
present); within a product an ImageId used twice is an error naming both files.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from geoarena.evaluator import city_of
from geoarena.models.data.labels import read_geojson_labels, read_truth_rows
from geoarena.models.data.raster import DataError, raster_info

_IMAGE_ID = re.compile(r"AOI_\d+_[A-Za-z0-9]+_img\d+")
TILE_SUFFIXES = (".tif", ".tiff")
LABEL_SUFFIXES = (".geojson", ".json", ".gpkg", ".shp")
#: the product used when a folder holds several (the RGB product SpaceNet baselines use).
DEFAULT_PRODUCT = "RGB-PanSharpen"
Labels = Literal["auto", "csv", "geojson"]


def image_id_of(path: Path) -> str:
    """ImageId of a tile or label file (the ``AOI_n_City_imgK`` part of its name, else its
    stem without a ``buildings_`` prefix)."""
    match = _IMAGE_ID.search(path.stem)
    return match.group(0) if match else path.stem.removeprefix("buildings_")


def product_of(path: Path) -> str:
    """The image product of a tile (``RGB-PanSharpen_AOI_2_Vegas_img1`` -> ``RGB-PanSharpen``;
    "" for a plain ``AOI_2_Vegas_img1.tif`` or a name without an ImageId)."""
    match = _IMAGE_ID.search(path.stem)
    return path.stem[: match.start()].rstrip("_-") if match else ""


def _files(folder: Path, suffixes: tuple[str, ...]) -> list[Path]:
    return [
        p
        for p in sorted(folder.rglob("*"))
        if p.suffix.lower() in suffixes
        and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    ]


def find_tiles(folder: Path, product: str | None = None) -> dict[str, Path]:
    """ImageId -> tile path below ``folder`` for one image product (hidden folders skipped).

    ``product`` None: the only product present, else ``RGB-PanSharpen``; an error lists the
    products found when that does not decide.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError.of(folder, "image folder not found")
    by_product: dict[str, list[Path]] = defaultdict(list)
    for path in _files(folder, TILE_SUFFIXES):
        by_product[product_of(path)].append(path)
    if not by_product:
        return {}
    chosen = product
    if chosen is None:
        if len(by_product) == 1:
            chosen = next(iter(by_product))
        elif DEFAULT_PRODUCT in by_product:
            chosen = DEFAULT_PRODUCT
        else:
            found = ", ".join(sorted(p or "<none>" for p in by_product))
            raise DataError.of(folder, f"several image products ({found}): set image_product")
    if chosen not in by_product:
        found = ", ".join(sorted(p or "<none>" for p in by_product))
        raise DataError.of(folder, f"no tiles of image product {chosen!r} (found: {found})")
    tiles: dict[str, Path] = {}
    for path in by_product[chosen]:
        image_id = image_id_of(path)
        if image_id in tiles:
            raise DataError.of(path, f"ImageId {image_id} also used by {tiles[image_id]}")
        tiles[image_id] = path
    return tiles


def find_truth_csvs(folder: Path, pattern: str) -> list[Path]:
    return sorted(
        p for p in Path(folder).glob(pattern) if p.is_file() and ".geoarena" not in str(p)
    )


@dataclass(frozen=True)
class Tile:
    """One tile and its buildings (pixel WKT strings in original-tile coordinates)."""

    image_id: str
    path: Path
    wkts: tuple[str, ...]

    @property
    def city(self) -> str:
        return city_of(self.image_id)


def load_split(
    folder: Path,
    truth_glob: str = "**/*.csv",
    *,
    product: str | None = None,
    labels: Labels = "auto",
) -> list[Tile]:
    """Every tile below ``folder`` with its truth; a tile without labels is an error.

    ``labels``: ``csv`` (truth CSVs matching ``truth_glob``), ``geojson`` (one vector file
    per tile, named after its ImageId, in map coordinates), ``auto`` (CSVs if any).
    """
    tiles = find_tiles(folder, product)
    if not tiles:
        raise DataError.of(folder, "no *.tif tiles found")
    csvs = find_truth_csvs(folder, truth_glob) if labels != "geojson" else []
    if labels == "csv" and not csvs:
        raise DataError.of(folder, f"no truth CSV matching {truth_glob!r}")
    if csvs:
        return _with_csv_truth(tiles, csvs)
    return _with_vector_labels(folder, tiles)


def _with_csv_truth(tiles: dict[str, Path], csvs: list[Path]) -> list[Tile]:
    truth = read_truth_rows(csvs)
    missing = [i for i in tiles if i not in truth]
    if missing:
        names = ", ".join(str(tiles[i]) for i in missing[:5])
        raise DataError.of(
            ", ".join(map(str, csvs)),
            f"{len(missing)} tile(s) have no row: {names}; "
            "a tile without buildings needs an 'ImageId,-1,POLYGON EMPTY' row",
        )
    return [Tile(i, p, tuple(w for _, w in truth[i])) for i, p in sorted(tiles.items())]


def _with_vector_labels(folder: Path, tiles: dict[str, Path]) -> list[Tile]:
    files = {image_id_of(p): p for p in _files(folder, LABEL_SUFFIXES)}
    missing = [i for i in tiles if i not in files]
    if len(missing) == len(tiles):
        raise DataError.of(folder, "no labels found: no truth CSV and no per-tile GeoJSON")
    if missing:
        names = ", ".join(str(tiles[i]) for i in missing[:5])
        raise DataError.of(
            folder,
            f"{len(missing)} tile(s) have no label file: {names}; "
            "a tile without buildings needs an empty GeoJSON named after it",
        )
    return [
        Tile(i, p, tuple(read_geojson_labels(files[i], raster_info(p))))
        for i, p in sorted(tiles.items())
    ]


def split_by_city(
    tiles: Sequence[Tile], fraction: float, seed: int
) -> tuple[list[Tile], list[Tile]]:
    """Hold out ``fraction`` of each city's tiles (at least one when fraction > 0)."""
    by_city: dict[str, list[Tile]] = defaultdict(list)
    for tile in tiles:
        by_city[tile.city].append(tile)
    rng = np.random.default_rng(seed)
    train, val = [], []
    for city in sorted(by_city):
        group = by_city[city]
        order = rng.permutation(len(group))
        n_val = 0 if fraction <= 0 else min(max(1, round(fraction * len(group))), len(group) - 1)
        val += [group[i] for i in order[:n_val]]
        train += [group[i] for i in order[n_val:]]
    return train, val


__all__ = [
    "DEFAULT_PRODUCT",
    "Labels",
    "Tile",
    "find_tiles",
    "find_truth_csvs",
    "image_id_of",
    "load_split",
    "product_of",
    "split_by_city",
]
