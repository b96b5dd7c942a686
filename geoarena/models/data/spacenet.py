"""Reader for SpaceNet / DeepGlobe building data: GeoTIFF tiles and the summary truth CSV.

Layout accepted: any folder holding RGB tiles (``*.tif``/``*.tiff``, 8- or 16-bit, HWC or
CHW) anywhere below it, plus one or more truth CSVs (``ImageId,BuildingId,PolygonWKT_Pix``)
matching a glob. Tile file names map to ImageIds by their ``AOI_<n>_<City>_img<k>`` part
(``RGB-PanSharpen_AOI_2_Vegas_img12.tif`` -> ``AOI_2_Vegas_img12``), else the file stem.
16-bit tiles are mapped to 8 bits with per-city, per-band percentiles.
"""

from __future__ import annotations

import csv
import re
import sys
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import tifffile
from numpy.typing import NDArray

from geoarena.errors import InvalidInput, Problem
from geoarena.evaluator import city_of

_IMAGE_ID = re.compile(r"AOI_\d+_[A-Za-z0-9]+_img\d+")
TILE_SUFFIXES = (".tif", ".tiff")


class DataError(InvalidInput):
    """Unusable input data; each problem names the file (and line) and the reason."""

    @classmethod
    def of(cls, file: str | Path, reason: str, *, line: int = 0) -> DataError:
        """One problem of one file (``line`` 0: the whole file)."""
        return cls([Problem(str(file), line, "", reason)])


def image_id_of(path: Path) -> str:
    """ImageId of a tile file (the ``AOI_n_City_imgK`` part of its name, else its stem)."""
    match = _IMAGE_ID.search(path.stem)
    return match.group(0) if match else path.stem


def find_tiles(folder: Path) -> dict[str, Path]:
    """ImageId -> tile path for every tile below ``folder`` (hidden folders skipped)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError.of(folder, "image folder not found")
    tiles: dict[str, Path] = {}
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder).parts
        if path.suffix.lower() not in TILE_SUFFIXES or any(p.startswith(".") for p in rel):
            continue
        image_id = image_id_of(path)
        if image_id in tiles:
            raise DataError.of(path, f"ImageId {image_id} also used by {tiles[image_id]}")
        tiles[image_id] = path
    return tiles


def read_raw_tile(path: Path) -> NDArray[np.uint8 | np.uint16]:
    """Read a tile as (H, W, 3) of its stored dtype; clear errors name the file."""
    path = Path(path)
    if not path.is_file():
        raise DataError.of(path, "tile not found")
    try:
        arr = np.asarray(tifffile.imread(path))
    except Exception as exc:  # tifffile raises many types for corrupt files
        raise DataError.of(path, f"unreadable tile ({type(exc).__name__}: {exc})") from None
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    elif arr.ndim == 3 and arr.shape[0] < arr.shape[-1] and arr.shape[0] <= 16:
        arr = np.moveaxis(arr, 0, -1)  # CHW -> HWC
    if arr.ndim != 3 or arr.shape[2] < 3:
        raise DataError.of(path, f"expected an RGB tile, got array of shape {arr.shape}")
    if arr.dtype not in (np.uint8, np.uint16):
        raise DataError.of(path, f"expected 8- or 16-bit pixels, got {arr.dtype}")
    return np.ascontiguousarray(arr[:, :, :3])


@dataclass
class CityNormalizer:
    """Per-city, per-band percentile stretch of 16-bit tiles to uint8 (8-bit tiles pass).

    SpaceNet's 16-bit pan-sharpened tiles differ in range between cities, so one global
    scaling would leave some cities dark; fitting per city keeps each one's contrast.
    """

    percentiles: tuple[float, float] = (1.0, 99.0)
    #: city -> (low[3], high[3])
    ranges: dict[str, tuple[list[float], list[float]]] = field(default_factory=dict)

    def fit(self, tiles: dict[str, Path], *, sample: int = 32, seed: int = 0) -> CityNormalizer:
        """Fit ranges on up to ``sample`` 16-bit tiles per city (8-bit cities need none)."""
        by_city: dict[str, list[Path]] = defaultdict(list)
        for image_id, path in sorted(tiles.items()):
            by_city[city_of(image_id)].append(path)
        rng = np.random.default_rng(seed)
        for city, paths in by_city.items():
            chosen = rng.permutation(len(paths))[:sample]
            pixels = []
            for i in chosen:
                arr = read_raw_tile(paths[i])
                if arr.dtype != np.uint16:
                    break
                pixels.append(arr[::4, ::4].reshape(-1, 3))
            if pixels:
                stacked = np.concatenate(pixels)
                low, high = np.percentile(stacked, self.percentiles, axis=0)
                self.ranges[city] = (low.tolist(), np.maximum(high, low + 1).tolist())
        return self

    def __call__(self, arr: NDArray[np.uint8 | np.uint16], city: str) -> NDArray[np.uint8]:
        if arr.dtype == np.uint8:
            return arr.astype(np.uint8, copy=False)
        if city not in self.ranges:
            raise DataError.of(city, "no 16-bit normalisation fitted for this city")
        low, high = (np.asarray(v, dtype=np.float32) for v in self.ranges[city])
        scaled = (arr.astype(np.float32) - low) / (high - low) * 255.0
        return np.clip(scaled, 0, 255).astype(np.uint8)

    def to_dict(self) -> dict[str, Any]:
        """The checkpoint's spelling (plain lists: checkpoints load with weights only)."""
        return {"percentiles": list(self.percentiles), "ranges": self.ranges}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CityNormalizer:
        ranges = {k: (list(v[0]), list(v[1])) for k, v in data.get("ranges", {}).items()}
        low, high = data.get("percentiles", (1.0, 99.0))
        return cls((float(low), float(high)), ranges)


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


def find_truth_csvs(folder: Path, pattern: str) -> list[Path]:
    paths = sorted(
        p for p in Path(folder).glob(pattern) if p.is_file() and ".geoarena" not in str(p)
    )
    if not paths:
        raise DataError.of(folder, f"no truth CSV matching {pattern!r}")
    return paths


@dataclass(frozen=True)
class Tile:
    """One tile and its buildings (pixel WKT strings in original-tile coordinates)."""

    image_id: str
    path: Path
    wkts: tuple[str, ...]

    @property
    def city(self) -> str:
        return city_of(self.image_id)


def load_split(folder: Path, truth_glob: str = "**/*.csv") -> list[Tile]:
    """Every tile below ``folder`` with its truth; a tile without truth rows is an error."""
    tiles = find_tiles(folder)
    if not tiles:
        raise DataError.of(folder, "no *.tif tiles found")
    csvs = find_truth_csvs(folder, truth_glob)
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
