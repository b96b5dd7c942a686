"""Predict with a study's best trial, for a leaderboard submission (``sweep submit``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from optuna.trial import FrozenTrial

from geoarena.models import predict
from geoarena.platform.results import best_trial
from geoarena.platform.studies import NoResultError, load_study
from geoarena.platform.sweep import SweepConfig
from geoarena.platform.trial_record import TrialRecord


@dataclass(frozen=True)
class BestPrediction:
    trial: FrozenTrial
    record: TrialRecord
    csv: Path


def predict_best(
    sweep: SweepConfig, images_dir: str | Path, out_csv: str | Path, *, tta: bool = False
) -> BestPrediction:
    """Run the best trial's checkpoint on ``images_dir`` with its tuned thresholds."""
    trial, record = best_trial(load_study(sweep))
    if not record.checkpoint.is_file():
        raise NoResultError(
            f"checkpoint of trial {trial.number} not found at {record.checkpoint} "
            "(run `submit` on the machine that holds the sweep's out_dir)"
        )
    csv = predict(
        record.checkpoint,
        images_dir,
        out_csv,
        thresholds=record.thresholds,
        city_thresholds=record.city_thresholds,
        tta=tta,
    )
    return BestPrediction(trial, record, csv)


__all__ = ["BestPrediction", "predict_best"]
