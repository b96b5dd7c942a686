"""Studies and the worker loop: claim a trial, train it, tune its thresholds, record it.

One ``run_worker`` call is one worker: it repeatedly claims a trial (under the storage's
claim lock, which also enforces the total trial cap and fails trials of dead workers),
trains it with ``geoarena.models.train.train`` (reporting each epoch's validation F1 for
pruning), runs the inner post-processing search on the best epoch's cached validation
maps, logs everything to the tracker and tells Optuna the tuned F1.

Failure semantics, per trial:

* the objective raises: the trial is FAIL (counted against the budget, not retried: a
  deterministic error would fail again), the worker moves on;
* Ctrl-C: the trial is FAIL with ``interrupted`` and re-queued, its MLflow run KILLED;
  the next ``sweep run`` resumes it from its last epoch checkpoint;
* the worker dies: on PostgreSQL the heartbeat lapses and the next claim by any worker
  fails and re-queues it; on a journal file the next claim on this host sees the dead
  pid and does the same.
"""

from __future__ import annotations

import contextlib
import json
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from geoarena.platform.config import SweepConfig
from geoarena.platform.interrupt import StopRequest
from geoarena.platform.storage import (
    INTERRUPTED_ATTR,
    WORKER_ATTR,
    claim_lock,
    is_rdb,
    open_storage,
    reap_dead_trials,
    worker_identity,
)
from geoarena.platform.tracking import BaseTracker, make_tracker
from geoarena.platform.tune_post import PostParams, tune_post

SEEDED_ATTR = "seeded"
SPACE_ATTR = "space"
#: trial user attribute of a re-queued trial: the number of the first try.
RETRY_ATTR = "retry_of"
#: trial user attribute holding the trial's results (paths, tuned thresholds, timings).
RESULT_ATTR = "result"

TrainFn = Callable[..., Any]


@dataclass(frozen=True)
class WorkerOptions:
    """How one worker process runs its trials."""

    worker: str = "w0"
    #: the physical GPU this worker sees as ``cuda:0`` (via CUDA_VISIBLE_DEVICES), if any.
    gpu: str | None = None
    #: wall-clock time (``time.time()``) after which no new trial starts.
    deadline: float | None = None
    progress: bool = False
    #: index of this worker among those launched together (decorrelates sampler seeds).
    index: int = 0


@dataclass
class TrialTiming:
    """Where one trial's wall time went (``bench/sweep_overhead.py`` reads these)."""

    number: int
    state: str
    total: float
    train: float = 0.0
    post: float = 0.0
    claim: float = 0.0
    record: float = 0.0

    @property
    def overhead(self) -> float:
        return max(self.total - self.train, 0.0)


@dataclass
class WorkerReport:
    trials: list[TrialTiming] = field(default_factory=list)
    interrupted: bool = False


# --- studies -------------------------------------------------------------------------------------
def open_study(sweep: SweepConfig, storage: Any, *, worker_index: int = 0) -> Any:
    """Create the study, or load it when one of that name exists (a resume).

    The sampler's seed is offset by the worker index and the number of trials already in
    the study: a worker (or a resumed sweep) that re-created the sampler with the
    configured seed alone would sample the first point of the previous run again.
    """
    import optuna

    study = optuna.create_study(
        storage=storage,
        study_name=sweep.name,
        direction="maximize",
        sampler=sweep.sampler.build(),
        pruner=sweep.pruner.build(sweep.base_config().epochs),
        load_if_exists=True,
    )
    existing = len(study.get_trials(deepcopy=False))
    if sweep.sampler.seed is not None and (existing or worker_index):
        seed = sweep.sampler.seed + 7919 * worker_index + existing
        study.sampler = sweep.sampler.model_copy(update={"seed": seed}).build()
    return study


