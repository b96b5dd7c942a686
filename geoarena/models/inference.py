"""Whole-tile inference: upscale, pad, forward (optional flip TTA), back to tile resolution.

Shared by per-epoch validation (``train``) and ``predict`` so both see exactly the same
maps. Maps are returned at the original tile resolution, so post-processing works in
SpaceNet pixel coordinates and a 650x650 tile's maps stay small enough to cache.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import NDArray
from torch import nn

from geoarena.models.data.augment import normalize_image

#: network input sides are padded to a multiple of this (the deepest encoder stride).
PAD_MULTIPLE = 32


def resolve_device(name: str = "auto") -> torch.device:
    """ "auto" = CUDA when available, else CPU; anything else is passed to torch."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def autocast_dtype(amp: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for ``amp`` ("auto" = bf16 on CUDA, none on CPU)."""
    if amp == "off" or (amp == "auto" and device.type != "cuda"):
        return None
    return torch.float16 if amp == "fp16" else torch.bfloat16


def autocast(
    device: torch.device, dtype: torch.dtype | None
) -> contextlib.AbstractContextManager[object]:
    """Autocast to ``dtype`` on ``device``, or nothing when ``dtype`` is None."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


@dataclass
class TilePredictor:
    """Runs a trained network on whole tiles and returns (probability, energy) maps."""

    model: nn.Module
    mean: torch.Tensor
    std: torch.Tensor
    upscale: float
    device: torch.device
    amp_dtype: torch.dtype | None = None
    tta: bool = False

    @torch.inference_mode()
    def __call__(self, image: NDArray[np.uint8]) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
        """uint8 (H, W, 3) tile -> float32 (H, W) mask probability and energy."""
        height, width = image.shape[:2]
        x = torch.from_numpy(np.ascontiguousarray(image)).to(self.device)
        x = normalize_image(x.permute(2, 0, 1)[None], self.mean, self.std)
        if self.upscale != 1:
            x = F.interpolate(x, scale_factor=self.upscale, mode="bilinear", align_corners=False)
        up_h, up_w = x.shape[-2:]
        pad_h = math.ceil(up_h / PAD_MULTIPLE) * PAD_MULTIPLE - up_h
        pad_w = math.ceil(up_w / PAD_MULTIPLE) * PAD_MULTIPLE - up_w
        x = F.pad(x, (0, pad_w, 0, pad_h), mode="replicate")
        flips = [(), (-1,), (-2,), (-2, -1)] if self.tta else [()]
        batch = torch.cat([x.flip(f) if f else x for f in flips])
        if self.device.type == "cuda":
            batch = batch.contiguous(memory_format=torch.channels_last)
        with autocast(self.device, self.amp_dtype):
            out = self.model(batch)
        maps = torch.cat([out.mask, out.energy], dim=1).float().sigmoid()
        maps = torch.stack([m.flip(f) if f else m for m, f in zip(maps, flips, strict=True)])
        maps = maps.mean(0, keepdim=True)[..., :up_h, :up_w]
        if (up_h, up_w) != (height, width):
            maps = F.interpolate(maps, size=(height, width), mode="bilinear", antialias=True)
        both = maps[0].clamp(0, 1).cpu().numpy()
        return both[0], both[1]
