"""Experiments: Optuna sweeps over training jobs, logged to MLflow, scored with the real metric.

Modules: ``sweep/`` (the sweep file: space, strategy, schema, parameters -> training
config, loading), ``trial_record`` (what the sweep stores in Optuna: ``TrialRecord``,
``WorkerIdentity``, attribute keys), ``storage`` (Optuna storages, claim lock, dead
workers), ``studies`` (create/resume, seeding, budget, retries), ``objective`` (one
trial: train, tune, record), ``worker`` (``SweepWorker``: claim, run, record),
``post_search`` (the inner threshold search), ``tracking`` (MLflow parent/child runs),
``launcher`` (worker processes per GPU / CPU slot), ``results`` (status rows, best
trial, export), ``best_prediction`` (predict with the best trial), ``demo``, ``cli``.
"""

from geoarena.platform.best_prediction import BestPrediction, predict_best
from geoarena.platform.demo import run_demo
from geoarena.platform.launcher import LaunchResult, launch
from geoarena.platform.objective import TrialObjective, TrialTiming
from geoarena.platform.post_search import PostSearchResult, tune_post
from geoarena.platform.results import (
    SearchGain,
    TrialRow,
    best_config,
    best_trial,
    export_best,
    post_search_gain,
    trial_rows,
)
from geoarena.platform.studies import NoResultError, launch_study, load_study
from geoarena.platform.sweep import SweepConfig, SweepConfigError, load_sweep, parse_sweep
from geoarena.platform.tracking import BaseTracker, MLflowTracker, NullTracker, make_tracker
from geoarena.platform.trial_record import StudyAttr, TrialAttr, TrialRecord, WorkerIdentity
from geoarena.platform.worker import SweepWorker, WorkerOptions, WorkerReport, run_worker

__all__ = [
    "BaseTracker",
    "BestPrediction",
    "LaunchResult",
    "MLflowTracker",
    "NoResultError",
    "NullTracker",
    "PostSearchResult",
    "SearchGain",
    "StudyAttr",
    "SweepConfig",
    "SweepConfigError",
    "SweepWorker",
    "TrialAttr",
    "TrialObjective",
    "TrialRecord",
    "TrialRow",
    "TrialTiming",
    "WorkerIdentity",
    "WorkerOptions",
    "WorkerReport",
    "best_config",
    "best_trial",
    "export_best",
    "launch",
    "launch_study",
    "load_study",
    "load_sweep",
    "make_tracker",
    "parse_sweep",
    "post_search_gain",
    "predict_best",
    "run_demo",
    "run_worker",
    "trial_rows",
    "tune_post",
]
