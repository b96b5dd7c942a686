"""Per-tile target cache and the training crop dataset.

Targets are computed once per tile and stored as one uncompressed ``(H, W, 5)`` uint8
``.npy`` (RGB normalised to 8 bits, mask, energy x 255). Workers memory-map it and cut a
window, so a training sample costs a small read, not a GeoTIFF decode plus distance
transforms. The cache file name hashes everything its content depends on (tile file,
its truth, the normalisation), so stale entries are never reused.
"""

from __future__ import annotations

import hashlib
import math
import os
import uuid
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from rich.progress import track
from torch.utils.data import Dataset

from geoarena.models.data.normalize import CityNormalizer
from geoarena.models.data.raster import read_raw_tile
from geoarena.models.data.sampler import SampleKey
from geoarena.models.data.spacenet import Tile
from geoarena.models.data.targets import make_targets, polygons_from_wkt

#: bump when the cached layout or the target definition changes.
CACHE_VERSION = "targets/2"


def cache_key(tile: Tile, normalizer: CityNormalizer, bands: Sequence[int] | None = None) -> str:
    stat = tile.path.stat()
    digest = hashlib.sha1()
    for part in (
        CACHE_VERSION,
        str(tile.path.resolve()),
        str(stat.st_size),
        str(stat.st_mtime_ns),
        repr(normalizer.ranges.get(tile.city)),
        repr(None if bands is None else list(bands)),
        *tile.wkts,
    ):
        digest.update(part.encode())
        digest.update(b"\0")
    return digest.hexdigest()[:20]


def load_tile_image(
    tile: Tile, normalizer: CityNormalizer, bands: Sequence[int] | None = None
) -> np.ndarray:
    """(H, W, 3) uint8 image of a tile, normalised for its city."""
    return normalizer(read_raw_tile(tile.path, bands=bands), tile.city)


def build_cache(
    tiles: Sequence[Tile],
    cache_dir: Path,
    normalizer: CityNormalizer,
    *,
    bands: Sequence[int] | None = None,
    progress: bool = False,
) -> list[Path]:
    """Make sure every tile has its cached ``.npy``; return their paths in tile order.

    Safe with several processes building the same cache at once (sweep workers sharing a
    data folder): each writes its own uniquely named temporary file and renames it into
    place atomically, so a reader sees either no file or a complete one, and two writers
    of the same entry both succeed (their content is the same).
    """
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    todo = []
    for tile in tiles:
        path = cache_dir / f"{tile.image_id}-{cache_key(tile, normalizer, bands)}.npy"
        paths.append(path)
        if not path.is_file():
            todo.append((tile, path))
    if todo:
        for tile, path in track(todo, description="caching targets", disable=not progress):
            image = load_tile_image(tile, normalizer, bands)
            mask, energy = make_targets(polygons_from_wkt(tile.wkts), image.shape[:2])
            stack = np.concatenate(
                [image, mask[..., None], np.round(energy * 255).astype(np.uint8)[..., None]],
                axis=2,
            )
            tmp = path.with_name(f".{path.stem}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp.npy")
            try:
                np.save(tmp, stack)
                os.replace(tmp, path)  # atomic: never a truncated file, never a shared name
            finally:
                tmp.unlink(missing_ok=True)
    return paths


def window_size(crop_size: int, upscale: float, crop_scale: tuple[float, float]) -> int:
    """Side (original pixels) of the window that holds a crop at the smallest scale."""
    return math.ceil(crop_size / (upscale * crop_scale[0])) + 2


class CropDataset(Dataset[tuple[torch.Tensor, int]]):
    """Key = (tile number, crop seed) from the sampler; returns the ``(5, P, P)`` uint8
    window of that tile the seed places (the same in any worker process, any run).

    The window is cut at original resolution; scaling, rotation, flips and photometric
    changes happen batch-wise on the training device (``augment.augment_batch``).
    Tiles smaller than the window are reflect-padded.
    """

    def __init__(self, cache_files: Sequence[Path], window: int) -> None:
        self.files = list(cache_files)
        self.window = window

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, key: SampleKey) -> tuple[torch.Tensor, int]:
        index, seed = key
        arr = np.load(self.files[index], mmap_mode="r")
        height, width = arr.shape[:2]
        p = self.window
        rng = np.random.default_rng(seed)
        y0 = int(rng.integers(0, max(height - p, 0) + 1))
        x0 = int(rng.integers(0, max(width - p, 0) + 1))
        win = np.asarray(arr[y0 : y0 + p, x0 : x0 + p])
        if win.shape[0] < p or win.shape[1] < p:
            pad = ((0, p - win.shape[0]), (0, p - win.shape[1]), (0, 0))
            win = np.pad(win, pad, mode="reflect" if min(win.shape[:2]) > 1 else "edge")
        return torch.from_numpy(np.ascontiguousarray(win.transpose(2, 0, 1))), index
