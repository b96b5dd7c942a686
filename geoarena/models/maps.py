"""Cached probability / energy maps: tune post-processing without running the network.

A ``MapCache`` holds, per tile, the sigmoid mask probability and the predicted energy at
original tile resolution (float16), plus the truth WKTs when the split has truth
(validation). It is stored as one ``.npz`` per split. The sweep's inner search calls
``maps_to_table`` many times with different thresholds, then scores the table with
``geoarena.evaluator.score`` against ``MapCache.truth_table()``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from geoarena.models.postprocess import Row, instances_to_rows, maps_to_polygons

_FORMAT = "geoarena-maps/1"


@dataclass
class MapCache:
    """image_id -> (prob, energy) float16 maps, and optionally image_id -> truth WKTs."""

    prob: dict[str, np.ndarray] = field(default_factory=dict)
    energy: dict[str, np.ndarray] = field(default_factory=dict)
    truth: dict[str, list[str]] | None = None

    def add(self, image_id: str, prob: np.ndarray, energy: np.ndarray) -> None:
        self.prob[image_id] = np.asarray(prob, dtype=np.float16)
        self.energy[image_id] = np.asarray(energy, dtype=np.float16)

    @property
    def image_ids(self) -> list[str]:
        return sorted(self.prob)

    def __len__(self) -> int:
        return len(self.prob)

    def items(self) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
        for image_id in self.image_ids:
            yield image_id, self.prob[image_id], self.energy[image_id]

    def truth_table(self):
        """The stored truth as a ``PolygonTable`` (empty tiles as ``POLYGON EMPTY`` rows)."""
        from geoarena.evaluator import PolygonTable

        if self.truth is None:
            raise ValueError("these maps were cached without truth (not a validation split)")
        ids, bids, wkts = [], [], []
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
    arrays: dict[str, np.ndarray] = {}
    for i, image_id in enumerate(maps.image_ids):
        arrays[f"prob_{i}"] = maps.prob[image_id]
        arrays[f"energy_{i}"] = maps.energy[image_id]
    meta = {"format": _FORMAT, "image_ids": maps.image_ids, "truth": maps.truth}
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, **arrays)
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


def maps_to_rows(
    maps: MapCache, *, t_energy: float, t_mask: float, min_area: float, method: str = "watershed"
) -> list[Row]:
    """Proposal rows for every cached tile at the given thresholds."""
    rows: list[Row] = []
    for image_id, prob, energy in maps.items():
        instances = maps_to_polygons(
            prob, energy, t_energy=t_energy, t_mask=t_mask, min_area=min_area, method=method
        )
        rows.extend(instances_to_rows(image_id, instances))
    return rows


def maps_to_table(
    maps: MapCache, *, t_energy: float, t_mask: float, min_area: float, method: str = "watershed"
):
    """Proposals ``PolygonTable`` for every cached tile, ready for ``evaluator.score``."""
    from geoarena.evaluator import PolygonTable

    rows = maps_to_rows(maps, t_energy=t_energy, t_mask=t_mask, min_area=min_area, method=method)
    ids, bids, wkts, confs = zip(*rows, strict=True) if rows else ((), (), (), ())
    return PolygonTable.from_wkt(ids, bids, wkts, confs, name="<proposals>")