def prepare_study(sweep: SweepConfig, study: Any) -> list[str]:
    """First launch: queue the seed trials. Any launch: warn if the space changed.

    Call under the claim lock. Returns warnings for the user.
    """
    warnings = []
    space = {name: param.model_dump() for name, param in sweep.space.items()}
    if not study.user_attrs.get(SEEDED_ATTR):
        for params in sweep.enqueued_params():
            study.enqueue_trial(params, user_attrs={"seed_trial": True})
        study.set_user_attr(SPACE_ATTR, space)
        study.set_user_attr(SEEDED_ATTR, True)
    elif study.user_attrs.get(SPACE_ATTR) != json.loads(json.dumps(space)):
        warnings.append(
            f"the search space of {sweep.name!r} differs from the one it was created with; "
            "earlier trials still guide the sampler where parameters overlap"
        )
        study.set_user_attr(SPACE_ATTR, space)
    return warnings


def counted_trials(trials: list[Any]) -> int:
    """Trials that use up the budget: all but WAITING ones and failures that were retried."""
    from optuna.trial import TrialState

    retried = {n for t in trials for n in t.system_attrs.get("retry_history", ())}
    waiting, failed = TrialState.WAITING, TrialState.FAIL
    return sum(
        1 for t in trials if t.state != waiting and not (t.state == failed and t.number in retried)
    )


