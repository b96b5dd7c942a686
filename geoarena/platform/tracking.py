"""Experiment tracking: one parent run per study, one child run per trial.

``BaseTracker`` is the seam (as ``BasePruner`` is Optuna's): the sweep only talks to it,
``NullTracker`` records nothing, ``MLflowTracker`` writes to any MLflow tracking URI.
A tracker follows one trial at a time in one worker process, doubles as the
``MetricLogger`` that ``geoarena.models.train.train`` logs epochs to, and closes the
trial's run from an Optuna study callback once the trial's state is final, so the run's
status always mirrors the trial's (COMPLETE -> FINISHED, PRUNED -> KILLED with tag
``optuna.state=PRUNED``, FAIL -> FAILED).

Workers are separate processes (and machines): the parent run id is stored on the study
(user attribute ``mlflow_parent_run_id``) and every child run sets it explicitly, and the
child's run id is stored on its trial (user attribute ``mlflow_run_id``), so either side
can be found from the other.
"""

from __future__ import annotations

import abc
import math
import time
from pathlib import Path
from typing import Any

PARENT_ATTR = "mlflow_parent_run_id"
RUN_ATTR = "mlflow_run_id"
#: Optuna state name -> MLflow run status.
RUN_STATUS = {"COMPLETE": "FINISHED", "PRUNED": "KILLED", "FAIL": "FAILED"}
#: MLflow refuses longer param values.
_MAX_PARAM = 6000


class BaseTracker(abc.ABC):
    """Records of a sweep. Implement the abstract methods; the hooks are optional no-ops."""

    def open_study(self, study: Any, *, params: dict[str, Any], files: list[Path]) -> None:
        """Create (or re-open, on resume) the study's parent record (launcher side)."""
        return None

    def attach(self, study: Any) -> None:
        """Find the parent record the launcher created (worker side)."""
        return None

    def close_study(self, study: Any, *, interrupted: bool) -> None:
        """Mark the parent record finished (or killed, after Ctrl-C)."""
        return None

    @abc.abstractmethod
    def start_trial(self, trial: Any, *, tags: dict[str, Any]) -> None:
        """Open the record of ``trial`` (an ``optuna.Trial``); later logs go there."""

    @abc.abstractmethod
    def log_params(self, params: dict[str, Any]) -> None: ...

    @abc.abstractmethod
    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None: ...

    @abc.abstractmethod
    def log_artifact(self, path: str | Path, artifact_path: str | None = None) -> None: ...

    @abc.abstractmethod
    def end_trial(self, trial: Any) -> None:
        """Close the current record with the state of ``trial`` (an ``optuna.FrozenTrial``)."""

    def interrupt_trial(self) -> None:
        """Ctrl-C: close the current record as killed (the trial will be re-queued)."""
        return None

    def mark_dead(self, trial: Any) -> None:
        """Close the record of a trial whose worker died (called from another process)."""
        return None

    def __call__(self, study: Any, trial: Any) -> None:
        """Optuna study-callback form of :meth:`end_trial`."""
        self.end_trial(trial)


