"""One adapter that turns any timm backbone into a list of feature maps.

The decoders are built from ``TimmEncoder.out_channels`` and ``.reductions``, so any timm
model with ``features_only`` support plugs in (the smp ``TimmUniversalEncoder`` shape).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import timm
import torch
from timm.models import FeatureInfo
from torch import nn


class TimmEncoder(nn.Module):
    """A timm backbone returning every feature level, shallow to deep.

    Args:
        name: timm model name (``seresnext50_32x4d``; ``test_resnet`` in tests).
        pretrained: ``False`` (random weights), ``True`` (ImageNet weights through timm;
            may download), or a path to a local weights file for that model.
        output_stride: 8, 16 or 32; below 32 the last stages use dilation instead of stride.
    """

    def __init__(
        self, name: str, *, pretrained: bool | str | Path = False, output_stride: int = 16
    ) -> None:
        super().__init__()
        kwargs: dict[str, Any] = {"features_only": True}
        if output_stride != 32:
            kwargs["output_stride"] = output_stride
        if isinstance(pretrained, str | Path) and not isinstance(pretrained, bool):
            path = Path(pretrained)
            if not path.is_file():
                raise FileNotFoundError(f"pretrained weights file not found: {path}")
            kwargs["pretrained_cfg_overlay"] = {"file": str(path)}
            pretrained = True
        try:
            self.model = timm.create_model(name, pretrained=bool(pretrained), **kwargs)
        except (RuntimeError, TypeError) as exc:  # unknown name / no features_only support
            raise ValueError(
                f"cannot build timm encoder {name!r} with features_only"
                f"{f' at output stride {output_stride}' if output_stride != 32 else ''}: {exc}"
            ) from exc
        info = cast(FeatureInfo, self.model.feature_info)
        self.out_channels: list[int] = list(info.channels())
        self.reductions: list[int] = list(info.reduction())
        self.output_stride = output_stride
        cfg = getattr(self.model, "pretrained_cfg", {}) or {}
        #: input normalisation the weights expect (ImageNet's unless timm says otherwise).
        self.mean: tuple[float, ...] = tuple(cfg.get("mean", (0.485, 0.456, 0.406)))
        self.std: tuple[float, ...] = tuple(cfg.get("std", (0.229, 0.224, 0.225)))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        features: list[torch.Tensor] = self.model(x)
        return features
