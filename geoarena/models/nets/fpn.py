"""ResNeXt-FPN: the alternative the paper's authors mention, with the same two heads."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from geoarena.models.nets.blocks import ConvBNReLU, DetectorNet, Heads, NetOutput
from geoarena.models.nets.encoder import TimmEncoder


class FPN(DetectorNet):
    """Feature pyramid over the encoder's stride 4..32 maps, all resized to stride 4 and fused.

    Top-down pathway with lateral 1x1 convolutions; each pyramid level gets a 3x3 conv, is
    upsampled to the finest level, summed, refined, and upsampled to the input size.
    """

    def __init__(
        self,
        encoder: str = "seresnext50_32x4d",
        *,
        pretrained: bool | str | Path = False,
        fpn_channels: int = 256,
    ) -> None:
        super().__init__()
        self.encoder = TimmEncoder(encoder, pretrained=pretrained, output_stride=32)
        self.levels = [i for i, r in enumerate(self.encoder.reductions) if r >= 4]
        if len(self.levels) < 2:
            raise ValueError(f"FPN needs >= 2 encoder levels at stride >= 4, got {encoder!r}")
        chans = [self.encoder.out_channels[i] for i in self.levels]
        self.lateral = nn.ModuleList([nn.Conv2d(c, fpn_channels, 1) for c in chans])
        self.smooth = nn.ModuleList([ConvBNReLU(fpn_channels, fpn_channels) for _ in chans])
        head_channels = max(fpn_channels // 2, 16)
        self.fuse = ConvBNReLU(fpn_channels, head_channels)
        self.heads = Heads(head_channels)

    def forward(self, x: torch.Tensor) -> NetOutput:
        features = self.encoder(x)
        feats = [features[i] for i in self.levels]
        top = self.lateral[-1](feats[-1])
        pyramid = [top]
        for lateral, feat in zip(self.lateral[-2::-1], feats[-2::-1], strict=True):
            top = lateral(feat) + F.interpolate(top, size=feat.shape[-2:], mode="nearest")
            pyramid.insert(0, top)
        size = pyramid[0].shape[-2:]
        fused = sum(
            F.interpolate(smooth(p), size=size, mode="bilinear", align_corners=False)
            for smooth, p in zip(self.smooth, pyramid, strict=True)
        )
        y = F.interpolate(self.fuse(fused), size=x.shape[-2:], mode="bilinear", align_corners=False)
        out: NetOutput = self.heads(y)
        return out
