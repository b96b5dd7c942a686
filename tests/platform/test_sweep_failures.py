"""Interrupted and dead workers: no trial stays RUNNING, each is failed and retried."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from mlflow import MlflowClient
from optuna.trial import TrialState
from sqlalchemy import create_engine, text

from geoarena.platform import (
    NoResultError,
    StudyAttr,
    TrialAttr,
    WorkerOptions,
    launch,
    launch_study,
    load_study,
    load_sweep,
    run_worker,
)

pytestmark = pytest.mark.slow

CLI = [sys.executable, "-c", "from geoarena.cli import main; main()"]
#: trials that run for minutes, for tests that must catch one mid-trial: a poll slowed
#: by load once missed a seconds-long trial, which finished between two polls
MINUTES = {"epochs": 500}
#: seconds-long trials (6 epochs of 2 batches), for the runs that must finish
SHORT = {"epochs": 6}


def wait_for(predicate, timeout: float, what: str, proc: subprocess.Popen | None = None):
    end = time.time() + timeout
    while time.time() < end:
        value = predicate()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"process exited with {proc.returncode} before {what}")
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def running_trial(sweep, pid: int | None = None):
    try:
        study = load_study(sweep)
    except NoResultError:  # the process has not created the study yet
        return None
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if TrialAttr.RUN_ID in t.user_attrs and (
            pid is None or t.user_attrs["worker"]["pid"] == pid
        ):
            return t
    return None


@contextmanager
def geoarena(*args: str) -> Iterator[subprocess.Popen[bytes]]:
    """``geoarena ARGS`` in a subprocess (one torch thread) leading its own process group,
    like a command started from a terminal; killed if still running after."""
    proc = subprocess.Popen(
        [*CLI, *args],
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        process_group=0,
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=60)


def test_ctrl_c_stops_cleanly_and_rerun_resumes(make_sweep, mlflow_db: str) -> None:
    path = make_sweep("ctrl-c", train=MINUTES, budget={"n_trials": 2})
    sweep = load_sweep(path)
    with geoarena("sweep", "run", str(path), "--no-progress") as proc:
        first = wait_for(lambda: running_trial(sweep), 120, "a running trial", proc)
        # after the first epoch's checkpoint, so the re-run can resume from it
        last = sweep.trial_dir(first.number) / "last.pt"
        wait_for(last.is_file, 120, "the first epoch checkpoint", proc)
        proc.send_signal(signal.SIGINT)
        output, _ = proc.communicate(timeout=120)
    assert proc.returncode == 130, output.decode()[-3000:]
    assert b"run the same command again to resume" in output

    trials = load_study(sweep).get_trials()
    assert [t.state for t in trials] == [TrialState.FAIL, TrialState.WAITING]
    assert trials[0].user_attrs[TrialAttr.INTERRUPTED] is True
    assert trials[1].user_attrs[TrialAttr.RETRY_OF] == 0 and trials[1].params == trials[0].params
    client = MlflowClient(mlflow_db)
    interrupted = client.get_run(trials[0].user_attrs[TrialAttr.RUN_ID])
    assert interrupted.info.status == "KILLED"
    assert interrupted.data.tags["geoarena.outcome"] == "interrupted"
    parent = load_study(sweep).user_attrs[StudyAttr.PARENT_RUN_ID]
    assert client.get_run(parent).info.status == "KILLED"

    # the same command again, its trials shortened to end a few epochs past the checkpoint
    # (the interrupted trial reported its epochs up to it, or the one before)
    epochs = max(trials[0].intermediate_values, default=1) + 3
    rerun = load_sweep(make_sweep("ctrl-c", train={"epochs": epochs}, budget={"n_trials": 2}))
    launch(rerun, progress=False)
    trials = load_study(sweep).get_trials()
    assert [t.number for t in trials] == [0, 1, 2]
    assert [t.state for t in trials] == [TrialState.FAIL, TrialState.COMPLETE, TrialState.COMPLETE]
    # the retry continued from the interrupted trial's checkpoint: no epoch 1 again
    assert min(trials[1].intermediate_values) >= 2
    assert max(trials[1].intermediate_values) == epochs
    assert client.get_run(parent).info.status == "FINISHED"


@pytest.fixture(params=["journal", "postgres"])
def storage_spec(request, tmp_path: Path):
    if request.param == "journal":
        yield {"url": str(tmp_path / "optuna.journal")}
        return
    base = os.environ.get("GEOARENA_TEST_POSTGRES_URL")
    if not base:
        pytest.skip("GEOARENA_TEST_POSTGRES_URL is not set")
    # a schema of our own: Optuna's tables (and its alembic_version) stay out of the
    # database's public schema, which other components' tests share

    schema = f"pl_{uuid.uuid4().hex[:12]}"
    engine = create_engine(base)
    with engine.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    sep = "&" if "?" in base else "?"
    try:
        yield {
            "url": f"{base}{sep}options=-csearch_path%3D{schema}",
            "heartbeat_interval": 1,
            "grace_period": 3,
        }
    finally:
        with engine.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        engine.dispose()


def test_killed_worker_trial_is_failed_and_retried(make_sweep, storage_spec, mlflow_db) -> None:
    name = f"kill-{uuid.uuid4().hex[:8]}"
    path = make_sweep(name, train=MINUTES, budget={"n_trials": 1}, storage=storage_spec)
    sweep = load_sweep(path)
    launch_study(sweep)
    with geoarena("sweep", "worker", str(path), "--name", "victim") as proc:
        victim = wait_for(lambda: running_trial(sweep, proc.pid), 120, "the victim's trial", proc)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        if storage_spec.get("grace_period"):
            time.sleep(storage_spec["grace_period"] + 1)  # let its heartbeat go stale
        # The rescuer retries it in seconds: the same sweep, trained shorter and afresh
        # (a checkpoint past the short run's last epoch would leave nothing to train).
        sweep.trial_dir(victim.number).joinpath("last.pt").unlink(missing_ok=True)
        rescue = load_sweep(
            make_sweep(name, train=SHORT, budget={"n_trials": 1}, storage=storage_spec)
        )
        report = run_worker(rescue, WorkerOptions(worker="rescuer"))
        trials = load_study(sweep).get_trials()
        assert [t.state for t in trials] == [TrialState.FAIL, TrialState.COMPLETE]
        assert trials[0].number == victim.number
        assert trials[1].user_attrs[TrialAttr.RETRY_OF] == victim.number
        assert trials[1].params == victim.params
        assert trials[1].user_attrs["worker"]["worker"] == "rescuer"
        assert [t.number for t in report.trials] == [1]
        run = MlflowClient(mlflow_db).get_run(victim.user_attrs[TrialAttr.RUN_ID])
        assert run.info.status == "FAILED" and run.data.tags["geoarena.worker_died"] == "true"
        assert run.data.tags["geoarena.outcome"] == "worker died"


def test_ctrl_c_replaced_by_a_cleanup_error_still_interrupts(make_sweep, mlflow_db) -> None:
    """Ctrl-C once broke into MLflow's artifact write between ``os.fdopen`` and its
    cleanup, whose ``os.close`` then raised EBADF in place of the KeyboardInterrupt: the
    trial was recorded as failed with that error and never re-queued."""

    def interrupted_in_cleanup(config, **kwargs):
        try:
            os.kill(os.getpid(), signal.SIGINT)  # the worker's handler raises at once
        except KeyboardInterrupt:
            raise OSError(9, "Bad file descriptor") from None  # what the cleanup raised

    path = make_sweep("cleanup", budget={"n_trials": 2})
    sweep = load_sweep(path)
    launch_study(sweep)
    report = run_worker(sweep, WorkerOptions(worker="w"), train_fn=interrupted_in_cleanup)
    assert report.interrupted
    trials = load_study(sweep).get_trials()
    assert [t.state for t in trials] == [TrialState.FAIL, TrialState.WAITING]
    assert trials[0].user_attrs[TrialAttr.INTERRUPTED] is True
    assert TrialAttr.ERROR not in trials[0].user_attrs
    assert trials[1].user_attrs[TrialAttr.RETRY_OF] == 0
    run = MlflowClient(mlflow_db).get_run(trials[0].user_attrs[TrialAttr.RUN_ID])
    assert run.info.status == "KILLED"


def test_ctrl_c_in_a_terminal_reaches_every_worker_once(make_sweep) -> None:
    """A terminal's Ctrl-C goes to the whole foreground process group. Workers used to be
    in it: each got the terminal's SIGINT and then the launcher's, the second one broke
    into the recording of the first, and a trial could stay RUNNING after exit."""
    # long trials: both workers are surely mid-trial when the signal comes
    path = make_sweep("ctrl-c-2", train={"epochs": 60}, budget={"n_trials": 4})
    sweep = load_sweep(path)

    def both_running() -> list[int] | None:
        try:
            running = load_study(sweep).get_trials(states=(TrialState.RUNNING,))
        except NoResultError:
            return None
        started = all(TrialAttr.RUN_ID in t.user_attrs for t in running)
        return sorted(t.number for t in running) if len(running) == 2 and started else None

    with geoarena("sweep", "run", str(path), "--workers", "2", "--no-progress") as proc:
        running = wait_for(both_running, 180, "two running trials", proc)
        os.killpg(proc.pid, signal.SIGINT)  # the terminal: the launcher's whole group
        output, _ = proc.communicate(timeout=180)
    assert proc.returncode == 130, output.decode()[-3000:]
    trials = load_study(sweep).get_trials()
    assert not [t for t in trials if t.state == TrialState.RUNNING]
    interrupted = [t for t in trials if t.user_attrs.get(TrialAttr.INTERRUPTED)]
    states = {t.number: (t.state.name, t.user_attrs.get("error")) for t in trials}
    assert sorted(t.number for t in interrupted) == running, (states, output.decode()[-4000:])
    waiting = sorted(
        t.user_attrs[TrialAttr.RETRY_OF] for t in trials if t.state == TrialState.WAITING
    )
    assert waiting == sorted(t.number for t in interrupted)
