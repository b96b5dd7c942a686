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
    """image_id -> (prob, energy) float16 maps, and optionally image_id -> truth WKTs."""

    prob: dict[str, Map] = field(default_factory=dict)
    energy: dict[str, Map] = field(default_factory=dict)
    truth: dict[str, list[str]] | None = None

    def add(self, image_id: str, prob: Map, energy: Map) -> None:
        self.prob[image_id] = np.asarray(prob, dtype=np.float16)
        self.energy[image_id] = np.asarray(energy, dtype=np.float16)

    @property
    def image_ids(self) -> list[str]:
        return sorted(self.prob)

    def __len__(self) -> int:
        return len(self.prob)

    def select(self, image_ids: Sequence[str]) -> MapCache:
        """The maps (and truth) of ``image_ids`` only, sharing their arrays."""
        truth = None if self.truth is None else {i: self.truth.get(i, []) for i in image_ids}
        return MapCache(
            prob={i: self.prob[i] for i in image_ids},
            energy={i: self.energy[i] for i in image_ids},
            truth=truth,
        )

    def items(self) -> Iterator[tuple[str, Map, Map]]:
        for image_id in self.image_ids:
            yield image_id, self.prob[image_id], self.energy[image_id]

    def truth_table(self) -> PolygonTable:
        """The stored truth as a ``PolygonTable`` (empty tiles as ``POLYGON EMPTY`` rows)."""
        if self.truth is None:
            raise ValueError("these maps were cached without truth (not a validation split)")
        ids: list[str] = []
        bids: list[int] = []
        wkts: list[str] = []
        for image_id in self.image_ids:
            polys = self.truth.get(image_id, [])
            for k, wkt in enumerate(polys or ["POLYGON EMPTY"], start=1):
                ids.append(image_id)
                bids.append(k if polys else -1)
                wkts.append(wkt)
        return PolygonTable.from_wkt(ids, bids, wkts, name="<cached truth>")


def save_maps(path: str | Path, maps: MapCache) -> Path:
    """Write ``maps`` to one uncompressed ``.npz`` (written to a temp file, then renamed)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays: dict[str, NDArray[Any]] = {}
    for i, image_id in enumerate(maps.image_ids):
        arrays[f"prob_{i}"] = maps.prob[image_id]
        arrays[f"energy_{i}"] = maps.energy[image_id]
    meta = {"format": _FORMAT, "image_ids": maps.image_ids, "truth": maps.truth}
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, allow_pickle=False, **arrays)
    tmp.replace(path)
    return path


def load_maps(path: str | Path) -> MapCache:
    """Read a ``.npz`` written by ``save_maps`` fully into memory."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"cached maps not found: {path}")
    with np.load(path) as data:
        if "meta" not in data:
            raise ValueError(f"{path}: not a geoarena map cache")
        meta = json.loads(bytes(data["meta"]).decode())
        if meta.get("format") != _FORMAT:
            raise ValueError(f"{path}: unsupported map cache format {meta.get('format')!r}")
        maps = MapCache(truth=meta["truth"])
        for i, image_id in enumerate(meta["image_ids"]):
            maps.prob[image_id] = data[f"prob_{i}"]
            maps.energy[image_id] = data[f"energy_{i}"]
    return maps


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
    "instances_to_table",
    "load_maps",
    "maps_to_instances",
    "maps_to_table",
    "save_maps",
]