def retry_trial(study: Any, trial: Any, max_retry: int) -> bool:
    """Queue ``trial``'s parameters again, as Optuna's retry callback does.

    Uses the same ``failed_trial`` / ``retry_history`` system attributes, but leaves the
    per-run user attributes (MLflow run id, worker, interrupted flag) behind.
    """
    import optuna

    history = [*trial.system_attrs.get("retry_history", []), trial.number]
    if len(history) > max_retry:
        return False
    carried = {k: v for k, v in trial.user_attrs.items() if k == "seed_trial"}
    carried[RETRY_ATTR] = trial.user_attrs.get(RETRY_ATTR, trial.number)
    study.add_trial(
        optuna.trial.create_trial(
            state=optuna.trial.TrialState.WAITING,
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


# --- the objective -------------------------------------------------------------------------------
class TrialObjective:
    """Train one trial and return its tuned validation F1.

    ``train_fn`` defaults to ``geoarena.models.train.train``; it is a parameter so the
    benchmark can time the same loop around it.
    """

    def __init__(
        self,
        sweep: SweepConfig,
        tracker: BaseTracker,
        options: WorkerOptions,
        train_fn: TrainFn | None = None,
    ) -> None:
        self.sweep = sweep
        self.tracker = tracker
        self.options = options
        self.train_fn = train_fn
        self.timing: TrialTiming | None = None
        self.stop = StopRequest()
        #: what `sweep status` shows in its GPU column: the pinned GPU, else the device
        self.device_label = options.gpu if options.gpu is not None else _device_label(sweep)

    def __call__(self, trial: Any) -> float:
        import optuna

        from geoarena.models.maps import load_maps

        sweep, metric = self.sweep, self.sweep.objective.metric
        params = {name: param.suggest(trial, name) for name, param in sweep.space.items()}
        # a retried trial continues in the folder (and from the checkpoint) of the first try
        root = trial.user_attrs.get(RETRY_ATTR, trial.number)
        config = sweep.trial_config(
            params,
            root,
            monitor=metric,
            progress=self.options.progress,
            device="cuda" if self.options.gpu is not None else None,
        )
        out_dir = Path(config.out_dir)
        resume = root != trial.number and (out_dir / "last.pt").is_file()
        config_path = config.to_yaml(out_dir / "config.yaml")
        self.tracker.start_trial(
            trial,
            tags={
                "geoarena.worker": self.options.worker,
                "geoarena.gpu": self.device_label,
                "geoarena.searched": ",".join(sweep.space),
                **({f"geoarena.{RETRY_ATTR}": root} if root != trial.number else {}),
            },
        )
        if resume:  # train() logs the config only on a fresh start
            self.tracker.log_params(config.to_dict())
        self.tracker.log_artifact(config_path)

        def report(epoch: Any) -> None:
            self.stop.check()  # a Ctrl-C swallowed during the epoch stops here
            value = epoch.val_f1 if metric == "f1" else epoch.val_mean_city_f1
            trial.report(value, epoch.epoch)
            if trial.should_prune():
                raise optuna.TrialPruned(f"pruned after epoch {epoch.epoch} ({metric} {value:.4f})")

        train_fn = self.train_fn or _default_train()
        started = time.perf_counter()
        try:
            result = train_fn(config, callbacks=[report], logger=self.tracker, resume=resume)
        except optuna.TrialPruned:
            self._timing(train=time.perf_counter() - started)
            self.tracker.log_artifact(out_dir / "best.pt")
            trial.set_user_attr(RESULT_ATTR, {"checkpoint": str(out_dir / "best.pt")})
            raise
        trained = time.perf_counter()
        self._timing(train=trained - started)

        post = tune_post(
            load_maps(result.val_maps),
            metric=metric,
            search=sweep.objective.post_search,
            baseline=PostParams(config.t_energy, config.t_mask, config.min_area),
            train_seconds=trained - started,
        )
        record = _record_post(self.tracker, post, out_dir, result, sweep.tracking.overlays)
        trial.set_user_attr(
            RESULT_ATTR,
            {
                **record,
                "checkpoint": str(result.best_checkpoint),
                "val_maps": str(result.val_maps),
                "config": str(config_path),
                "best_epoch": result.best_epoch,
                "seconds_train": round(trained - started, 3),
            },
        )
        self._timing(post=time.perf_counter() - trained)
        return post.value

    def _timing(self, **values: float) -> None:
        if self.timing is not None:
            for key, value in values.items():
                setattr(self.timing, key, value)


def _device_label(sweep: SweepConfig) -> str:
    """``cpu``, or ``cuda`` when an unpinned worker's ``auto`` device finds a GPU."""
    from geoarena.models.inference import resolve_device

    return resolve_device(sweep.base_config().device).type


def _default_train() -> TrainFn:
    from geoarena.models.train import train

    return train


def _record_post(
    tracker: BaseTracker, post: Any, out_dir: Path, result: Any, overlays: int
) -> dict[str, Any]:
    """Write and log the trial's tuned predictions, overlays and summary; return the summary."""
    from geoarena.evaluator import report as ev_report
    from geoarena.models.postprocess import write_proposals_csv

    table = post.proposals
    rows = zip(
        table.image_id.tolist(),
        table.building_id.tolist(),
        [g.wkt if not g.is_empty else "POLYGON EMPTY" for g in table.geometry],
        table.confidence.tolist(),
        strict=True,
    )
    csv_path = write_proposals_csv(rows, out_dir / "val_predictions.csv")
    score = post.score
    summary = {
        "value": post.value,
        "value_fixed": post.baseline_value,
        "gain": post.gain,
        "f1": score.micro.f1,
        "mean_city_f1": score.mean_city_f1,
        "city_f1": {c: counts.f1 for c, counts in sorted(score.cities.items())},
        "post": post.best.as_dict(),
        "post_fixed": post.baseline.as_dict(),
        "post_candidates": post.candidates,
        "seconds_post": round(post.seconds, 3),
        "predictions": str(csv_path),
    }
    summary_path = out_dir / "post_search.json"
    summary_path.write_text(json.dumps(summary, indent=2) + "\n")
    tracker.log_params({f"post_{k}": v for k, v in post.best.as_dict().items()})
    tracker.log_metrics(
        {
            "tuned_f1": score.micro.f1,
            "tuned_mean_city_f1": score.mean_city_f1,
            "tuned_precision": score.micro.precision,
            "tuned_recall": score.micro.recall,
            "fixed_value": post.baseline_value,
            "tuned_value": post.value,
            "post_gain": post.gain,
            "best_epoch": result.best_epoch,
            **{f"tuned_f1_{c}": counts.f1 for c, counts in score.cities.items()},
        },
        step=result.best_epoch,
    )
    for path in (csv_path, summary_path):
        tracker.log_artifact(path)
    if overlays:
        worst = sorted(score.images, key=lambda i: -(i.counts.fp + i.counts.fn))[:overlays]
        matches = post.truth.score(table, details=True).matches
        ids = [i.image_id for i in worst if i.counts.tp + i.counts.fp + i.counts.fn]
        pngs = ev_report.plot_overlays(matches, ids, out_dir / "overlays")
        if pngs:
            tracker.log_artifact(out_dir / "overlays", "overlays")
    return summary


# --- the worker loop ---------------------------------------------------------------------------
def run_worker(
    sweep: SweepConfig,
    options: WorkerOptions = WorkerOptions(),
    *,
    train_fn: TrainFn | None = None,
    on_trial: Callable[[Any, TrialTiming], None] | None = None,
) -> WorkerReport:
    """Claim and run trials until the budget is spent; Ctrl-C stops after recording.

    ``on_trial(frozen_trial, timing)`` is called after each trial (progress display).
    """
    tracker = make_tracker(sweep)
    max_retry = sweep.storage.max_retry

    def on_dead(study: Any, trial: Any) -> None:
        retry_trial(study, trial, max_retry)
        tracker.mark_dead(trial)

    url = sweep.storage_url
    storage = open_storage(
        url,
        heartbeat_interval=sweep.storage.heartbeat_interval,
        grace_period=sweep.storage.grace_period,
        on_stale=on_dead,
    )
    study = open_study(sweep, storage, worker_index=options.index)
    tracker.attach(study)
    objective = TrialObjective(sweep, tracker, options, train_fn)
    identity = worker_identity(gpu=objective.device_label, worker=options.worker)
    report = WorkerReport()
    with objective.stop:
        _loop(
            sweep, study, storage, objective, tracker, options, identity, on_dead, report, on_trial
        )
    return report


def _loop(
    sweep: SweepConfig,
    study: Any,
    storage: Any,
    objective: TrialObjective,
    tracker: BaseTracker,
    options: WorkerOptions,
    identity: dict[str, Any],
    on_dead: Callable[[Any, Any], None],
    report: WorkerReport,
    on_trial: Callable[[Any, TrialTiming], None] | None,
) -> None:
    """Claim and run trials until the budget is spent or Ctrl-C is requested."""
    url, max_retry = sweep.storage_url, sweep.storage.max_retry
    while True:
        if objective.stop.requested:
            report.interrupted = True
            break
        claim_started = time.perf_counter()
        with claim_lock(url, storage, sweep.name):
            trial = _claim(sweep, study, options, identity, on_dead)
        if trial is None:
            break
        claimed = time.perf_counter() - claim_started
        timing = TrialTiming(trial.number, "RUNNING", 0.0, claim=claimed)
        objective.timing = timing
        try:
            frozen = _run_trial(study, trial, objective, tracker, storage, max_retry)
        except KeyboardInterrupt:
            report.interrupted = True
            timing.state = "INTERRUPTED"
            report.trials.append(timing)
            break
        timing.state = frozen.state.name
        timing.total = time.perf_counter() - claim_started
        timing.record = max(timing.total - timing.train - timing.post - timing.claim, 0.0)
        report.trials.append(timing)
        if on_trial is not None:
            on_trial(frozen, timing)


def _claim(
    sweep: SweepConfig,
    study: Any,
    options: WorkerOptions,
    identity: dict[str, Any],
    on_dead: Callable[[Any, Any], None],
) -> Any:
    """Under the claim lock: clean up dead trials, check the budget, ask for a trial."""
    import warnings

    import optuna

    if is_rdb(sweep.storage_url):  # heartbeats: covers workers on every machine
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            optuna.storages.fail_stale_trials(study)
    else:  # a journal file is single-machine: the pids of its workers are all local
        reap_dead_trials(study, on_dead)
    if options.deadline is not None and time.time() >= options.deadline:
        return None
    cap = sweep.budget.n_trials
    if cap is not None and counted_trials(study.get_trials(deepcopy=False)) >= cap:
        return None
    with warnings.catch_warnings():
        # heartbeats work the same with ask/tell: this loop runs the heartbeat thread itself
        warnings.filterwarnings("ignore", "Heartbeat of storage", UserWarning)
        trial = study.ask()
    trial.set_user_attr(WORKER_ATTR, identity)
    return trial


def _run_trial(
    study: Any,
    trial: Any,
    objective: TrialObjective,
    tracker: BaseTracker,
    storage: Any,
    max_retry: int,
) -> Any:
    """Run the objective with heartbeats and tell Optuna (and then the tracker) the outcome."""
    import optuna
    from optuna.storages._heartbeat import get_heartbeat_thread
    from optuna.trial import TrialState

    try:
        with get_heartbeat_thread(trial._trial_id, storage):
            value = objective(trial)
        frozen = study.tell(trial, value)
    except optuna.TrialPruned:
        frozen = study.tell(trial, state=TrialState.PRUNED)
    except KeyboardInterrupt:
        trial.set_user_attr(INTERRUPTED_ATTR, True)
        frozen = study.tell(trial, state=TrialState.FAIL)
        retry_trial(study, frozen, max_retry)
        tracker.interrupt_trial()
        raise
    except Exception as exc:
        trial.set_user_attr("error", f"{type(exc).__name__}: {exc}")
        text = traceback.format_exc()
        _log_error(tracker, objective, trial.number, text)
        frozen = study.tell(trial, state=TrialState.FAIL)
    tracker.end_trial(frozen)
    return frozen


def _log_error(tracker: BaseTracker, objective: TrialObjective, number: int, text: str) -> None:
    import sys

    print(f"trial {number} failed:\n{text}", file=sys.stderr)
    path = objective.sweep.trial_dir(number) / "error.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    with contextlib.suppress(RuntimeError):  # the failure came before the run was opened
        tracker.log_artifact(path)


def launch_study(sweep: SweepConfig, tracker: BaseTracker | None = None) -> tuple[Any, list[str]]:
    """Launcher side, before workers start: create/resume the study, seed it, open the
    parent run. Returns the study and warnings."""
    url = sweep.storage_url
    storage = open_storage(
        url,
        heartbeat_interval=sweep.storage.heartbeat_interval,
        grace_period=sweep.storage.grace_period,
    )
    tracker = tracker or make_tracker(sweep)
    with claim_lock(url, storage, sweep.name):
        study = open_study(sweep, storage)
        warnings = prepare_study(sweep, study)
        tracker.open_study(
            study,
            params=_study_params(sweep),
            files=[sweep.source] if sweep.source is not None else [],
        )
    return study, warnings


def _study_params(sweep: SweepConfig) -> dict[str, Any]:
    """What the parent run records: objective, sampler, pruner, budget, fixed config, space."""
    params: dict[str, Any] = {
        "objective": sweep.objective.metric,
        "post_search": sweep.objective.post_search.enabled,
        "sampler": sweep.sampler.type,
        "sampler_seed": sweep.sampler.seed,
        "pruner": sweep.pruner.type,
        "n_trials": sweep.budget.n_trials,
        "timeout_s": sweep.budget.timeout,
        "storage": _redact(sweep.storage_url),
    }
    params.update({f"fixed.{k}": v for k, v in sweep.train.items()})
    params.update({f"space.{k}": p.bounds() for k, p in sweep.space.items()})
    return params


def _redact(url: str) -> str:
    """Drop a password from a database URL before it is logged."""
    import re

    return re.sub(r"://([^:/@]+):[^@]*@", r"://\1:***@", url)


__all__ = [
    "TrialObjective",
    "TrialTiming",
    "WorkerOptions",
    "WorkerReport",
    "counted_trials",
    "launch_study",
    "open_study",
    "prepare_study",
    "retry_trial",
    "run_worker",
]
