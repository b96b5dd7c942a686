"""``geoarena sweep run``: create or resume the study, then run one worker per GPU / CPU slot.

Workers are fresh Python processes (``geoarena sweep worker``), each pinned to one GPU
with ``CUDA_VISIBLE_DEVICES`` (``--gpus`` counts the GPUs this process sees, so an
existing ``CUDA_VISIBLE_DEVICES`` mask is honoured; ``per_gpu`` workers share each GPU)
and given its share of the CPU cores (``OMP_NUM_THREADS``); they coordinate only through
the study's storage, which is why workers on other machines can join by running the same
command against the same (PostgreSQL) storage. A single CPU worker runs in this process
instead, with the training progress bars visible.

Ctrl-C: workers run in their own process group, so a terminal's Ctrl-C reaches the
launcher only; the launcher passes exactly one SIGINT to every worker, which records its
running trial as interrupted (re-queued for the next launch) and exits; a second Ctrl-C
kills them.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import optuna
import torch
from optuna.trial import FrozenTrial, TrialState
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from geoarena.errors import Problem
from geoarena.models.device import DeviceError, cuda_problem
from geoarena.platform.interrupt import StopRequest
from geoarena.platform.objective import TrialTiming
from geoarena.platform.studies import counted_trials, launch_study
from geoarena.platform.sweep import SweepConfig, load_sweep
from geoarena.platform.tracking import BaseTracker, make_tracker
from geoarena.platform.worker import WorkerOptions, run_worker

Processes = dict[str, "subprocess.Popen[bytes]"]

#: seconds a worker gets to record its trial after Ctrl-C before it is killed.
STOP_GRACE = 60.0
POLL_SECONDS = 1.0


@dataclass
class LaunchResult:
    study: optuna.Study
    interrupted: bool = False
    #: per-trial timings (in-process runs only)
    timings: list[TrialTiming] = field(default_factory=list)
    #: exit codes of worker processes (subprocess runs only)
    exit_codes: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def parse_gpus(text: str, *, visible: int) -> list[str]:
    """``"0,1,3"`` -> ``["0", "1", "3"]``; ``"all"`` -> every one of ``visible`` GPUs.

    Ids count the GPUs this process sees: under ``CUDA_VISIBLE_DEVICES=4,5``, ``0`` is
    physical GPU 4 (:func:`physical_gpu`).
    """
    if text == "all":
        return [str(i) for i in range(visible)]
    gpus = [g.strip() for g in text.split(",") if g.strip()]
    if len(set(gpus)) != len(gpus):
        raise ValueError(f"--gpus lists a GPU twice: {text} (use --per-gpu to share one)")
    bad = [g for g in gpus if not g.isdigit() or int(g) >= visible]
    if bad:
        raise ValueError(f"no GPU {', '.join(bad)}: {visible} visible")
    return gpus


def gpus_for(text: str | None) -> list[str]:
    """The GPUs ``--gpus`` names, checked against what this process can use: CUDA must
    work, else ``DeviceError`` says why (a sweep must not train on the CPU for days)."""
    if not text:
        return []
    problem = cuda_problem()
    if problem is not None:
        raise DeviceError([Problem("--gpus", 0, "--gpus", problem)])
    return parse_gpus(text, visible=torch.cuda.device_count())


def physical_gpu(index: str, visible: str | None = None) -> str:
    """The ``CUDA_VISIBLE_DEVICES`` entry of visible GPU ``index`` (the mask of this
    process, when it has one, maps it; ids or UUIDs pass through)."""
    mask = os.environ.get("CUDA_VISIBLE_DEVICES") if visible is None else visible
    if not mask:
        return index
    entries = [e.strip() for e in mask.split(",") if e.strip()]
    return entries[int(index)] if index.isdigit() and int(index) < len(entries) else index


def launch(
    sweep: SweepConfig,
    *,
    gpus: list[str] | None = None,
    workers: int | None = None,
    per_gpu: int = 1,
    progress: bool = True,
    console: Console | None = None,
) -> LaunchResult:
    """Run the sweep to its budget with ``per_gpu`` workers on each of ``gpus`` or
    ``workers`` CPU workers."""
    console = console or Console(stderr=True)
    deadline = time.time() + sweep.budget.timeout if sweep.budget.timeout else None
    tracker = make_tracker(sweep)
    study, warnings = launch_study(sweep, tracker)
    for text in warnings:
        console.print(f"[yellow]warning:[/] {text}")
    slots: list[tuple[str, str | None]] = (
        [
            (f"gpu{g}" if per_gpu == 1 else f"gpu{g}-{k}", physical_gpu(g))
            for g in gpus
            for k in range(per_gpu)
        ]
        if gpus
        else [(f"cpu{i}", None) for i in range(workers or 1)]
    )
    result = LaunchResult(study=study, warnings=warnings)
    try:
        if len(slots) == 1 and slots[0][1] is None:
            _run_here(sweep, deadline, progress, console, result)
        else:
            _run_processes(sweep, slots, deadline, progress, console, result)
    finally:
        _close(tracker, study, result.interrupted)
    return result


def _run_here(
    sweep: SweepConfig,
    deadline: float | None,
    progress: bool,
    console: Console,
    result: LaunchResult,
) -> None:
    def show(trial: FrozenTrial, timing: TrialTiming) -> None:
        value = "-" if trial.value is None else f"{trial.value:.4f}"
        share = timing.overhead / max(timing.total, 1e-9)
        console.print(
            f"trial {trial.number}: [bold]{trial.state.name}[/] {sweep.objective.metric} {value} "
            f"({timing.total:.1f} s, {share:.1%} outside training)"
        )

    options = WorkerOptions(worker="cpu0", deadline=deadline, progress=progress)
    try:
        report = run_worker(sweep, options, on_trial=show)
    except KeyboardInterrupt:  # arrived outside a trial
        result.interrupted = True
        return
    result.timings = report.trials
    result.interrupted = report.interrupted


def _run_processes(
    sweep: SweepConfig,
    slots: list[tuple[str, str | None]],
    deadline: float | None,
    progress: bool,
    console: Console,
    result: LaunchResult,
) -> None:
    logs = sweep.root / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    procs: Processes = {}
    for index, (name, gpu) in enumerate(slots):
        cmd = worker_command(sweep, name=name, index=index, gpu=gpu, deadline=deadline)
        env = worker_env(gpu, len(slots))
        log = open(logs / f"{name}.log", "ab")  # noqa: SIM115 (closed when the process ends)
        # own process group: a terminal's Ctrl-C reaches the launcher only, which then
        # signals each worker exactly once (_stop)
        procs[name] = subprocess.Popen(
            cmd, env=env, stdout=log, stderr=subprocess.STDOUT, process_group=0
        )
        log.close()
    console.print(
        f"{len(procs)} workers started ({', '.join(procs)}); logs in {logs}", highlight=False
    )
    try:
        with StopRequest() as stop:
            _watch(sweep, result.study, procs, progress, console, stop)
    except KeyboardInterrupt:
        result.interrupted = True
        console.print("[yellow]stopping: workers record their trials (Ctrl-C again to kill)[/]")
        _stop(procs)
    result.exit_codes = {name: p.returncode for name, p in procs.items()}
    failed = {n: c for n, c in result.exit_codes.items() if c not in (0, 130, -signal.SIGINT)}
    if failed and not result.interrupted:
        for name in failed:
            tail = (logs / f"{name}.log").read_text(errors="replace")[-2000:]
            console.print(f"[red]worker {name} exited with {failed[name]}[/]; log tail:\n{tail}")


def worker_env(gpu: str | None, n_workers: int) -> dict[str, str]:
    """A worker's environment: its one GPU (or none) and its share of the CPU cores, so
    that workers do not oversubscribe the machine's cores with their thread pools."""
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": gpu if gpu is not None else ""}
    env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // n_workers)))
    return env


