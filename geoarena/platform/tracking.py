"""Experiment tracking: one parent run per study, one child run per trial.

``BaseTracker`` is the seam (as ``BasePruner`` is Optuna's): the sweep only talks to it,
``NullTracker`` records nothing, ``MLflowTracker`` writes to any MLflow tracking URI.
A tracker follows one trial at a time in one worker process, doubles as the
``MetricLogger`` that ``geoarena.models.train.train`` logs epochs to, and closes the
trial's run once the worker has told Optuna the trial's final state, so the run's
status always mirrors the trial's (COMPLETE -> FINISHED, PRUNED -> KILLED, FAIL ->
FAILED), tagged ``geoarena.outcome`` (complete / pruned / failed / interrupted / worker
died) with the reason -- the pruning epoch and value, the exception -- as the run's
description, so pruned and failed trials differ at a glance in the runs table.

What a researcher sees in the MLflow UI: experiments are tagged as model training
(``mlflow.experimentKind``), so they open on the runs table, not MLflow 3's GenAI
overview; child runs are named ``trial-0007`` and nested under the study's parent run,
whose ``best_value`` curve is the best objective so far per trial number (and
``trial_value`` each finished trial's); every run carries the launcher's git commit and
command (:mod:`geoarena.platform.provenance`).

Workers are separate processes (and machines): the parent run id is stored on the study
(``StudyAttr.PARENT_RUN_ID``) and every child run sets it explicitly, and the child's run
id is stored on its trial (``TrialAttr.RUN_ID``), so either side can be found from the
other. Values cross into MLflow here only: params as text, metrics as finite floats.
"""

from __future__ import annotations

import abc
import math
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import optuna
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag
from mlflow.exceptions import MlflowException
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID, MLFLOW_RUN_NOTE
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from geoarena.platform.provenance import source_tags
from geoarena.platform.sweep import SweepConfig
from geoarena.platform.trial_record import StudyAttr, TrialAttr

#: Optuna state -> MLflow run status.
RUN_STATUS = {
    TrialState.COMPLETE: "FINISHED",
    TrialState.PRUNED: "KILLED",
    TrialState.FAIL: "FAILED",
}
#: Optuna state -> the ``geoarena.outcome`` tag.
OUTCOME = {TrialState.COMPLETE: "complete", TrialState.PRUNED: "pruned"}
OUTCOME_TAG = "geoarena.outcome"
#: experiment tag the MLflow 3 UI reads to choose an experiment's first page: without it,
#: an experiment without runs yet is shown as a GenAI one (traces, evaluations).
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
MODEL_TRAINING = "custom_model_development"
#: MLflow refuses longer param values.
_MAX_PARAM = 6000


class BaseTracker(abc.ABC):
    """Records of a sweep. Implement the abstract methods; the hooks are optional no-ops."""

    def open_study(
        self, study: optuna.Study, *, params: Mapping[str, Any], files: list[Path]
    ) -> None:
        """Create (or re-open, on resume) the study's parent record (launcher side)."""
        return None

    def attach(self, study: optuna.Study) -> None:
        """Find the parent record the launcher created (worker side)."""
        return None

    def close_study(self, study: optuna.Study, *, interrupted: bool) -> None:
        """Mark the parent record finished (or killed, after Ctrl-C)."""
        return None

    @abc.abstractmethod
    def start_trial(self, trial: optuna.Trial, *, tags: Mapping[str, object]) -> None:
        """Open the record of ``trial``; later logs go there."""

    @abc.abstractmethod
    def log_params(self, params: Mapping[str, Any]) -> None: ...

    @abc.abstractmethod
    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None: ...

    @abc.abstractmethod
    def log_artifact(self, path: str | Path, artifact_path: str | None = None) -> None: ...

    @abc.abstractmethod
    def end_trial(self, trial: FrozenTrial) -> None:
        """Close the current record with the final state of ``trial``."""

    def interrupt_trial(self) -> None:
        """Ctrl-C: close the current record as killed (the trial will be re-queued)."""
        return None

    def mark_dead(self, trial: FrozenTrial) -> None:
        """Close the record of a trial whose worker died (called from another process)."""
        return None


class NullTracker(BaseTracker):
    """Records nothing: the default when tracking is disabled."""

    def start_trial(self, trial: optuna.Trial, *, tags: Mapping[str, object]) -> None:
        pass

    def log_params(self, params: Mapping[str, Any]) -> None:
        pass

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        pass

    def log_artifact(self, path: str | Path, artifact_path: str | None = None) -> None:
        pass

    def end_trial(self, trial: FrozenTrial) -> None:
        pass