class NullTracker(BaseTracker):
    """Records nothing: the default when tracking is disabled."""

    def start_trial(self, trial: Any, *, tags: dict[str, Any]) -> None:
        pass

    def log_params(self, params: dict[str, Any]) -> None:
        pass

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        pass

    def log_artifact(self, path: str | Path, artifact_path: str | None = None) -> None:
        pass

    def end_trial(self, trial: Any) -> None:
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
        from mlflow import MlflowClient

        self.tracking_uri = tracking_uri
        self.max_artifact_bytes = None if max_artifact_mb is None else max_artifact_mb * 2**20
        self.client = MlflowClient(tracking_uri)
        self.experiment_id = self._experiment(experiment, artifact_location)
        self.parent_run_id: str | None = None
        self.run_id: str | None = None

    def _experiment(self, name: str, artifact_location: str | None) -> str:
        from mlflow.exceptions import MlflowException

        found = self.client.get_experiment_by_name(name)
        if found is not None:
            if found.lifecycle_stage == "deleted":
                self.client.restore_experiment(found.experiment_id)
            return found.experiment_id
        try:
            return self.client.create_experiment(name, artifact_location=artifact_location)
        except MlflowException:  # another worker created it first
            return self.client.get_experiment_by_name(name).experiment_id

    # --- study ------------------------------------------------------------------------------
    def open_study(self, study: Any, *, params: dict[str, Any], files: list[Path]) -> None:
        """Attach to the parent run stored on the study, creating it on the first launch.

        Call under the storage's claim lock: two launchers must not both create one.
        """
        run_id = study.user_attrs.get(PARENT_ATTR)
        if run_id is None:
            run = self.client.create_run(
                self.experiment_id,
                run_name=study.study_name,
                tags={"optuna.study_name": study.study_name, "geoarena.kind": "sweep"},
            )
            run_id = run.info.run_id
            study.set_user_attr(PARENT_ATTR, run_id)
            self.run_id = run_id
            self.log_params(params)
            for path in files:
                self.log_artifact(path)
        elif self.client.get_run(run_id).info.status != "RUNNING":
            self.client.update_run(run_id, status="RUNNING")
        self.parent_run_id = run_id
        self.run_id = None

    def close_study(self, study: Any, *, interrupted: bool) -> None:
        if self.parent_run_id is not None:
            status = "KILLED" if interrupted else "FINISHED"
            self.client.set_terminated(self.parent_run_id, status=status)

    def attach(self, study: Any) -> None:
        self.parent_run_id = study.user_attrs.get(PARENT_ATTR)

    # --- trial ------------------------------------------------------------------------------
    def start_trial(self, trial: Any, *, tags: dict[str, Any]) -> None:
        from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID

        all_tags = {
            "optuna.study_name": trial.study.study_name,
            "optuna.trial_number": str(trial.number),
            **{k: str(v) for k, v in tags.items()},
        }
        if self.parent_run_id is not None:
            all_tags[MLFLOW_PARENT_RUN_ID] = self.parent_run_id
        run = self.client.create_run(
            self.experiment_id,
            run_name=f"{trial.study.study_name}-trial-{trial.number:04d}",
            tags=all_tags,
        )
        self.run_id = run.info.run_id
        trial.set_user_attr(RUN_ATTR, self.run_id)

    def log_params(self, params: dict[str, Any]) -> None:
        from mlflow.entities import Param

        items = [Param(k, _param_text(v)) for k, v in params.items()]
        for i in range(0, len(items), 100):  # MLflow's batch limit
            self.client.log_batch(self._require_run(), params=items[i : i + 100])

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        from mlflow.entities import Metric

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

    def end_trial(self, trial: Any) -> None:
        if self.run_id is None:
            return
        state = trial.state.name
        tags = {"optuna.state": state}
        if trial.value is not None and math.isfinite(trial.value):
            self.log_metrics({"objective": trial.value}, step=_last_step(trial))
        self._set_tags(self.run_id, tags)
        self.client.set_terminated(self.run_id, status=RUN_STATUS.get(state, "FAILED"))
        if self.parent_run_id is not None and trial.value is not None:
            self.client.log_batch(self.parent_run_id, metrics=_parent_metrics(trial))
        self.run_id = None

    def interrupt_trial(self) -> None:
        if self.run_id is not None:
            self._set_tags(self.run_id, {"optuna.state": "FAIL", "geoarena.interrupted": "true"})
            self.client.set_terminated(self.run_id, status="KILLED")
            self.run_id = None

    def mark_dead(self, trial: Any) -> None:
        run_id = trial.user_attrs.get(RUN_ATTR)
        if run_id is None:
            return
        if self.client.get_run(run_id).info.status == "RUNNING":
            self._set_tags(run_id, {"optuna.state": "FAIL", "geoarena.worker_died": "true"})
            self.client.set_terminated(run_id, status="FAILED")

    def _set_tags(self, run_id: str, tags: dict[str, str]) -> None:
        from mlflow.entities import RunTag

        self.client.log_batch(run_id, tags=[RunTag(k, v) for k, v in tags.items()])

    def _require_run(self) -> str:
        if self.run_id is None:
            raise RuntimeError("no MLflow run is open: call start_trial() first")
        return self.run_id


def _param_text(value: Any) -> str:
    text = str(value)
    return text if len(text) <= _MAX_PARAM else text[: _MAX_PARAM - 3] + "..."


def _last_step(trial: Any) -> int:
    return max(trial.intermediate_values, default=0)


def _parent_metrics(trial: Any) -> list[Any]:
    """The parent run's curve: each finished trial's objective, stepped by trial number."""
    from mlflow.entities import Metric

    now = int(time.time() * 1000)
    return [Metric(f"trial_{trial.state.name.lower()}_value", trial.value, now, trial.number)]


def make_tracker(sweep: Any) -> BaseTracker:
    """The tracker a sweep's ``tracking`` section asks for."""
    if not sweep.tracking.enabled:
        return NullTracker()
    return MLflowTracker(
        sweep.tracking_uri,
        sweep.experiment_name,
        sweep.artifact_location,
        max_artifact_mb=sweep.tracking.max_artifact_mb,
    )
