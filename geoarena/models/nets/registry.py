"""The architecture registry, the model factory, and checkpoints that describe themselves.

A checkpoint stores the architecture name, encoder name and constructor kwargs next to
the weights, so ``load_model(path)`` rebuilds the network without the training config.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from geoarena.errors import InvalidInput, Problem
from geoarena.models.nets.blocks import DetectorNet
from geoarena.models.nets.fpn import FPN
from geoarena.models.nets.unet_aspp import UNetASPP

#: architecture name -> class; the names are the values of ``TrainConfig.arch``.
ARCHITECTURES: dict[str, type[DetectorNet]] = {"unet_aspp": UNetASPP, "fpn": FPN}
#: version tag written into every checkpoint.
CHECKPOINT_FORMAT = "geoarena-detector/1"


class CheckpointError(InvalidInput):
    """A checkpoint file is missing or is not a geoarena detector checkpoint."""


def create_model(arch: str, encoder: str, **kwargs: Any) -> DetectorNet:
    """Build ``arch`` on the timm ``encoder``; kwargs that are ``None`` keep their default."""
    try:
        cls = ARCHITECTURES[arch]
    except KeyError:
        raise KeyError(
            f"unknown architecture {arch!r}; choose from {sorted(ARCHITECTURES)}"
        ) from None
    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    model = cls(encoder, **kwargs)
    model.arch = arch
    model.build_kwargs = {
        "encoder": encoder,
        **{k: v for k, v in kwargs.items() if k != "pretrained"},
    }
    return model


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint dict (weights only, no pickled code) and check its format."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError([Problem(str(path), 0, "", "checkpoint not found")])
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        reason = f"not a geoarena detector checkpoint ({CHECKPOINT_FORMAT})"
        raise CheckpointError([Problem(str(path), 0, "", reason)])
    return ckpt


def load_model(checkpoint: str | Path | dict[str, Any]) -> tuple[DetectorNet, dict[str, Any]]:
    """Rebuild the network stored in ``checkpoint`` (random init, then its weights).

    Returns the model in eval mode and the checkpoint's metadata (normalisation, upscale,
    post-processing thresholds, training config) without the weights.
    """
    ckpt = checkpoint if isinstance(checkpoint, dict) else load_checkpoint(checkpoint)
    kwargs = dict(ckpt["model_kwargs"])
    model = create_model(ckpt["arch"], **kwargs)
    model.load_state_dict(ckpt["state_dict"])
    model.eval()
    meta = {k: v for k, v in ckpt.items() if k not in {"state_dict", "optimizer", "scheduler"}}
    return model, meta


def model_state(model: DetectorNet) -> dict[str, Any]:
    """The part of a checkpoint that describes the network: arch, kwargs and weights."""
    return {
        "format": CHECKPOINT_FORMAT,
        "arch": model.arch,
        "model_kwargs": model.build_kwargs,
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
    }
