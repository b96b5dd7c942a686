"""Journal storage, the trial budget count, retries, and dead local workers."""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from geoarena.platform import TrialAttr, WorkerIdentity, load_sweep
from geoarena.platform.launcher import parse_gpus, physical_gpu, worker_command, worker_env
from geoarena.platform.storage import (
    claim_lock,
    open_storage,
    process_alive,
    reap_dead_trials,
    worker_identity,
)
from geoarena.platform.studies import counted_trials, retry_trial

DIST = {"x": optuna.distributions.FloatDistribution(0.0, 1.0)}


@pytest.fixture
def study(tmp_path: Path) -> optuna.Study:
    storage = open_storage(str(tmp_path / "s.journal"))
    return optuna.create_study(study_name="s", storage=storage, direction="maximize")


def test_budget_counts_finished_running_and_unretried_failures(study: optuna.Study) -> None:
    for state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL, TrialState.FAIL):
        study.add_trial(
            optuna.trial.create_trial(
                state=state,
                params={"x": 0.5},
                distributions=DIST,
                value=0.1 if state == TrialState.COMPLETE else None,
                intermediate_values={1: 0.0} if state == TrialState.PRUNED else None,
            )
        )
    assert counted_trials(study.get_trials()) == 4
    failed = study.get_trials()[2]
    assert retry_trial(study, failed, max_retry=1)
    # trial 2 is now retried (not counted) and its retry waits (not counted yet)
    assert counted_trials(study.get_trials()) == 3
    retry = study.get_trials()[-1]
    assert retry.state == TrialState.WAITING
    assert retry.params == failed.params and retry.user_attrs[TrialAttr.RETRY_OF] == 2
    # the retry runs and fails again: max_retry=1 is spent, so no third try
    trial = study.ask()
    assert trial.number == retry.number and trial.params == {"x": 0.5}
    frozen = study.tell(trial, state=TrialState.FAIL)
    assert not retry_trial(study, frozen, max_retry=1)
    assert counted_trials(study.get_trials()) == 4


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait(timeout=60)
    return proc.pid


def test_reaper_fails_and_requeues_trials_of_dead_local_workers(
    study: optuna.Study, tmp_path: Path
) -> None:
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    zombie = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        identities = {
            "dead": replace(worker_identity(gpu=None, worker="a"), pid=_dead_pid()),
            "live": replace(worker_identity(gpu=None, worker="b"), pid=live.pid, pid_start=None),
            "zombie": replace(worker_identity(gpu=None, worker="c"), pid=zombie.pid),
            "other-host": replace(worker_identity(gpu=None, worker="d"), host="elsewhere", pid=1),
        }
        deadline = time.time() + 30
        unknown_start = WorkerIdentity("", zombie.pid, None, None, "")
        while process_alive(unknown_start) and time.time() < deadline:
            time.sleep(0.05)  # exits, but nobody waits for it: a zombie
        trials = {}
        for name, identity in identities.items():
            trial = study.ask()
            trial.suggest_float("x", 0.0, 1.0)
            trial.set_user_attr(TrialAttr.WORKER, identity.to_attr())
            trials[name] = trial.number
        seen = []

        def on_dead(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
            seen.append(trial.number)
            retry_trial(study, trial, 2)

        with claim_lock(str(tmp_path / "s.journal"), study._storage, "s"):
            reaped = reap_dead_trials(study, on_dead)
        assert sorted(reaped) == sorted([trials["dead"], trials["zombie"]]) == sorted(seen)
        states = {t.number: t.state for t in study.get_trials()}
        assert states[trials["live"]] == TrialState.RUNNING
        assert states[trials["other-host"]] == TrialState.RUNNING
        waiting = [t for t in study.get_trials() if t.state == TrialState.WAITING]
        assert sorted(t.user_attrs[TrialAttr.RETRY_OF] for t in waiting) == sorted(reaped)
    finally:
        live.kill()
        live.wait(timeout=60)
        zombie.wait(timeout=60)


def test_gpus_fail_clearly_without_usable_cuda(make_sweep) -> None:
    """``--gpus`` used to start workers that silently trained on the CPU."""
    import torch
    from click.testing import CliRunner

    from geoarena.cli import cli

    if torch.cuda.is_available():
        pytest.skip("this machine has a usable GPU")
    result = CliRunner().invoke(cli, ["sweep", "run", str(make_sweep()), "--gpus", "0"])
    assert result.exit_code == 2, result.output
    assert "--gpus" in result.output and "CUDA" in result.output


def test_worker_processes_get_one_gpu_each_or_a_cpu_share(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert parse_gpus("0, 2,3", visible=4) == ["0", "2", "3"]
    assert parse_gpus("all", visible=2) == ["0", "1"]
    with pytest.raises(ValueError, match="twice"):
        parse_gpus("1,1", visible=4)
    with pytest.raises(ValueError, match="no GPU 4: 4 visible"):
        parse_gpus("0,4", visible=4)
    # --gpus counts the GPUs this process sees: an existing mask maps them
    assert physical_gpu("1", visible="4,6") == "6" and physical_gpu("1", visible="") == "1"
    assert worker_env("2", 4)["CUDA_VISIBLE_DEVICES"] == "2"
    assert int(worker_env("2", 4)["OMP_NUM_THREADS"]) >= 1  # GPU workers get a core share too
    cpu = worker_env(None, 2)
    assert cpu["CUDA_VISIBLE_DEVICES"] == "" and int(cpu["OMP_NUM_THREADS"]) >= 1
    path = tmp_path / "s.yaml"
    path.write_text("name: s\nbudget: {n_trials: 1}\n")
    cmd = worker_command(load_sweep(path), name="gpu2", index=1, gpu="2", deadline=5.0)
    assert cmd[3:] == [
        "sweep",
        "worker",
        str(path),
        "--name",
        "gpu2",
        "--index",
        "1",
        "--gpu",
        "2",
        "--deadline",
        "5.0",
    ]
