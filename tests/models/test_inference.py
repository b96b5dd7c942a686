"""Windowed inference in either memory format: channels-last (the default on CPU and CUDA,
~1.7x faster on this CPU) must give the maps the classic layout gives."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from geoarena.models.device import use_channels_last
from geoarena.models.inference import TilePredictor

from .test_nets import tiny


@pytest.mark.parametrize("tta", [False, True])
def test_channels_last_inference_gives_the_same_maps(tta: bool):
    torch.manual_seed(0)
    model = tiny("unet_aspp").eval()
    image = np.random.default_rng(0).integers(0, 255, (90, 70, 3), dtype=np.uint8)

    def maps(channels_last: bool) -> tuple[np.ndarray, np.ndarray]:
        fmt = torch.channels_last if channels_last else torch.contiguous_format
        predictor = TilePredictor(
            model.to(memory_format=fmt),
            torch.full((3,), 0.5),
            torch.full((3,), 0.25),
            2.0,
            torch.device("cpu"),
            tta=tta,
            window=64,
            channels_last=channels_last,
        )
        return predictor(image)

    classic, last = maps(False), maps(True)
    for a, b in zip(classic, last, strict=True):
        assert a.shape == (90, 70) and np.abs(a - b).max() < 1e-4
        assert a.std() > 0  # a real network's maps, not constants


def test_channels_last_is_the_default_where_it_pays():
    cpu, mps = torch.device("cpu"), torch.device("mps")
    assert use_channels_last("auto", cpu) and not use_channels_last("auto", mps)
    assert use_channels_last("on", mps) and not use_channels_last("off", cpu)
