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
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from rich.progress import track
from torch.utils.data import Dataset

from geoarena.models.data.spacenet import CityNormalizer, Tile, read_raw_tile
from geoarena.models.data.targets import make_targets, polygons_from_wkt

#: bump when the cached layout or the target definition changes.
CACHE_VERSION = "targets/1"


def cache_key(tile: Tile, normalizer: CityNormalizer) -> str:
    stat = tile.path.stat()
    digest = hashlib.sha1()
    for part in (
        CACHE_VERSION,
        str(tile.path.resolve()),
        str(stat.st_size),
        str(stat.st_mtime_ns),
        repr(normalizer.ranges.get(tile.city)),
        *tile.wkts,
    ):
        digest.update(part.encode())
        digest.update(b"\0")
    return digest.hexdigest()[:20]


def load_tile_image(tile: Tile, normalizer: CityNormalizer) -> np.ndarray:
    """(H, W, 3) uint8 image of a tile, normalised for its city."""
    return normalizer(read_raw_tile(tile.path), tile.city)


def build_cache(
    tiles: Sequence[Tile], cache_dir: Path, normalizer: CityNormalizer, *, progress: bool = False
) -> list[Path]:
    """Make sure every tile has its cached ``.npy``; return their paths in tile order."""
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    todo = []
    for tile in tiles:
        path = cache_dir / f"{tile.image_id}-{cache_key(tile, normalizer)}.npy"
        paths.append(path)
        if not path.is_file():
            todo.append((tile, path))
    if todo:
        for tile, path in track(todo, description="caching targets", disable=not progress):
            image = load_tile_image(tile, normalizer)
            mask, energy = make_targets(polygons_from_wkt(tile.wkts), image.shape[:2])
            stack = np.concatenate(
                [image, mask[..., None], np.round(energy * 255).astype(np.uint8)[..., None]],
                axis=2,
            )
            tmp = path.with_suffix(".tmp.npy")
            np.save(tmp, stack)
            tmp.replace(path)  # atomic: a crashed run never leaves a truncated cache file
    return paths


def window_size(crop_size: int, upscale: float, crop_scale: tuple[float, float]) -> int:
    """Side (original pixels) of the window that holds a crop at the smallest scale."""
    return math.ceil(crop_size / (upscale * crop_scale[0])) + 2


class CropDataset(Dataset[tuple[torch.Tensor, int]]):
    """Index = tile number; returns a random ``(5, P, P)`` uint8 window of that tile.

    The window is cut at original resolution; scaling, rotation, flips and photometric
    changes happen batch-wise on the training device (``augment.augment_batch``).
    Tiles smaller than the window are reflect-padded.
    """

    def __init__(self, cache_files: Sequence[Path], window: int) -> None:
        self.files = list(cache_files)
        self.window = window

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        arr = np.load(self.files[index], mmap_mode="r")
        height, width = arr.shape[:2]
        p = self.window
        y0 = int(torch.randint(0, max(height - p, 0) + 1, ()).item())
        x0 = int(torch.randint(0, max(width - p, 0) + 1, ()).item())
        win = np.asarray(arr[y0 : y0 + p, x0 : x0 + p])
        if win.shape[0] < p or win.shape[1] < p:
            pad = ((0, p - win.shape[0]), (0, p - win.shape[1]), (0, 0))
            win = np.pad(win, pad, mode="reflect" if min(win.shape[:2]) > 1 else "edge")
        return torch.from_numpy(np.ascontiguousarray(win.transpose(2, 0, 1))), index
