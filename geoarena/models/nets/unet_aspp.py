"""UNet with an ASPP bottleneck: the architecture of the DeepGlobe 2018 3rd-place entry."""

from __future__ import annotations

import math
from pathlib import Path

import torch
from torch import nn

from geoarena.models.nets.blocks import ASPP, DecoderBlock, DetectorNet, Heads, NetOutput
from geoarena.models.nets.encoder import TimmEncoder


class UNetASPP(DetectorNet):
    """Encoder at output stride 16 -> ASPP -> 4 decoder blocks with skips -> two heads.

    Each decoder block doubles the resolution (16 -> 8 -> 4 -> 2 -> 1) and takes the encoder
    feature of its level as skip connection, when the encoder has one.
    """

    def __init__(
        self,
        encoder: str = "seresnext50_32x4d",
        *,
        pretrained: bool | str | Path = False,
        decoder_channels: tuple[int, ...] = (256, 128, 64, 32),
        aspp_channels: int = 256,
        aspp_rates: tuple[int, ...] = (6, 12, 18),
    ) -> None:
        super().__init__()
        if len(decoder_channels) != 4:
            raise ValueError(f"UNetASPP needs 4 decoder channel counts, got {decoder_channels}")
        self.encoder = TimmEncoder(encoder, pretrained=pretrained, output_stride=16)
        reductions = self.encoder.reductions
        if reductions[-1] != 16:
            raise ValueError(f"encoder {encoder!r} cannot run at output stride 16: {reductions}")
        self.aspp = ASPP(self.encoder.out_channels[-1], aspp_channels, tuple(aspp_rates))
        #: per decoder block: index of the encoder feature used as skip (None: no skip).
        self.skip_index: list[int | None] = []
        blocks = []
        cin = aspp_channels
        for stride, cout in zip((8, 4, 2, 1), decoder_channels, strict=True):
            matches = [i for i, r in enumerate(reductions) if r == stride]
            index = matches[-1] if matches else None
            self.skip_index.append(index)
            skip = self.encoder.out_channels[index] if index is not None else 0
            blocks.append(DecoderBlock(cin, skip, cout))
            cin = cout
        self.decoder = nn.ModuleList(blocks)
        self.heads = Heads(decoder_channels[-1])

    def forward(self, x: torch.Tensor) -> NetOutput:
        height, width = x.shape[-2:]
        features = self.encoder(x)
        y = self.aspp(features[-1])
        for block, index, stride in zip(self.decoder, self.skip_index, (8, 4, 2, 1), strict=True):
            skip = features[index] if index is not None else None
            size = (
                tuple(skip.shape[-2:])
                if skip is not None
                else (math.ceil(height / stride), math.ceil(width / stride))
            )
            y = block(y, skip, size)
        out: NetOutput = self.heads(y)
        return out
