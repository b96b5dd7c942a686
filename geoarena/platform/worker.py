"""The sweep worker: claim a trial, run it, record it, until the budget is spent.

A :class:`SweepWorker` repeatedly claims a trial (under the storage's claim lock, which
also enforces the total trial cap and fails trials of dead workers), runs the
:class:`~geoarena.platform.objective.TrialObjective` on it with heartbeats, and records
the outcome with Optuna and the tracker.

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
import sys
import time
import traceback
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import optuna
from optuna.storages._heartbeat import get_heartbeat_thread
from optuna.trial import FrozenTrial, TrialState

from geoarena.models import train
from geoarena.platform.objective import TrainFn, TrialObjective, TrialTiming
from geoarena.platform.storage import (
    claim_lock,
    is_rdb,
    open_storage,
    reap_dead_trials,
    worker_identity,
)
from geoarena.platform.studies import counted_trials, open_study, retry_trial
from geoarena.platform.sweep import SweepConfig
from geoarena.platform.tracking import make_tracker
from geoarena.platform.trial_record import TrialAttr

#: called after each trial with its final state and timings (progress display).
TrialCallback = Callable[[FrozenTrial, TrialTiming], None]


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
class WorkerReport:
    trials: list[TrialTiming] = field(default_factory=list)
    interrupted: bool = False


class SweepWorker:
    """One worker: owns the storage, study, tracker and objective of its trials.

    ``train_fn`` defaults to ``geoarena.models.train.train`` (the benchmark passes its
    own timing wrapper); ``on_trial`` is called after each trial.
    """

    def __init__(
        self,
        sweep: SweepConfig,
        options: WorkerOptions = WorkerOptions(),
        *,
        train_fn: TrainFn = train,
        on_trial: TrialCallback | None = None,
    ) -> None:
        self.sweep = sweep
        self.options = options
        self.on_trial = on_trial
        self.tracker = make_tracker(sweep)
        self.storage = open_storage(
            sweep.storage_url,
            heartbeat_interval=sweep.storage.heartbeat_interval,
            grace_period=sweep.storage.grace_period,
            on_stale=self._on_dead,
        )
        self.study = open_study(sweep, self.storage, worker_index=options.index)
        self.tracker.attach(self.study)
        self.objective = TrialObjective(
            sweep,
            self.tracker,
            worker=options.worker,
            gpu=options.gpu,
            progress=options.progress,
            train_fn=train_fn,
        )
        self.identity = worker_identity(gpu=self.objective.device_label, worker=options.worker)

    def run(self) -> WorkerReport:
        """Claim and run trials until the budget is spent; Ctrl-C stops after recording."""
        report = WorkerReport()
        with self.objective.stop as stop:
            while not stop.requested:
                claim_started = time.perf_counter()
                with claim_lock(self.sweep.storage_url, self.storage, self.sweep.name):
                    trial = self.claim()
                if trial is None:
                    return report
                timing = TrialTiming(
                    trial.number, "RUNNING", 0.0, claim=time.perf_counter() - claim_started
                )
                self.objective.timing = timing
                try:
                    frozen = self.run_trial(trial)
                except KeyboardInterrupt:
                    timing.state = "INTERRUPTED"
                    report.trials.append(timing)
                    break
                timing.state = frozen.state.name
                timing.total = time.perf_counter() - claim_started
                timing.record = max(timing.total - timing.train - timing.post - timing.claim, 0.0)
                report.trials.append(timing)
                if self.on_trial is not None:
                    self.on_trial(frozen, timing)
        report.interrupted = True
        return report

    def claim(self) -> optuna.Trial | None:
        """Under the claim lock: clean up dead trials, check the budget, ask for a trial."""
        study = self.study
        if is_rdb(self.sweep.storage_url):  # heartbeats: covers workers on every machine
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                optuna.storages.fail_stale_trials(study)
        else:  # a journal file is single-machine: the pids of its workers are all local
            reap_dead_trials(study, self._on_dead)
        deadline = self.options.deadline
        if deadline is not None and time.time() >= deadline:
            return None
        cap = self.sweep.budget.n_trials
        if cap is not None and counted_trials(study.get_trials(deepcopy=False)) >= cap:
            return None
        with warnings.catch_warnings():
            # heartbeats work the same with ask/tell: this loop runs the heartbeat thread itself
            warnings.filterwarnings("ignore", "Heartbeat of storage", UserWarning)
            trial = study.ask()
        trial.set_user_attr(TrialAttr.WORKER, self.identity.to_attr())
        return trial

    def run_trial(self, trial: optuna.Trial) -> FrozenTrial:
        """Run the objective with heartbeats; record the outcome. Ctrl-C records the trial
        as interrupted (and re-queued), then propagates."""
        try:
            with get_heartbeat_thread(trial._trial_id, self.storage):
                value = self.objective(trial)
        except optuna.TrialPruned as exc:
            trial.set_user_attr(TrialAttr.PRUNED, str(exc))
            return self.record(trial, TrialState.PRUNED)
        except KeyboardInterrupt:
            self._record_interrupted(trial)
            raise
        except Exception as exc:
            if self.objective.stop.requested:
                # Ctrl-C came, and the library it broke into failed in its own cleanup
                # (MLflow closing a file descriptor that fdopen had taken: EBADF), so
                # that error replaced the KeyboardInterrupt: the trial was interrupted
                self._record_interrupted(trial)
                raise KeyboardInterrupt from exc
            trial.set_user_attr(TrialAttr.ERROR, f"{type(exc).__name__}: {exc}")
            self._log_error(trial.number, traceback.format_exc())
            return self.record(trial, TrialState.FAIL)
        return self.record(trial, TrialState.COMPLETE, value)

    def _record_interrupted(self, trial: optuna.Trial) -> None:
        """Ctrl-C: the trial fails as interrupted and is re-queued, its run is killed."""
        trial.set_user_attr(TrialAttr.INTERRUPTED, True)
        frozen = self.study.tell(trial, state=TrialState.FAIL)
        retry_trial(self.study, frozen, self.sweep.storage.max_retry)
        self.tracker.interrupt_trial()

    def record(
        self, trial: optuna.Trial, state: TrialState, value: float | None = None
    ) -> FrozenTrial:
        """Tell Optuna the trial's final state (and value), then close its tracked run."""
        frozen = self.study.tell(trial, value, state=state)
        self.tracker.end_trial(frozen)
        return frozen

    def _on_dead(self, study: optuna.Study, trial: FrozenTrial) -> None:
        """A trial whose worker died (already FAIL): re-queue it, close its run."""
        retry_trial(study, trial, self.sweep.storage.max_retry)
        self.tracker.mark_dead(trial)

    def _log_error(self, number: int, text: str) -> None:
        print(f"trial {number} failed:\n{text}", file=sys.stderr)
        path = self.sweep.trial_dir(number) / "error.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        with contextlib.suppress(RuntimeError):  # the failure came before the run was opened
            self.tracker.log_artifact(path)


def run_worker(
    sweep: SweepConfig,
    options: WorkerOptions = WorkerOptions(),
    *,
    train_fn: TrainFn = train,
    on_trial: TrialCallback | None = None,
) -> WorkerReport:
    """Run one worker in this process until the budget is spent (or Ctrl-C)."""
    return SweepWorker(sweep, options, train_fn=train_fn, on_trial=on_trial).run()


__all__ = ["SweepWorker", "TrialCallback", "WorkerOptions", "WorkerReport", "run_worker"]
