"""What the sweep stores in Optuna, in one place: the attribute keys, who ran a trial, and
what a trial produced.

A trial's results are one frozen :class:`TrialRecord`, stored once as the trial's
``result`` user attribute and written with the same names to ``post_search.json`` and
MLflow (``mlflow_params`` / ``mlflow_metrics``): ``value`` (the objective at the tuned
thresholds), ``fixed_value`` (at the training config's thresholds), ``gain``, the tuned
``thresholds``, and the score and paths behind them. ``sweep status``, ``sweep best``,
the export, the demo and ``sweep submit`` all read it back through
:meth:`TrialRecord.of`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from optuna.trial import FrozenTrial

from geoarena.models import Thresholds


class TrialAttr(StrEnum):
    """The user attributes the sweep sets on a trial."""

    #: the :class:`TrialRecord` of a finished or pruned trial.
    RECORD = "result"
    #: the :class:`WorkerIdentity` of the process that ran it.
    WORKER = "worker"
    #: its MLflow child run.
    RUN_ID = "mlflow_run_id"
    #: on a re-queued trial: the number of the first try (whose folder it continues in).
    RETRY_OF = "retry_of"
    #: set on a trial stopped by Ctrl-C (it is re-queued).
    INTERRUPTED = "interrupted"
    #: ``Type: message`` of the exception that failed it.
    ERROR = "error"
    #: why a pruned trial was stopped (epoch and value).
    PRUNED = "pruned"
    #: set on the trials queued from ``enqueue``.
    SEED = "seed_trial"


class StudyAttr(StrEnum):
    """The user attributes the sweep sets on a study."""

    #: the ``enqueue`` trials were queued (on the first launch only).
    SEEDED = "seeded"
    #: the search space the study was last launched with.
    SPACE = "space"
    #: the MLflow parent run of the study.
    PARENT_RUN_ID = "mlflow_parent_run_id"
    #: the latest launch's git commit and command, as MLflow tags (for every run).
    SOURCE = "source"


@dataclass(frozen=True)
class WorkerIdentity:
    """The process that claimed a trial: enough to tell later whether it still runs."""

    host: str
    pid: int
    #: the pid's start time in clock ticks (Linux), to tell a reused pid apart.
    pid_start: int | None
    gpu: str | None
    worker: str

    def to_attr(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def of(cls, trial: FrozenTrial) -> WorkerIdentity | None:
        """The identity stored on ``trial``; None when absent or not one we wrote."""
        data = trial.user_attrs.get(TrialAttr.WORKER)
        if not isinstance(data, dict) or not isinstance(data.get("pid"), int):
            return None
        return cls(
            host=str(data.get("host", "")),
            pid=data["pid"],
            pid_start=data.get("pid_start"),
            gpu=data.get("gpu"),
            worker=str(data.get("worker", "")),
        )


@dataclass(frozen=True)
class TrialRecord:
    """What one trial produced. A pruned trial has its checkpoint and training time only."""

    #: the best epoch's checkpoint (``best.pt``).
    checkpoint: Path
    train_seconds: float
    best_epoch: int | None = None
    #: the objective metric at the tuned thresholds: the trial's value.
    value: float | None = None
    #: the objective metric at the training config's thresholds.
    fixed_value: float | None = None
    #: the thresholds the inner search chose.
    thresholds: Thresholds | None = None
    #: per-city thresholds replacing ``thresholds`` on their city's tiles (``per_city``).
    city_thresholds: Mapping[str, Thresholds] = field(default_factory=dict)
    #: the validation score at the tuned thresholds.
    f1: float | None = None
    mean_city_f1: float | None = None
    precision: float | None = None
    recall: float | None = None
    city_f1: Mapping[str, float] = field(default_factory=dict)
    #: threshold candidates the inner search scored, and its seconds.
    candidates: int = 0
    post_seconds: float = 0.0
    #: the validation predictions CSV at the tuned thresholds, the cached maps, the config.
    predictions: Path | None = None
    val_maps: Path | None = None
    config: Path | None = None

    @property
    def gain(self) -> float | None:
        """What the inner search added over the fixed thresholds (never negative)."""
        if self.value is None or self.fixed_value is None:
            return None
        return self.value - self.fixed_value

    # --- Optuna -----------------------------------------------------------------------------
    @classmethod
    def of(cls, trial: FrozenTrial) -> TrialRecord | None:
        """The record stored on ``trial`` (None while it runs, or if it failed early)."""
        data = trial.user_attrs.get(TrialAttr.RECORD)
        return cls.from_attr(data) if isinstance(data, dict) else None

    def to_attr(self) -> dict[str, Any]:
        """The JSON form: the Optuna user attribute and ``post_search.json``."""
        return {
            "checkpoint": str(self.checkpoint),
            "train_seconds": self.train_seconds,
            "best_epoch": self.best_epoch,
            "value": self.value,
            "fixed_value": self.fixed_value,
            "gain": self.gain,
            "thresholds": None if self.thresholds is None else self.thresholds.to_dict(),
            "city_thresholds": {c: t.to_dict() for c, t in sorted(self.city_thresholds.items())},
            "f1": self.f1,
            "mean_city_f1": self.mean_city_f1,
            "precision": self.precision,
            "recall": self.recall,
            "city_f1": dict(self.city_f1),
            "candidates": self.candidates,
            "post_seconds": self.post_seconds,
            "predictions": _text(self.predictions),
            "val_maps": _text(self.val_maps),
            "config": _text(self.config),
        }

    @classmethod
    def from_attr(cls, data: Mapping[str, Any]) -> TrialRecord:
        """Read :meth:`to_attr`'s form back (``gain`` is derived, not read)."""
        thresholds = data.get("thresholds")
        return cls(
            checkpoint=Path(data["checkpoint"]),
            train_seconds=float(data.get("train_seconds", 0.0)),
            best_epoch=data.get("best_epoch"),
            value=data.get("value"),
            fixed_value=data.get("fixed_value"),
            thresholds=None if thresholds is None else Thresholds.model_validate(thresholds),
            city_thresholds={
                c: Thresholds.model_validate(t)
                for c, t in (data.get("city_thresholds") or {}).items()
            },
            f1=data.get("f1"),
            mean_city_f1=data.get("mean_city_f1"),
            precision=data.get("precision"),
            recall=data.get("recall"),
            city_f1=dict(data.get("city_f1") or {}),
            candidates=int(data.get("candidates", 0)),
            post_seconds=float(data.get("post_seconds", 0.0)),
            predictions=_path(data.get("predictions")),
            val_maps=_path(data.get("val_maps")),
            config=_path(data.get("config")),
        )

    # --- MLflow -----------------------------------------------------------------------------
    def mlflow_params(self) -> dict[str, float]:
        """The tuned thresholds (``thresholds.t_energy``, ...; per city
        ``thresholds.<city>.t_energy``; the fixed ones are the config's ``t_energy``, ...)."""
        if self.thresholds is None:
            return {}
        params = {f"thresholds.{k}": v for k, v in self.thresholds.to_dict().items()}
        for city, tuned in sorted(self.city_thresholds.items()):
            params.update({f"thresholds.{city}.{k}": v for k, v in tuned.to_dict().items()})
        return params

    def mlflow_metrics(self) -> dict[str, float]:
        """Every number of the record under its own name (``city_f1.<city>`` per city)."""
        numbers: dict[str, float | int | None] = {
            "value": self.value,
            "fixed_value": self.fixed_value,
            "gain": self.gain,
            "f1": self.f1,
            "mean_city_f1": self.mean_city_f1,
            "precision": self.precision,
            "recall": self.recall,
            "best_epoch": self.best_epoch,
            "train_seconds": self.train_seconds,
            "post_seconds": self.post_seconds,
            "candidates": self.candidates,
            **{f"city_f1.{city}": f1 for city, f1 in sorted(self.city_f1.items())},
        }
        return {k: float(v) for k, v in numbers.items() if v is not None and math.isfinite(v)}


def _text(path: Path | None) -> str | None:
    return None if path is None else str(path)


def _path(text: str | None) -> Path | None:
    return None if text is None else Path(text)


__all__ = ["StudyAttr", "TrialAttr", "TrialRecord", "WorkerIdentity"]
