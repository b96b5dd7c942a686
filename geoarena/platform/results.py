"""Reading a study back: the trial table, the best trial, and its exported training config."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from geoarena.platform.config import SweepConfig
from geoarena.platform.storage import INTERRUPTED_ATTR, WORKER_ATTR, open_storage
from geoarena.platform.study import RESULT_ATTR, RETRY_ATTR
from geoarena.platform.tracking import RUN_ATTR


class NoResultError(LookupError):
    """The study has no finished trial (or does not exist) yet."""


@dataclass(frozen=True)
class TrialRow:
    """One line of ``geoarena sweep status``."""

    number: int
    state: str
    value: float | None
    value_fixed: float | None
    params: dict[str, Any]
    post: dict[str, float]
    seconds: float | None
    epochs: int
    gpu: str
    worker: str
    run_id: str | None
    note: str

    def to_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


def load_study(sweep: SweepConfig) -> Any:
    """The sweep's study, read-only use; ``NoResultError`` if it was never run."""
    import optuna

    storage = open_storage(
        sweep.storage_url,
        heartbeat_interval=sweep.storage.heartbeat_interval,
        grace_period=sweep.storage.grace_period,
    )
    try:
        return optuna.load_study(study_name=sweep.name, storage=storage)
    except KeyError:
        raise NoResultError(
            f"no study named {sweep.name!r} in {sweep.storage_url}; run `geoarena sweep run` first"
        ) from None


def trial_rows(study: Any) -> list[TrialRow]:
    rows = []
    for t in study.get_trials(deepcopy=False):
        result = t.user_attrs.get(RESULT_ATTR, {})
        worker = t.user_attrs.get(WORKER_ATTR, {}) or {}
        seconds = None
        if t.datetime_start is not None and t.datetime_complete is not None:
            seconds = (t.datetime_complete - t.datetime_start).total_seconds()
        notes = []
        if RETRY_ATTR in t.user_attrs:
            notes.append(f"retry of #{t.user_attrs[RETRY_ATTR]}")
        if t.user_attrs.get(INTERRUPTED_ATTR):
            notes.append("interrupted")
        if "error" in t.user_attrs:
            notes.append(str(t.user_attrs["error"])[:80])
        if t.user_attrs.get("seed_trial"):
            notes.append("seed")
        rows.append(
            TrialRow(
                number=t.number,
                state=t.state.name,
                value=t.value,
                value_fixed=result.get("value_fixed"),
                params=dict(t.params),
                post=result.get("post", {}),
                seconds=seconds,
                epochs=len(t.intermediate_values),
                gpu=str(worker.get("gpu") or "-"),
                worker=str(worker.get("worker", "")),
                run_id=t.user_attrs.get(RUN_ATTR),
                note="; ".join(notes),
            )
        )
    return rows


def best_trial(study: Any) -> Any:
    """The COMPLETE trial with the highest tuned F1."""
    from optuna.trial import TrialState

    done = [
        t
        for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if t.value is not None and math.isfinite(t.value)
    ]
    if not done:
        raise NoResultError(f"study {study.study_name!r} has no completed trial yet")
    return max(done, key=lambda t: (t.value, -t.number))


def best_config(sweep: SweepConfig, trial: Any) -> Any:
    """The best trial's training config with its tuned post-processing thresholds, ready to
    retrain (``out_dir`` = ``<sweep out>/best``) or to predict with."""
    result = trial.user_attrs.get(RESULT_ATTR, {})
    config = sweep.trial_config(trial.params, trial.number)
    return config.replace(out_dir=sweep.root / "best", **result.get("post", {}))


def export_best(sweep: SweepConfig, study: Any, path: str | Path) -> tuple[Path, Any]:
    """Write the best trial's config as YAML with a header saying where it came from."""
    trial = best_trial(study)
    config = best_config(sweep, trial)
    path = config.to_yaml(path)
    result = trial.user_attrs.get(RESULT_ATTR, {})
    header = [
        f"# exported by `geoarena sweep best` from study {sweep.name!r}, trial {trial.number}",
        f"# {sweep.objective.metric} {trial.value:.4f} after post-processing search"
        + (
            f" ({result['value_fixed']:.4f} at fixed thresholds)" if "value_fixed" in result else ""
        ),
        f"# checkpoint: {result.get('checkpoint', '?')}",
        f"# mlflow run: {trial.user_attrs.get(RUN_ATTR, '-')}",
    ]
    path.write_text("\n".join(header) + "\n" + path.read_text())
    return path, trial


def post_search_gain(study: Any) -> dict[str, float] | None:
    """Mean and max of what the inner search added over fixed thresholds, across trials."""
    gains = [
        r["gain"]
        for t in study.get_trials(deepcopy=False)
        if isinstance(r := t.user_attrs.get(RESULT_ATTR), dict) and "gain" in r
    ]
    if not gains:
        return None
    return {"trials": len(gains), "mean": sum(gains) / len(gains), "max": max(gains)}
