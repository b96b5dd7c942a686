"""Reading a study back: the trial table, the best trial, and its exported training config."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from geoarena.models import TrainConfig
from geoarena.platform.studies import NoResultError
from geoarena.platform.sweep import SweepConfig
from geoarena.platform.trial_record import TrialAttr, TrialRecord, WorkerIdentity


@dataclass(frozen=True)
class TrialRow:
    """One line of ``geoarena sweep status``: the trial as Optuna knows it, and its record."""

    number: int
    state: str
    value: float | None
    params: dict[str, Any]
    seconds: float | None
    epochs: int
    gpu: str
    worker: str
    mlflow_run_id: str | None
    note: str
    record: TrialRecord | None

    @classmethod
    def of(cls, trial: FrozenTrial) -> TrialRow:
        identity = WorkerIdentity.of(trial)
        seconds = None
        if trial.datetime_start is not None and trial.datetime_complete is not None:
            seconds = (trial.datetime_complete - trial.datetime_start).total_seconds()
        attrs = trial.user_attrs
        notes = []
        if TrialAttr.RETRY_OF in attrs:
            notes.append(f"retry of #{attrs[TrialAttr.RETRY_OF]}")
        if attrs.get(TrialAttr.INTERRUPTED):
            notes.append("interrupted")
        for key in (TrialAttr.ERROR, TrialAttr.PRUNED):
            if key in attrs:
                notes.append(str(attrs[key])[:80])
        if attrs.get(TrialAttr.SEED):
            notes.append("seed")
        return cls(
            number=trial.number,
            state=trial.state.name,
            value=trial.value,
            params=dict(trial.params),
            seconds=seconds,
            epochs=len(trial.intermediate_values),
            gpu=str(identity.gpu or "-") if identity is not None else "-",
            worker=identity.worker if identity is not None else "",
            mlflow_run_id=attrs.get(TrialAttr.RUN_ID),
            note="; ".join(notes),
            record=TrialRecord.of(trial),
        )

    def to_dict(self) -> dict[str, Any]:
        """The JSON form of ``sweep status --format json`` (the record as stored)."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values["record"] = None if self.record is None else self.record.to_attr()
        return values


def trial_rows(study: optuna.Study) -> list[TrialRow]:
    return [TrialRow.of(t) for t in study.get_trials(deepcopy=False)]


def best_trial(study: optuna.Study) -> tuple[FrozenTrial, TrialRecord]:
    """The COMPLETE trial with the highest tuned value (ties: the earliest), and its record."""
    done = [
        (t, record)
        for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if t.value is not None and math.isfinite(t.value) and (record := TrialRecord.of(t))
    ]
    if not done:
        raise NoResultError(f"study {study.study_name!r} has no completed trial yet")
    return max(done, key=lambda pair: (pair[0].value, -pair[0].number))


def best_config(sweep: SweepConfig, trial: FrozenTrial, record: TrialRecord) -> TrainConfig:
    """The best trial's training config with its tuned post-processing thresholds, ready to
    retrain (``out_dir`` = ``<sweep out>/best``) or to predict with."""
    config = sweep.trial_config(trial.params, trial.number, out_dir=sweep.root / "best")
    return config.replace(thresholds=record.thresholds, city_thresholds=record.city_thresholds)


def export_best(
    sweep: SweepConfig, study: optuna.Study, path: str | Path
) -> tuple[Path, FrozenTrial, TrialRecord]:
    """Write the best trial's config as YAML with a header saying where it came from."""
    trial, record = best_trial(study)
    written = best_config(sweep, trial, record).to_yaml(path)
    fixed = record.fixed_value
    header = [
        f"# exported by `geoarena sweep best` from study {sweep.name!r}, trial {trial.number}",
        f"# {sweep.objective.metric} {trial.value:.4f} after post-processing search"
        + (f" ({fixed:.4f} at fixed thresholds)" if fixed is not None else ""),
        f"# checkpoint: {record.checkpoint}",
        f"# mlflow run: {trial.user_attrs.get(TrialAttr.RUN_ID, '-')}",
    ]
    written.write_text("\n".join(header) + "\n" + written.read_text())
    return written, trial, record


@dataclass(frozen=True)
class SearchGain:
    """What the inner search added over fixed thresholds, across trials."""

    trials: int
    mean: float
    max: float


def post_search_gain(study: optuna.Study) -> SearchGain | None:
    gains = [
        gain
        for t in study.get_trials(deepcopy=False)
        if (record := TrialRecord.of(t)) is not None and (gain := record.gain) is not None
    ]
    if not gains:
        return None
    return SearchGain(len(gains), statistics.fmean(gains), max(gains))


__all__ = [
    "NoResultError",
    "SearchGain",
    "TrialRow",
    "best_config",
    "best_trial",
    "export_best",
    "post_search_gain",
    "trial_rows",
]
