"""Experiments: Optuna sweeps over training jobs, logged to MLflow, scored with the real metric.

Importing this package is cheap (no optuna, mlflow or torch): the public names below
load on first access.

Modules: ``config`` (the sweep YAML), ``storage`` (Optuna storages, claim lock, dead
workers), ``study`` (the worker loop and trial objective), ``tune_post`` (inner
post-processing search), ``tracking`` (MLflow parent/child runs), ``launcher`` (worker
processes per GPU / CPU slot), ``results`` (status, best trial, export), ``submit``
(predict and post to a leaderboard), ``demo``.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY: dict[str, str] = {
    "SweepConfig": "geoarena.platform.config",
    "SweepConfigError": "geoarena.platform.config",
    "load_sweep": "geoarena.platform.config",
    "parse_sweep": "geoarena.platform.config",
    "BaseTracker": "geoarena.platform.tracking",
    "NullTracker": "geoarena.platform.tracking",
    "MLflowTracker": "geoarena.platform.tracking",
    "launch": "geoarena.platform.launcher",
    "run_worker": "geoarena.platform.study",
    "WorkerOptions": "geoarena.platform.study",
    "tune_post": "geoarena.platform.tune_post",
    "best_trial": "geoarena.platform.results",
    "export_best": "geoarena.platform.results",
    "trial_rows": "geoarena.platform.results",
    "run_demo": "geoarena.platform.demo",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'geoarena.platform' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
