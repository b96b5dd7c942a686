"""From pixels to probability and energy maps: windowed (or whole-tile) network inference.

Shared by per-epoch validation, ``predict`` and large-scene prediction, so all of them
see exactly the same maps. Maps come back at the original resolution, so post-processing
works in SpaceNet pixel coordinates.

``mode="window"`` (the default) runs the network on overlapping windows of the training
crop size and blends them with a tent weight. The network then sees at inference what it
saw in training: its ASPP rates are relative to a feature map of the training size
(rate 18 on a 16x16 map reaches only padding in training; on a whole upscaled 650 px
tile it would reach real pixels) and image pooling averages a crop-sized context, not a
whole tile. Windows lie on one grid per raster, clamped to its edges, so the maps of any
region are the same whichever block of a large scene they are computed for -- the basis
of seamless stitching (``scene.py``). ``mode="whole"`` is one pass over the upscaled
region (what the code did before; faster, with the mismatch).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import NDArray
from torch import nn

from geoarena.models.data.augment import normalize_image
from geoarena.models.device import autocast

#: whole-region inputs are padded to a multiple of this (the deepest encoder stride).
PAD_MULTIPLE = 32
Maps = tuple[NDArray[np.floating[Any]], NDArray[np.floating[Any]]]
#: (row0, col0, row1, col1), half-open, in original pixels.
Region = tuple[int, int, int, int]
#: reads a region of the raster as normalised uint8 (h, w, 3), zero outside the raster.
Reader = Callable[[Region], NDArray[np.uint8]]


def window_starts(length: int, window: int, stride: int) -> list[int]:
    """Starts of windows covering ``[0, length)``: a regular grid, the last one moved back
    to end at the raster's edge (one window at 0 when the raster is smaller)."""
    if length <= window:
        return [0]
    starts = list(range(0, length - window, stride))
    return [*starts, length - window]


def tent(size: int) -> NDArray[np.float32]:
    """1-D blending weight: 1 in the middle, falling towards the window edges (never 0)."""
    centre = (np.arange(size) + 0.5) / size
    return np.maximum(1.0 - np.abs(2.0 * centre - 1.0), 0.05).astype(np.float32)


def array_reader(image: NDArray[np.uint8]) -> Reader:
    """A reader of an in-memory (H, W, 3) image, zero outside it."""

    def read(region: Region) -> NDArray[np.uint8]:
        r0, c0, r1, c1 = region
        out = np.zeros((r1 - r0, c1 - c0, image.shape[2]), np.uint8)
        rr0, cc0 = max(r0, 0), max(c0, 0)
        rr1, cc1 = min(r1, image.shape[0]), min(c1, image.shape[1])
        if rr1 > rr0 and cc1 > cc0:
            out[rr0 - r0 : rr1 - r0, cc0 - c0 : cc1 - c0] = image[rr0:rr1, cc0:cc1]
        return out

    return read


