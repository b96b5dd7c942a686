"""Cached probability / energy maps: tune post-processing without running the network.

A ``MapCache`` holds, per tile, the sigmoid mask probability and the predicted energy at
original tile resolution (float16), plus the truth WKTs when the split has truth
(validation). It is stored as one ``.npz`` per split. The sweep's inner search turns the
maps into instances per threshold pair (``maps_to_instances``) and tables per area
(``instances_to_table``), then scores them with ``geoarena.evaluator`` against
``MapCache.truth_table()``; ``maps_to_table`` does both at once.
"""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from geoarena.evaluator import PolygonTable
from geoarena.models.postprocess import (
    Instance,
    Row,
    Thresholds,
    instances_to_rows,
    maps_to_polygons,
)

Map = NDArray[np.floating[Any]]

_FORMAT = "geoarena-maps/1"


@dataclass
class MapCache:
    """image_id -> (prob, energy) float16 maps, and optionally image_id -> truth WKTs.

    The maps may be plain dicts (built in memory with ``add``) or read lazily, one tile at
    a time, from a ``.npz`` on disk (``load_maps``): a SpaceNet validation split's maps
    are gigabytes, and nothing needs them all at once.
    """

    prob: Mapping[str, Map] = field(default_factory=dict)
    energy: Mapping[str, Map] = field(default_factory=dict)
    truth: dict[str, list[str]] | None = None

    def add(self, image_id: str, prob: Map, energy: Map) -> None:
        if not isinstance(self.prob, dict) or not isinstance(self.energy, dict):
            raise TypeError("maps read from disk are read-only")
        self.prob[image_id] = np.asarray(prob, dtype=np.float16)
        self.energy[image_id] = np.asarray(energy, dtype=np.float16)

    @property
    def image_ids(self) -> list[str]:
        return sorted(self.prob)

    def __len__(self) -> int:
        return len(self.prob)

    def select(self, image_ids: Sequence[str]) -> MapCache:
        """The maps (and truth) of ``image_ids`` only (lazily read maps stay lazy)."""
        truth = None if self.truth is None else {i: self.truth.get(i, []) for i in image_ids}
        return MapCache(
            prob=_Subset(self.prob, image_ids),
            energy=_Subset(self.energy, image_ids),
            truth=truth,
        )

    def items(self) -> Iterator[tuple[str, Map, Map]]:
        for image_id in self.image_ids:
            yield image_id, self.prob[image_id], self.energy[image_id]

    def truth_table(self) -> PolygonTable:
        """The stored truth as a ``PolygonTable`` (empty tiles as ``POLYGON EMPTY`` rows)."""
        if self.truth is None:
            raise ValueError("these maps were cached without truth (not a validation split)")
        return truth_table(self.truth, self.image_ids)


def truth_table(truth: Mapping[str, Sequence[str]], image_ids: Sequence[str]) -> PolygonTable:
    """Truth WKTs of ``image_ids`` as a ``PolygonTable`` (empty tiles as ``POLYGON EMPTY``)."""
    ids: list[str] = []
    bids: list[int] = []
    wkts: list[str] = []
    for image_id in image_ids:
        polys = truth.get(image_id, [])
        for k, wkt in enumerate(polys or ["POLYGON EMPTY"], start=1):
            ids.append(image_id)
            bids.append(k if polys else -1)
            wkts.append(wkt)
    return PolygonTable.from_wkt(ids, bids, wkts, name="<cached truth>")


class _Subset(Mapping[str, Map]):
    def __init__(self, maps: Mapping[str, Map], keys: Sequence[str]) -> None:
        self.maps, self.keys_ = maps, list(keys)

    def __getitem__(self, key: str) -> Map:
        if key not in self.keys_:
            raise KeyError(key)
        return self.maps[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys_)

    def __len__(self) -> int:
        return len(self.keys_)


class _NpzMaps(Mapping[str, Map]):
    """One kind of map (``prob`` or ``energy``) of an ``.npz``, read on access."""

    def __init__(self, data: np.lib.npyio.NpzFile, kind: str, image_ids: Sequence[str]) -> None:
        self.data, self.kind = data, kind
        self.index = {image_id: i for i, image_id in enumerate(image_ids)}

    def __getitem__(self, key: str) -> Map:
        return np.asarray(self.data[f"{self.kind}_{self.index[key]}"])

    def __iter__(self) -> Iterator[str]:
        return iter(self.index)

    def __len__(self) -> int:
        return len(self.index)