class MLflowTracker(BaseTracker):
    """MLflow runs through ``MlflowClient`` (no global active run: safe in any process).

    Args:
        tracking_uri: ``sqlite:///path/mlflow.db``, ``http://server:5000``, ...
        experiment: experiment name, created on first use with ``artifact_location``.
        artifact_location: where new experiments keep artifacts (a ``file://`` URI or
            ``s3://``...); ignored when the experiment already exists.
    """

    def __init__(
        self,
        tracking_uri: str,
        experiment: str,
        artifact_location: str | None,
        *,
        max_artifact_mb: float | None = None,
    ) -> None:
        self.tracking_uri = tracking_uri
        self.max_artifact_bytes = None if max_artifact_mb is None else max_artifact_mb * 2**20
        self.client = MlflowClient(tracking_uri)
        self.experiment_id = self._experiment(experiment, artifact_location)
        self.parent_run_id: str | None = None
        self.run_id: str | None = None
        self.study: optuna.Study | None = None

    def _experiment(self, name: str, artifact_location: str | None) -> str:
        found = self.client.get_experiment_by_name(name)
        if found is not None:
            if found.lifecycle_stage == "deleted":
                self.client.restore_experiment(found.experiment_id)
            if EXPERIMENT_KIND_TAG not in found.tags:  # created before the tag; a set kind stays
                self.client.set_experiment_tag(
                    found.experiment_id, EXPERIMENT_KIND_TAG, MODEL_TRAINING
                )
            return str(found.experiment_id)
        try:
            return str(
                self.client.create_experiment(
                    name,
                    artifact_location=artifact_location,
                    tags={EXPERIMENT_KIND_TAG: MODEL_TRAINING},
                )
            )
        except MlflowException:  # another worker created it first
            created = self.client.get_experiment_by_name(name)
            if created is None:
                raise
            return str(created.experiment_id)

    # --- study ------------------------------------------------------------------------------
    def open_study(
        self, study: optuna.Study, *, params: Mapping[str, Any], files: list[Path]
    ) -> None:
        """Attach to the parent run stored on the study, creating it on the first launch.

        Call under the storage's claim lock: two launchers must not both create one.
        """
        source = source_tags()  # this launch's command and commit, also for its trials
        study.set_user_attr(StudyAttr.SOURCE, source)
        run_id = study.user_attrs.get(StudyAttr.PARENT_RUN_ID)
        if run_id is None:
            run = self.client.create_run(
                self.experiment_id,
                run_name=study.study_name,
                tags={"optuna.study_name": study.study_name, "geoarena.kind": "sweep", **source},
            )
            run_id = run.info.run_id
            study.set_user_attr(StudyAttr.PARENT_RUN_ID, run_id)
            self.run_id = run_id
            self.log_params(params)
            for path in files:
                self.log_artifact(path)
        else:
            self._set_tags(run_id, source)  # a resume: the latest launch's
            if self.client.get_run(run_id).info.status != "RUNNING":
                self.client.update_run(run_id, status="RUNNING")
        self.parent_run_id = run_id
        self.run_id = None
        self.study = study

    def close_study(self, study: optuna.Study, *, interrupted: bool) -> None:
        if self.parent_run_id is not None:
            status = "KILLED" if interrupted else "FINISHED"
            self.client.set_terminated(self.parent_run_id, status=status)

    def attach(self, study: optuna.Study) -> None:
        self.parent_run_id = study.user_attrs.get(StudyAttr.PARENT_RUN_ID)
        self.study = study

    # --- trial ------------------------------------------------------------------------------
    def start_trial(self, trial: optuna.Trial, *, tags: Mapping[str, object]) -> None:
        all_tags = {
            **trial.study.user_attrs.get(StudyAttr.SOURCE, {}),
            "optuna.study_name": trial.study.study_name,
            "optuna.trial_number": str(trial.number),
            **{k: str(v) for k, v in tags.items()},
        }
        if self.parent_run_id is not None:
            all_tags[MLFLOW_PARENT_RUN_ID] = self.parent_run_id
        run = self.client.create_run(
            self.experiment_id, run_name=trial_run_name(trial.number), tags=all_tags
        )
        self.run_id = run.info.run_id
        trial.set_user_attr(TrialAttr.RUN_ID, self.run_id)

    def log_params(self, params: Mapping[str, Any]) -> None:
        items = [Param(k, _param_text(v)) for k, v in params.items()]
        for i in range(0, len(items), 100):  # MLflow's batch limit
            self.client.log_batch(self._require_run(), params=items[i : i + 100])

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        now = int(time.time() * 1000)
        items = [
            Metric(k, float(v), now, step or 0)
            for k, v in metrics.items()
            if isinstance(v, int | float) and math.isfinite(v)
        ]
        for i in range(0, len(items), 1000):
            self.client.log_batch(self._require_run(), metrics=items[i : i + 1000])

    def log_artifact(self, path: str | Path, artifact_path: str | None = None) -> None:
        path = Path(path)
        if path.is_dir():
            self.client.log_artifacts(self._require_run(), str(path), artifact_path)
        elif path.is_file():
            size = path.stat().st_size
            if self.max_artifact_bytes is not None and size > self.max_artifact_bytes:
                key = f"geoarena.local_artifact.{path.name}"
                self._set_tags(self._require_run(), {key: str(path.resolve())})
                return
            self.client.log_artifact(self._require_run(), str(path), artifact_path)

    def end_trial(self, trial: FrozenTrial) -> None:
        if self.run_id is None:
            return
        outcome = OUTCOME.get(trial.state, "failed")
        reason = trial.user_attrs.get(
            TrialAttr.PRUNED if trial.state == TrialState.PRUNED else TrialAttr.ERROR
        )
        tags = {"optuna.state": trial.state.name, OUTCOME_TAG: outcome}
        if reason and outcome != "complete":
            tags[MLFLOW_RUN_NOTE] = f"{outcome}: {reason}"
        self._set_tags(self.run_id, tags)
        self.client.set_terminated(self.run_id, status=RUN_STATUS.get(trial.state, "FAILED"))
        if self.parent_run_id is not None:
            self.client.log_batch(self.parent_run_id, metrics=self._parent_metrics(trial))
        self.run_id = None

    def interrupt_trial(self) -> None:
        if self.run_id is not None:
            self._set_tags(
                self.run_id,
                {
                    "optuna.state": "FAIL",
                    "geoarena.interrupted": "true",
                    OUTCOME_TAG: "interrupted",
                    MLFLOW_RUN_NOTE: "Ctrl-C: re-queued, resumes from its last epoch",
                },
            )
            self.client.set_terminated(self.run_id, status="KILLED")
            self.run_id = None

    def mark_dead(self, trial: FrozenTrial) -> None:
        run_id = trial.user_attrs.get(TrialAttr.RUN_ID)
        if run_id is None:
            return
        if self.client.get_run(run_id).info.status == "RUNNING":
            tags = {
                "optuna.state": "FAIL",
                "geoarena.worker_died": "true",
                OUTCOME_TAG: "worker died",
                MLFLOW_RUN_NOTE: "its worker process died: re-queued",
            }
            self._set_tags(run_id, tags)
            self.client.set_terminated(run_id, status="FAILED")

    def _parent_metrics(self, trial: FrozenTrial) -> list[Metric]:
        """The parent run's curves, stepped by trial number: ``trial_value`` of a finished
        trial, and ``best_value``, the best objective of trials numbered up to this one
        that have finished (with parallel workers a later number can finish first)."""
        now = int(time.time() * 1000)
        metrics = []
        if trial.state == TrialState.COMPLETE and trial.value is not None:
            metrics.append(Metric("trial_value", trial.value, now, trial.number))
        best = None if self.study is None else best_so_far(self.study, trial.number)
        if best is not None:
            metrics.append(Metric("best_value", best, now, trial.number))
        return metrics

    def _set_tags(self, run_id: str, tags: Mapping[str, str]) -> None:
        self.client.log_batch(run_id, tags=[RunTag(k, v) for k, v in tags.items()])

    def _require_run(self) -> str:
        if self.run_id is None:
            raise RuntimeError("no MLflow run is open: call start_trial() first")
        return self.run_id


def _param_text(value: object) -> str:
    text = str(value)
    return text if len(text) <= _MAX_PARAM else text[: _MAX_PARAM - 3] + "..."


def trial_run_name(number: int) -> str:
    """A child run's name: sorts by number, readable in the runs table (the study is the
    parent run's name)."""
    return f"trial-{number:04d}"


def best_so_far(study: optuna.Study, number: int) -> float | None:
    """The best value of the complete trials numbered up to ``number`` (None: none yet)."""
    values = [
        t.value
        for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if t.number <= number and t.value is not None
    ]
    if not values:
        return None
    return max(values) if study.direction == StudyDirection.MAXIMIZE else min(values)


def make_tracker(sweep: SweepConfig) -> BaseTracker:
    """The tracker a sweep's ``tracking`` section asks for."""
    if not sweep.tracking.enabled:
        return NullTracker()
    return MLflowTracker(
        sweep.tracking_uri,
        sweep.experiment_name,
        sweep.artifact_location,
        max_artifact_mb=sweep.tracking.max_artifact_mb,
    )
