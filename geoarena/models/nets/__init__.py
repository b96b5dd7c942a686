"""Networks: the architectures, their building blocks, and self-describing checkpoints."""

from geoarena.models.nets.blocks import ASPP, DecoderBlock, DetectorNet, NetOutput
from geoarena.models.nets.encoder import TimmEncoder
from geoarena.models.nets.fpn import FPN
from geoarena.models.nets.registry import (
    ARCHITECTURES,
    CHECKPOINT_FORMAT,
    CheckpointError,
    create_model,
    load_checkpoint,
    load_model,
    model_state,
)
from geoarena.models.nets.unet_aspp import UNetASPP

__all__ = [
    "ARCHITECTURES",
    "ASPP",
    "CHECKPOINT_FORMAT",
    "FPN",
    "CheckpointError",
    "DecoderBlock",
    "DetectorNet",
    "NetOutput",
    "TimmEncoder",
    "UNetASPP",
    "create_model",
    "load_checkpoint",
    "load_model",
    "model_state",
]
