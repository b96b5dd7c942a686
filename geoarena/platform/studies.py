"""A sweep's Optuna study: create or resume it, seed it, count its budget, retry trials.

The launcher calls :func:`launch_study` once before workers start; every worker then
opens the same study (:func:`open_study`) through the storage.
"""

from __future__ import annotations

import json
import re
from typing import Any

import optuna
from optuna.storages import BaseStorage
from optuna.trial import FrozenTrial, TrialState

from geoarena.errors import NotFound
from geoarena.platform.storage import claim_lock, open_storage
from geoarena.platform.sweep import SweepConfig
from geoarena.platform.tracking import BaseTracker, make_tracker
from geoarena.platform.trial_record import StudyAttr, TrialAttr


class NoResultError(NotFound):
    """The sweep's study does not exist yet, or has no completed trial yet."""


def sweep_storage(sweep: SweepConfig) -> BaseStorage:
    """The sweep's storage, without a dead-worker callback (readers, the launcher)."""
    return open_storage(
        sweep.storage_url,
        heartbeat_interval=sweep.storage.heartbeat_interval,
        grace_period=sweep.storage.grace_period,
    )


def open_study(sweep: SweepConfig, storage: BaseStorage, *, worker_index: int = 0) -> optuna.Study:
    """Create the study, or load it when one of that name exists (a resume).

    The sampler's seed is offset by the worker index and the number of trials already in
    the study: a worker (or a resumed sweep) that re-created the sampler with the
    configured seed alone would sample the first point of the previous run again.
    """
    study = optuna.create_study(
        storage=storage,
        study_name=sweep.name,
        direction="maximize",
        sampler=sweep.sampler.build(),
        pruner=sweep.pruner.build(sweep.train.epochs),
        load_if_exists=True,
    )
    existing = len(study.get_trials(deepcopy=False))
    if sweep.sampler.seed is not None and (existing or worker_index):
        study.sampler = sweep.sampler.build(
            seed=sweep.sampler.seed + 7919 * worker_index + existing
        )
    return study


def load_study(sweep: SweepConfig) -> optuna.Study:
    """The sweep's study, for reading; ``NoResultError`` if it was never run."""
    try:
        return optuna.load_study(study_name=sweep.name, storage=sweep_storage(sweep))
    except KeyError:
        raise NoResultError(
            f"no study named {sweep.name!r} in {sweep.storage_url}; run `geoarena sweep run` first"
        ) from None


def prepare_study(sweep: SweepConfig, study: optuna.Study) -> list[str]:
    """First launch: queue the seed trials. Any launch: warn if the space changed.

    Call under the claim lock. Returns warnings for the user.
    """
    warnings = []
    space = {name: param.model_dump() for name, param in sweep.space.items()}
    if not study.user_attrs.get(StudyAttr.SEEDED):
        for params in sweep.enqueued_params():
            study.enqueue_trial(params, user_attrs={TrialAttr.SEED: True})
        study.set_user_attr(StudyAttr.SPACE, space)
        study.set_user_attr(StudyAttr.SEEDED, True)
    elif study.user_attrs.get(StudyAttr.SPACE) != json.loads(json.dumps(space)):
        warnings.append(
            f"the search space of {sweep.name!r} differs from the one it was created with; "
            "earlier trials still guide the sampler where parameters overlap"
        )
        study.set_user_attr(StudyAttr.SPACE, space)
    return warnings


def counted_trials(trials: list[FrozenTrial]) -> int:
    """Trials that use up the budget: all but WAITING ones and failures that were retried."""
    retried = {n for t in trials for n in t.system_attrs.get("retry_history", ())}
    return sum(
        1
        for t in trials
        if t.state != TrialState.WAITING
        and not (t.state == TrialState.FAIL and t.number in retried)
    )


def retry_trial(study: optuna.Study, trial: FrozenTrial, max_retry: int) -> bool:
    """Queue ``trial``'s parameters again, as Optuna's retry callback does.

    Uses the same ``failed_trial`` / ``retry_history`` system attributes, but leaves the
    per-run user attributes (MLflow run id, worker, interrupted flag) behind.
    """
    history = [*trial.system_attrs.get("retry_history", []), trial.number]
    if len(history) > max_retry:
        return False
    carried = {k: v for k, v in trial.user_attrs.items() if k == TrialAttr.SEED}
    carried[TrialAttr.RETRY_OF] = trial.user_attrs.get(TrialAttr.RETRY_OF, trial.number)
    study.add_trial(
        optuna.trial.create_trial(
            state=TrialState.WAITING,
            params=trial.params,
            distributions=trial.distributions,
            user_attrs=carried,
            system_attrs={
                "failed_trial": trial.system_attrs.get("failed_trial", trial.number),
                "retry_history": history,
            },
        )
    )
    return True


def launch_study(
    sweep: SweepConfig, tracker: BaseTracker | None = None
) -> tuple[optuna.Study, list[str]]:
    """Launcher side, before workers start: create/resume the study, seed it, open the
    parent run. Returns the study and warnings."""
    storage = sweep_storage(sweep)
    tracker = tracker or make_tracker(sweep)
    with claim_lock(sweep.storage_url, storage, sweep.name):
        study = open_study(sweep, storage)
        warnings = prepare_study(sweep, study)
        tracker.open_study(
            study,
            params=study_params(sweep),
            files=[sweep.source] if sweep.source is not None else [],
        )
    return study, warnings


def study_params(sweep: SweepConfig) -> dict[str, Any]:
    """What the parent run records: objective, sampler, pruner, budget, fixed config, space."""
    params: dict[str, Any] = {
        "objective": sweep.objective.metric.value,
        "post_search": sweep.objective.post_search.enabled,
        "sampler": sweep.sampler.type,
        "sampler_seed": sweep.sampler.seed,
        "pruner": sweep.pruner.type,
        "n_trials": sweep.budget.n_trials,
        "timeout_s": sweep.budget.timeout,
        "storage": _redact(sweep.storage_url),
    }
    params.update({f"fixed.{k}": v for k, v in sweep.train.flat(only_set=True).items()})
    params.update({f"space.{k}": p.bounds() for k, p in sweep.space.items()})
    return params


def _redact(url: str) -> str:
    """Drop a password from a database URL before it is logged."""
    return re.sub(r"://([^:/@]+):[^@]*@", r"://\1:***@", url)


__all__ = [
    "NoResultError",
    "counted_trials",
    "launch_study",
    "load_study",
    "open_study",
    "prepare_study",
    "retry_trial",
    "study_params",
    "sweep_storage",
]
