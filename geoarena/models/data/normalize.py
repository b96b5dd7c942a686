"""Per-city, per-band stretch of 16-bit tiles to 8 bits (8-bit tiles pass through).

SpaceNet's 16-bit pan-sharpened tiles differ in range between cities (and sensors), so one
global scaling would leave some cities dark; fitting percentiles per city keeps each
one's contrast. Nodata pixels (0 in every band) are left out of the fit.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from geoarena.evaluator import city_of
from geoarena.models.data.raster import DataError, Pixels, read_raw_tile


@dataclass
class CityNormalizer:
    """Percentile stretch fitted per city and band; ``__call__`` maps a tile to uint8."""

    percentiles: tuple[float, float] = (1.0, 99.0)
    #: city -> (low[3], high[3])
    ranges: dict[str, tuple[list[float], list[float]]] = field(default_factory=dict)

    def fit(
        self,
        tiles: dict[str, Path],
        *,
        bands: Sequence[int] | None = None,
        sample: int = 32,
        seed: int = 0,
    ) -> CityNormalizer:
        """Fit ranges on up to ``sample`` 16-bit tiles per city (8-bit cities need none)."""
        by_city: dict[str, list[Path]] = defaultdict(list)
        for image_id, path in sorted(tiles.items()):
            by_city[city_of(image_id)].append(path)
        rng = np.random.default_rng(seed)
        for city, paths in by_city.items():
            chosen = rng.permutation(len(paths))[:sample]
            pixels = []
            for i in chosen:
                arr = read_raw_tile(paths[i], bands=bands)
                if arr.dtype != np.uint16:
                    break
                flat = arr[::4, ::4].reshape(-1, 3)
                pixels.append(flat[flat.any(axis=1)])
            if pixels and sum(len(p) for p in pixels):
                stacked = np.concatenate(pixels)
                low, high = np.percentile(stacked, self.percentiles, axis=0)
                self.ranges[city] = (low.tolist(), np.maximum(high, low + 1).tolist())
        return self

    def __call__(self, arr: Pixels, city: str) -> NDArray[np.uint8]:
        if arr.dtype == np.uint8:
            return arr.astype(np.uint8, copy=False)
        if city not in self.ranges:
            raise DataError.of(city, "no 16-bit normalisation fitted for this city")
        low, high = (np.asarray(v, dtype=np.float32) for v in self.ranges[city])
        scaled = (arr.astype(np.float32) - low) / (high - low) * 255.0
        out = np.clip(scaled, 0, 255).astype(np.uint8)
        out[~arr.any(axis=-1)] = 0  # nodata stays black
        return out

    def to_dict(self) -> dict[str, Any]:
        """The checkpoint's spelling (plain lists: checkpoints load with weights only)."""
        return {"percentiles": list(self.percentiles), "ranges": self.ranges}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CityNormalizer:
        ranges = {k: (list(v[0]), list(v[1])) for k, v in data.get("ranges", {}).items()}
        low, high = data.get("percentiles", (1.0, 99.0))
        return cls((float(low), float(high)), ranges)


__all__ = ["CityNormalizer"]