@dataclass
class TilePredictor:
    """Runs a trained network on rasters and returns (probability, energy) maps."""

    model: nn.Module
    mean: torch.Tensor
    std: torch.Tensor
    upscale: float
    device: torch.device
    amp_dtype: torch.dtype | None = None
    tta: bool = False
    mode: Literal["window", "whole"] = "window"
    #: window side in network pixels (the training crop size)
    window: int = 256
    overlap: float = 0.25
    #: windows per forward pass
    batch_size: int = 8
    #: feed the network channels-last batches (the model's own format: see
    #: :func:`~geoarena.models.device.use_channels_last`)
    channels_last: bool = False

    @property
    def source_window(self) -> int:
        """Window side in original pixels."""
        return max(round(self.window / self.upscale), 1)

    def __call__(self, image: NDArray[np.uint8]) -> Maps:
        """uint8 (H, W, 3) tile -> float32 (H, W) mask probability and energy."""
        height, width = image.shape[:2]
        return self.predict(array_reader(image), height, width, (0, 0, height, width))

    @torch.inference_mode()
    def predict(self, read: Reader, height: int, width: int, region: Region) -> Maps:
        """Maps of ``region`` of a ``height`` x ``width`` raster read through ``read``."""
        if self.mode == "whole":
            return self._whole(read(region))
        return self._windowed(read, height, width, region)

    # --- windows --------------------------------------------------------------------------
    def _windows(self, height: int, width: int, region: Region) -> list[Region]:
        """The raster's grid windows that overlap ``region``."""
        side = self.source_window
        stride = max(round(side * (1.0 - self.overlap)), 1)
        r0, c0, r1, c1 = region
        rows = [s for s in window_starts(height, side, stride) if s < r1 and s + side > r0]
        cols = [s for s in window_starts(width, side, stride) if s < c1 and s + side > c0]
        return [(r, c, r + side, c + side) for r in rows for c in cols]

    def _windowed(self, read: Reader, height: int, width: int, region: Region) -> Maps:
        r0, c0, r1, c1 = region
        windows = self._windows(height, width, region)
        # windows of a raster smaller than a window reach beyond it: read what exists,
        # the crops are edge-padded like training crops of small tiles
        extent = (
            min(w[0] for w in windows),
            min(w[1] for w in windows),
            min(max(w[2] for w in windows), height),
            min(max(w[3] for w in windows), width),
        )
        pixels = read(extent)
        side = self.source_window
        weight = np.outer(tent(side), tent(side))
        acc = np.zeros((2, r1 - r0, c1 - c0), np.float32)
        total = np.zeros((r1 - r0, c1 - c0), np.float32)
        for batch in _chunks(windows, self.batch_size):
            crops = [
                pixels[w[0] - extent[0] : w[2] - extent[0], w[1] - extent[1] : w[3] - extent[1]]
                for w in batch
            ]
            maps = self._forward(np.stack([_fit(c, side) for c in crops]), (side, side))
            for (wr0, wc0, wr1, wc1), m in zip(batch, maps, strict=True):
                # the part of this window inside the region
                ar0, ac0 = max(wr0, r0), max(wc0, c0)
                ar1, ac1 = min(wr1, r1), min(wc1, c1)
                src = (slice(ar0 - wr0, ar1 - wr0), slice(ac0 - wc0, ac1 - wc0))
                dst = (slice(ar0 - r0, ar1 - r0), slice(ac0 - c0, ac1 - c0))
                w = weight[src]
                acc[(slice(None), *dst)] += m[(slice(None), *src)] * w
                total[dst] += w
        both = acc / np.maximum(total, 1e-6)
        return both[0], both[1]

    def _forward(self, crops: NDArray[np.uint8], out_size: tuple[int, int]) -> NDArray[np.float32]:
        """(N, h, w, 3) uint8 windows -> (N, 2, out_h, out_w) maps (TTA averaged)."""
        x = torch.from_numpy(np.ascontiguousarray(crops)).to(self.device)
        x = normalize_image(x.permute(0, 3, 1, 2), self.mean, self.std)
        x = F.interpolate(x, size=(self.window, self.window), mode="bilinear", align_corners=False)
        maps = self._run(x)
        maps = F.interpolate(maps, size=out_size, mode="bilinear", antialias=True)
        return maps.clamp(0, 1).float().cpu().numpy()

    def _run(self, x: torch.Tensor) -> torch.Tensor:
        """Sigmoid mask and energy of a batch, averaged over the flips when ``tta``."""
        flips: list[tuple[int, ...]] = [(), (-1,), (-2,), (-2, -1)] if self.tta else [()]
        n = x.shape[0]
        batch = torch.cat([x.flip(f) if f else x for f in flips])
        if self.channels_last:
            batch = batch.contiguous(memory_format=torch.channels_last)
        with autocast(self.device, self.amp_dtype):
            out = self.model(batch)
        maps = torch.cat([out.mask, out.energy], dim=1).float().sigmoid()
        parts = [maps[i * n : (i + 1) * n] for i in range(len(flips))]
        restored = [p.flip(f) if f else p for p, f in zip(parts, flips, strict=True)]
        return torch.stack(restored).mean(0)

    # --- whole region ---------------------------------------------------------------------
    def _whole(self, image: NDArray[np.uint8]) -> Maps:
        height, width = image.shape[:2]
        x = torch.from_numpy(np.ascontiguousarray(image)).to(self.device)
        x = normalize_image(x.permute(2, 0, 1)[None], self.mean, self.std)
        if self.upscale != 1:
            x = F.interpolate(x, scale_factor=self.upscale, mode="bilinear", align_corners=False)
        up_h, up_w = x.shape[-2:]
        pad_h = math.ceil(up_h / PAD_MULTIPLE) * PAD_MULTIPLE - up_h
        pad_w = math.ceil(up_w / PAD_MULTIPLE) * PAD_MULTIPLE - up_w
        x = F.pad(x, (0, pad_w, 0, pad_h), mode="replicate")
        maps = self._run(x)[..., :up_h, :up_w]
        if (up_h, up_w) != (height, width):
            maps = F.interpolate(maps, size=(height, width), mode="bilinear", antialias=True)
        both = maps[0].clamp(0, 1).cpu().numpy()
        return both[0], both[1]


def _fit(crop: NDArray[np.uint8], side: int) -> NDArray[np.uint8]:
    """A window cut from a raster smaller than the window, edge-padded to ``side``."""
    h, w = crop.shape[:2]
    if h == side and w == side:
        return crop
    return np.pad(
        crop[:side, :side],
        ((0, side - min(h, side)), (0, side - min(w, side)), (0, 0)),
        mode="edge",
    )


def _chunks(items: list[Region], size: int) -> Iterator[list[Region]]:
    for i in range(0, len(items), max(size, 1)):
        yield items[i : i + size]


__all__ = ["Maps", "Reader", "Region", "TilePredictor", "array_reader", "tent", "window_starts"]
