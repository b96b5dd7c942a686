"""Shared fixtures of the model tests: a small synthetic city set and tiny-net configs."""

from __future__ import annotations

from pathlib import Path

import pytest

#: small but learnable: 128 px tiles of all four cities, run at half resolution.
TINY_NET = {
    "arch": "unet_aspp",
    "encoder": "test_resnet",
    "decoder_channels": [32, 32, 16, 16],
    "aspp_channels": 32,
    "aspp_rates": [2, 4],
    "fpn_channels": 32,
}


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    """One intra-op thread: on a loaded 2-core runner, OpenMP spin-waits of 2 threads make
    CPU training up to 10x slower and erratic; one thread is steady."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="session")
def synth_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from geoarena.models.data.synth import write_synthetic

    out = tmp_path_factory.mktemp("synth")
    write_synthetic(out, tiles=20, size=128, seed=5)
    return out


@pytest.fixture(scope="session")
def tiny_config(synth_dir: Path):
    """A config factory: tiny net, half-resolution crops, no workers, no progress bar."""
    from geoarena.models.config import TrainConfig

    def make(out_dir: Path, **changes):
        base = {
            **TINY_NET,
            "data_dir": synth_dir,
            "cache_dir": synth_dir / ".cache",
            "val_fraction": 0.25,
            "epochs": 1,
            "warmup_epochs": 0.3,
            "batch_size": 8,
            "lr": 0.005,
            "crop_size": 64,
            "upscale": 0.5,
            "crop_scale": [0.8, 1.25],
            "crops_per_tile": 1,
            "num_workers": 0,
            "min_area": 10,
            "out_dir": out_dir,
            "progress": False,
        }
        base.update(changes)
        return TrainConfig.from_dict(base)

    return make
