"""Batch augmentation on the training device, applied identically to image, mask and energy.

One affine ``grid_sample`` per batch does upscaling, random scale, crop position, rot90
and flips at once (bilinear for image and energy, bilinear-then-threshold for the mask),
followed by brightness/contrast jitter and normalisation. Doing this on the GPU keeps
DataLoader workers down to a memory-mapped read.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class AugmentSettings:
    """What ``augment_batch`` does; ``brightness`` is the largest shift of the [0, 1]
    intensities (+-0.2 = a fifth of the range), ``contrast`` the largest relative change."""

    crop_size: int = 256
    upscale: float = 2.0
    crop_scale: tuple[float, float] = (0.75, 1.25)
    rot90: bool = True
    flips: bool = True
    brightness: float = 0.2
    contrast: float = 0.2


def _rand(
    n: int, lo: float, hi: float, gen: torch.Generator | None, device: torch.device
) -> torch.Tensor:
    return lo + (hi - lo) * torch.rand(n, generator=gen, device="cpu").to(device)


def augment_batch(
    windows: torch.Tensor,
    settings: AugmentSettings,
    mean: torch.Tensor,
    std: torch.Tensor,
    *,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """uint8 windows (N, 5, P, P) -> normalised image (N,3,C,C), mask, energy (N,1,C,C).

    Channels of ``windows``: RGB, mask (0/1), energy x 255. Random numbers come from the
    CPU ``generator`` so runs are reproducible on any device.
    """
    n, _, p, _ = windows.shape
    device = windows.device
    c = settings.crop_size
    data = windows.float()
    data[:, :3] /= 255.0
    data[:, 4] /= 255.0

    scale = settings.upscale * _rand(n, *settings.crop_scale, generator, device)
    # half-extent of the sampled region in normalised input coordinates ([-1, 1] = P px)
    extent = (c / scale / p).clamp(max=1.0)
    tx = (1 - extent) * _rand(n, -1.0, 1.0, generator, device)
    ty = (1 - extent) * _rand(n, -1.0, 1.0, generator, device)
    rot = torch.eye(2, device=device).repeat(n, 1, 1)
    if settings.rot90:
        k = torch.randint(0, 4, (n,), generator=generator).to(device)
        angle = k.float() * (torch.pi / 2)
        cos, sin = torch.cos(angle).round(), torch.sin(angle).round()
        rot = torch.stack([torch.stack([cos, -sin], -1), torch.stack([sin, cos], -1)], 1)
    if settings.flips:
        flip = torch.where(torch.rand(n, generator=generator) < 0.5, -1.0, 1.0).to(device)
        rot = rot * torch.stack([flip, torch.ones_like(flip)], -1)[:, None, :]
    theta = torch.cat([rot * extent[:, None, None], torch.stack([tx, ty], -1)[..., None]], 2)
    grid = F.affine_grid(theta, [n, 5, c, c], align_corners=False)
    out = F.grid_sample(data, grid, mode="bilinear", padding_mode="reflection", align_corners=False)

    image = out[:, :3]
    if settings.contrast or settings.brightness:
        con = _rand(n, 1 - settings.contrast, 1 + settings.contrast, generator, device)
        bri = _rand(n, -settings.brightness, settings.brightness, generator, device)
        centre = image.mean(dim=(1, 2, 3), keepdim=True)
        image = (image - centre) * con[:, None, None, None] + centre + bri[:, None, None, None]
        image = image.clamp(0, 1)
    image = (image - mean.view(1, 3, 1, 1)) / std.view(1, 3, 1, 1)
    mask = (out[:, 3:4] > 0.5).float()
    energy = out[:, 4:5] * mask
    return image, mask, energy


def normalize_image(image: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """uint8 (N, 3, H, W) -> float normalised the way the encoder's weights expect."""
    return (image.float() / 255.0 - mean.view(1, 3, 1, 1)) / std.view(1, 3, 1, 1)
