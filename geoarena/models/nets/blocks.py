"""Building blocks shared by the architectures: conv-BN-ReLU, ASPP, decoder block, heads."""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from geoarena.models.nets.encoder import TimmEncoder


class NetOutput(NamedTuple):
    """What every architecture returns: per-pixel logits at input resolution."""

    #: building mask logits, (N, 1, H, W); sigmoid gives the probability.
    mask: torch.Tensor
    #: energy logits, (N, 1, H, W); sigmoid gives the [0, 1] distance-to-boundary estimate.
    energy: torch.Tensor


class DetectorNet(nn.Module):
    """What every architecture is: a timm encoder, a decoder and the two heads.

    ``arch`` and ``build_kwargs`` are set by ``create_model`` so that a checkpoint can
    rebuild the network without the training config.
    """

    encoder: TimmEncoder
    arch: str = ""
    build_kwargs: dict[str, Any]

    def forward(self, x: torch.Tensor) -> NetOutput:
        raise NotImplementedError


class ConvBNReLU(nn.Sequential):
    def __init__(self, cin: int, cout: int, kernel: int = 3, dilation: int = 1) -> None:
        pad = dilation * (kernel // 2)
        super().__init__(
            nn.Conv2d(cin, cout, kernel, padding=pad, dilation=dilation, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True),
        )


class ASPP(nn.Module):
    """Atrous spatial pyramid pooling with an image-pooling branch (DeepLab v3).

    Parallel 1x1 and dilated 3x3 convolutions see the deepest feature map at several
    receptive fields; the pooled branch adds whole-image context. Concatenated, fused by a
    1x1 convolution. The pooled branch has no BatchNorm: its map is 1x1, which would make
    BatchNorm fail for a batch of one.
    """

    def __init__(self, cin: int, cout: int, rates: tuple[int, ...] = (6, 12, 18)) -> None:
        super().__init__()
        if not rates:
            raise ValueError("ASPP needs at least one dilation rate")
        self.branches = nn.ModuleList(
            [ConvBNReLU(cin, cout, 1)] + [ConvBNReLU(cin, cout, 3, dilation=r) for r in rates]
        )
        self.pool = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Conv2d(cin, cout, 1), nn.ReLU(inplace=True)
        )
        self.project = ConvBNReLU(cout * (len(rates) + 2), cout, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outs = [branch(x) for branch in self.branches]
        pooled = self.pool(x).expand(-1, -1, x.shape[-2], x.shape[-1])
        fused: torch.Tensor = self.project(torch.cat([*outs, pooled], dim=1))
        return fused


class DecoderBlock(nn.Module):
    """conv -> transposed conv (x2) -> [concat skip] -> conv.

    The upsampled map is resized to the skip's exact size when they differ, so inputs of
    any (odd) size work.
    """

    def __init__(self, cin: int, skip: int, cout: int) -> None:
        super().__init__()
        self.conv1 = ConvBNReLU(cin, cout)
        self.up = nn.ConvTranspose2d(cout, cout, kernel_size=4, stride=2, padding=1)
        self.conv2 = ConvBNReLU(cout + skip, cout)

    def forward(
        self, x: torch.Tensor, skip: torch.Tensor | None, size: tuple[int, int]
    ) -> torch.Tensor:
        x = self.up(self.conv1(x))
        if x.shape[-2:] != size:
            x = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
        if skip is not None:
            x = torch.cat([x, skip], dim=1)
        out: torch.Tensor = self.conv2(x)
        return out


class Heads(nn.Module):
    """Two 1-channel heads on a shared feature map: mask logits and energy logits."""

    def __init__(self, cin: int) -> None:
        super().__init__()
        self.mask = nn.Sequential(ConvBNReLU(cin, cin), nn.Conv2d(cin, 1, 1))
        self.energy = nn.Sequential(ConvBNReLU(cin, cin), nn.Conv2d(cin, 1, 1))

    def forward(self, x: torch.Tensor) -> NetOutput:
        return NetOutput(self.mask(x), self.energy(x))