class MapWriter:
    """Writes a split's maps into an ``.npz`` one tile at a time (bounded memory).

    The archive is written to a temporary name and only appears under ``path`` on
    :meth:`close`; :meth:`discard` drops it (a validation epoch that is not the best).
    """

    def __init__(self, path: str | Path, truth: Mapping[str, Sequence[str]] | None = None) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        self.zip = zipfile.ZipFile(self.tmp, "w", compression=zipfile.ZIP_STORED, allowZip64=True)
        self.truth = None if truth is None else {k: list(v) for k, v in truth.items()}
        self.image_ids: list[str] = []

    def add(self, image_id: str, prob: Map, energy: Map) -> None:
        i = len(self.image_ids)
        self.image_ids.append(image_id)
        for kind, array in (("prob", prob), ("energy", energy)):
            with self.zip.open(f"{kind}_{i}.npy", "w", force_zip64=True) as fh:
                np.lib.format.write_array(fh, np.asarray(array, np.float16), allow_pickle=False)

    def close(self) -> Path:
        """Finish the archive and move it into place; returns ``path``."""
        meta = {"format": _FORMAT, "image_ids": self.image_ids, "truth": self.truth}
        with self.zip.open("meta.npy", "w") as fh:
            payload = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
            np.lib.format.write_array(fh, payload, allow_pickle=False)
        self.zip.close()
        self.tmp.replace(self.path)
        return self.path

    def discard(self) -> None:
        self.zip.close()
        self.tmp.unlink(missing_ok=True)


def save_maps(path: str | Path, maps: MapCache) -> Path:
    """Write ``maps`` to one uncompressed ``.npz`` (written to a temp file, then renamed)."""
    writer = MapWriter(path, maps.truth)
    for image_id, prob, energy in maps.items():
        writer.add(image_id, prob, energy)
    return writer.close()


def load_maps(path: str | Path) -> MapCache:
    """Open a ``.npz`` written by ``MapWriter`` / ``save_maps``; maps are read on access."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"cached maps not found: {path}")
    data = np.load(path)
    if "meta" not in data:
        raise ValueError(f"{path}: not a geoarena map cache")
    meta = json.loads(bytes(data["meta"]).decode())
    if meta.get("format") != _FORMAT:
        raise ValueError(f"{path}: unsupported map cache format {meta.get('format')!r}")
    ids = meta["image_ids"]
    return MapCache(_NpzMaps(data, "prob", ids), _NpzMaps(data, "energy", ids), meta["truth"])


def maps_to_instances(
    maps: MapCache, thresholds: Thresholds, *, method: str = "watershed"
) -> dict[str, list[Instance]]:
    """The buildings of every cached tile at ``thresholds``."""
    return {
        image_id: maps_to_polygons(prob, energy, thresholds, method=method)
        for image_id, prob, energy in maps.items()
    }


def instances_to_table(
    instances: Mapping[str, Sequence[Instance]], *, name: str = "<proposals>"
) -> PolygonTable:
    """A proposals ``PolygonTable`` of tiles' instances (``POLYGON EMPTY`` for a tile
    without any), ready for the evaluator."""
    rows: list[Row] = []
    for image_id, found in instances.items():
        rows.extend(instances_to_rows(image_id, found))
    ids, bids, wkts, confs = zip(*rows, strict=True) if rows else ((), (), (), ())
    return PolygonTable.from_wkt(ids, bids, wkts, confs, name=name)


def maps_to_table(
    maps: MapCache, thresholds: Thresholds, *, method: str = "watershed"
) -> PolygonTable:
    """Proposals ``PolygonTable`` for every cached tile, ready for ``evaluator.score``."""
    return instances_to_table(maps_to_instances(maps, thresholds, method=method))


__all__ = [
    "MapCache",
    "MapWriter",
    "instances_to_table",
    "load_maps",
    "maps_to_instances",
    "maps_to_table",
    "save_maps",
    "truth_table",
]
