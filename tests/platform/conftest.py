"""Fixtures of the platform tests: a tiny synthetic city set, one MLflow store per module,
and a factory of sweep files whose trials are real (tiny, seconds-long) training jobs."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from geoarena.models import TINY_NET
from geoarena.models.data.synth import write_synthetic
from tests.models.conftest import _one_torch_thread  # noqa: F401 (autouse here too)

#: seconds-long real training: the tiny network, 64 px tiles at half resolution.
TINY_TRAIN: dict[str, Any] = {
    **TINY_NET,
    "epochs": 2,
    "batch_size": 4,
    "crop_size": 32,
    "upscale": 0.5,
    "crop_scale": [0.9, 1.1],
    "max_train_batches_per_epoch": 2,
    "val_fraction": 0.25,
    "num_workers": 0,
    "device": "cpu",
    "min_area": 4,
}
TINY_SPACE: dict[str, Any] = {
    "lr": {"type": "log", "low": 1.0e-3, "high": 1.0e-2},
    "w_lovasz": {"type": "float", "low": 0.0, "high": 1.0},
}


@pytest.fixture(scope="session")
def synth_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Eight 64 px tiles: enough for trials that train for seconds."""
    return write_synthetic(
        tmp_path_factory.mktemp("platform-synth"), tiles=8, size=64, seed=3, gsd=1.0
    ).parent


@pytest.fixture(scope="module")
def mlflow_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One tracking store per module (creating an MLflow database costs seconds)."""
    return f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"


def write_sweep(
    folder: Path,
    data: Path,
    tracking_uri: str,
    name: str | None = None,
    *,
    train: dict | None = None,
    **overrides: Any,
) -> Path:
    """A sweep file of tiny real trials; keyword arguments override top-level keys."""
    name = name or f"t-{uuid.uuid4().hex[:8]}"
    sweep = {
        "name": name,
        "out_dir": str(folder / name),
        "train": {
            "data_dir": str(data),
            "cache_dir": str(data / ".cache"),
            **TINY_TRAIN,
            **(train or {}),
        },
        "space": TINY_SPACE,
        "objective": {
            "metric": "f1",
            "post_search": {"n_trials": 3, "min_area": [0, 8], "max_fraction": None},
        },
        "sampler": {"seed": 0, "n_startup_trials": 2},
        "pruner": {"type": "none"},
        "budget": {"n_trials": 3},
        "tracking": {"uri": tracking_uri, "overlays": 2},
    }
    sweep.update(overrides)
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(sweep, sort_keys=False))
    return path


@pytest.fixture(scope="session")
def sweep_writer() -> Callable[..., Path]:
    """``write_sweep`` for module-scoped fixtures (test modules here are not a package)."""
    return write_sweep


@pytest.fixture
def make_sweep(tmp_path: Path, synth_data: Path, mlflow_db: str) -> Callable[..., Path]:
    """``write_sweep`` into this test's folder, with the module's MLflow store."""

    def make(name: str | None = None, **kwargs: Any) -> Path:
        return write_sweep(tmp_path, synth_data, mlflow_db, name, **kwargs)

    return make