def worker_command(
    sweep: SweepConfig, *, name: str, index: int, gpu: str | None, deadline: float | None
) -> list[str]:
    if sweep.source is None:
        raise ValueError("worker processes need a sweep loaded from a file")
    cmd = [
        sys.executable,
        "-c",
        "from geoarena.cli import main; main()",
        "sweep",
        "worker",
        str(sweep.source),
        "--name",
        name,
        "--index",
        str(index),
    ]
    if gpu is not None:
        cmd += ["--gpu", gpu]
    if deadline is not None:
        cmd += ["--deadline", repr(deadline)]
    return cmd


def _watch(
    sweep: SweepConfig,
    study: optuna.Study,
    procs: Processes,
    progress: bool,
    console: Console,
    stop: StopRequest,
) -> None:
    """Poll the study for a progress bar until every worker has exited."""
    total = sweep.budget.n_trials
    bar = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[best]}"),
        TimeElapsedColumn(),
        console=console,
        disable=not progress,
    )
    finished = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
    with bar:
        task = bar.add_task(f"sweep {sweep.name}", total=total, best="")
        while True:
            alive = [p for p in procs.values() if p.poll() is None]
            trials = study.get_trials(deepcopy=False)
            done = sum(1 for t in trials if t.state in finished)
            values = [
                t.value for t in trials if t.state == TrialState.COMPLETE and t.value is not None
            ]
            best = f"best {sweep.objective.metric} {max(values):.4f}" if values else ""
            running = sum(1 for t in trials if t.state == TrialState.RUNNING)
            bar.update(
                task,
                completed=min(counted_trials(trials) - running, total or done),
                best=f"{best}  running {running}",
            )
            if not alive:
                return
            stop.check()
            time.sleep(POLL_SECONDS)


def _stop(procs: Processes) -> None:
    for proc in procs.values():
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
    end = time.time() + STOP_GRACE
    try:
        for proc in procs.values():
            proc.wait(timeout=max(end - time.time(), 0.1))
    except (subprocess.TimeoutExpired, KeyboardInterrupt):
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def _close(tracker: BaseTracker, study: optuna.Study, interrupted: bool) -> None:
    """Finish the parent run once the budget is spent and nothing runs (any launcher may)."""
    trials = study.get_trials(deepcopy=False)
    running = any(t.state == TrialState.RUNNING for t in trials)
    if interrupted:
        tracker.close_study(study, interrupted=True)
    elif not running:
        tracker.close_study(study, interrupted=False)


def run_worker_process(
    sweep_path: Path, *, name: str, index: int, gpu: str | None, deadline: float | None
) -> int:
    """Body of ``geoarena sweep worker``: exit status 0, or 130 after Ctrl-C."""
    sweep = load_sweep(sweep_path)
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    options = WorkerOptions(worker=name, gpu=gpu, deadline=deadline, index=index)

    def show(trial: FrozenTrial, timing: TrialTiming) -> None:
        print(f"[{name}] trial {trial.number}: {trial.state.name} value={trial.value}", flush=True)

    try:
        report = run_worker(sweep, options, on_trial=show)
    except KeyboardInterrupt:
        return 130
    return 130 if report.interrupted else 0
