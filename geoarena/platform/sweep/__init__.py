"""The sweep file: search space, fixed training config, objective, budget, storage, tracking.

Example::

    name: unet-loss-search
    train: {data_dir: data/train, encoder: resnet34, epochs: 30}
    space:
      lr: {type: log, low: 1.0e-5, high: 1.0e-3}
      w_lovasz: {type: float, low: 0.0, high: 2.0}
      upscale: {type: categorical, choices: [1.5, 2.0, 2.5]}
    enqueue: [baseline]          # first trial = the fixed config as is (the paper's values)
    objective: {metric: mean_city_f1}
    budget: {n_trials: 40}

Modules: ``space`` (parameter types), ``strategy`` (sampler and pruner, built into Optuna
objects), ``schema`` (the sections and ``SweepConfig``), ``trial_params`` (parameters onto
a training config), ``loader`` (YAML -> ``SweepConfig`` with located problems).
"""

from geoarena.platform.sweep.loader import SweepConfigError, load_sweep, parse_sweep
from geoarena.platform.sweep.schema import (
    Budget,
    Objective,
    PostSearch,
    StorageSpec,
    SweepConfig,
    TrackingSpec,
)
from geoarena.platform.sweep.space import (
    CategoricalParam,
    FloatParam,
    IntParam,
    LogParam,
    Param,
    ParamValue,
)
from geoarena.platform.sweep.strategy import PrunerSpec, SamplerSpec
from geoarena.platform.sweep.trial_params import BASELINE, RESERVED_FIELDS

__all__ = [
    "BASELINE",
    "RESERVED_FIELDS",
    "Budget",
    "CategoricalParam",
    "FloatParam",
    "IntParam",
    "LogParam",
    "Objective",
    "Param",
    "ParamValue",
    "PostSearch",
    "PrunerSpec",
    "SamplerSpec",
    "StorageSpec",
    "SweepConfig",
    "SweepConfigError",
    "TrackingSpec",
    "load_sweep",
    "parse_sweep",
]
