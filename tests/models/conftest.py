"""Shared fixtures of the model tests: a small synthetic city set and tiny-net configs."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from geoarena.models import TINY_NET, TrainConfig, one_torch_thread
from geoarena.models.data.synth import write_synthetic


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread() -> Iterator[None]:
    """Steady CPU training on a loaded 2-core runner (see ``one_torch_thread``), in the
    worker processes tests start too (the platform's conftest uses this fixture)."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    with one_torch_thread():
        yield


@pytest.fixture(scope="session")
def synth_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Small but learnable: 128 px tiles of all four cities at 1 m per pixel (~16
    buildings a tile)."""
    out = tmp_path_factory.mktemp("synth")
    write_synthetic(out, tiles=20, size=128, seed=5, gsd=1.0)
    return out


@pytest.fixture(scope="session")
def tiny_config(synth_dir: Path) -> Callable[..., TrainConfig]:
    """A config factory: tiny net, 64 px crops, no workers, no progress bar."""

    def make(out_dir: Path, **changes: Any) -> TrainConfig:
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
            "upscale": 1.0,
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
