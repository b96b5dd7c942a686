"""Which Optuna storage a sweep uses, and how workers share it without stepping on each other.

Optuna's storages are used as they are (no wrapper class): a file path becomes a
``JournalStorage`` over a ``JournalFileBackend`` (append-only log with a file lock, safe
for many processes on one machine, unlike SQLite under parallel writers); an
``sqlite:///``, ``postgresql://`` or ``mysql://`` URL becomes an ``RDBStorage``, with
heartbeats so that a worker that dies (machine lost, SIGKILL, OOM killer) leaves no
trial RUNNING forever: the next worker to claim a trial fails it and re-queues its
parameters.

Two things Optuna leaves to the caller are done here:

* **an exact trial cap across workers.** ``claim_lock`` serialises "count the trials,
  then ask for a new one" across processes (a lock file next to a journal or SQLite file,
  a PostgreSQL advisory lock otherwise), so ``budget.n_trials`` is never overshot even
  when all workers start at once;
* **dead local workers on storages without heartbeats.** Each claimed trial records its
  host, pid and the pid's start time; ``reap_dead_trials`` fails (and re-queues) RUNNING
  trials whose process on this host is gone. Journal files are single-machine, so this
  covers them completely.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import socket
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import optuna
from optuna.storages import BaseStorage, RDBStorage
from optuna.storages.journal import JournalFileBackend, JournalStorage
from optuna.trial import FrozenTrial, TrialState
from sqlalchemy import text

from geoarena.platform.trial_record import WorkerIdentity

#: called with the study and the (already failed) trial of a dead worker.
StaleCallback = Callable[[optuna.Study, FrozenTrial], None]


def is_rdb(url: str) -> bool:
    """Whether ``url`` names an SQLAlchemy database rather than a journal file."""
    return "://" in url and not url.startswith("file://")


def journal_path(url: str) -> Path:
    return Path(url.removeprefix("file://"))


def open_storage(
    url: str,
    *,
    heartbeat_interval: int = 60,
    grace_period: int | None = None,
    on_stale: StaleCallback | None = None,
) -> BaseStorage:
    """An Optuna storage for ``url`` (a journal file path, or a database URL).

    ``on_stale(study, frozen_trial)`` runs for every trial whose worker stopped sending
    heartbeats (RDB storages), after Optuna has marked it FAIL.
    """
    if not is_rdb(url):
        path = journal_path(url)
        path.parent.mkdir(parents=True, exist_ok=True)
        return JournalStorage(JournalFileBackend(str(path)))
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return RDBStorage(
            url,
            heartbeat_interval=heartbeat_interval,
            grace_period=grace_period or 2 * heartbeat_interval,
            heartbeat_stale_trial_callback=on_stale,
            engine_kwargs={"pool_pre_ping": True} if not url.startswith("sqlite") else None,
        )


@contextlib.contextmanager
def claim_lock(url: str, storage: BaseStorage, study_name: str) -> Iterator[None]:
    """Hold a cross-process lock of ``study_name`` while counting and creating trials."""
    if not is_rdb(url):
        with _file_lock(Path(str(journal_path(url)) + ".claim")):
            yield
    elif url.startswith("sqlite:///"):
        with _file_lock(Path(url.removeprefix("sqlite:///") + ".claim")):
            yield
    elif url.startswith("postgresql") and isinstance(storage, RDBStorage):
        key = int.from_bytes(hashlib.sha1(f"geoarena:{study_name}".encode()).digest()[:8], "big")
        key -= 1 << 63 if key >= 1 << 63 else 0  # bigint range
        with storage.engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": key})
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                conn.commit()
    else:  # other databases: Optuna's own atomic trial numbering; the cap may overshoot
        yield


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


# --- worker identity and dead local workers ---------------------------------------------------
def worker_identity(*, gpu: str | None, worker: str) -> WorkerIdentity:
    """What a claimed trial records about the process running it (this one)."""
    pid = os.getpid()
    return WorkerIdentity(socket.gethostname(), pid, _pid_start(pid), gpu, worker)


def _pid_start(pid: int) -> int | None:
    """The process's start time in clock ticks (Linux), to tell a reused pid apart."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    if fields[0] == "Z":  # zombie: dead, not yet reaped by its parent
        return -1
    return int(fields[19])


def process_alive(identity: WorkerIdentity) -> bool:
    """Whether the process described by ``identity`` (on this host) still runs."""
    pid = identity.pid
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    start = _pid_start(pid)
    if start == -1:
        return False
    return start is None or identity.pid_start in (None, start)


def reap_dead_trials(study: optuna.Study, on_dead: StaleCallback) -> list[int]:
    """Fail RUNNING trials whose worker process on this host has died; return their numbers.

    A trial without an identity we wrote is never reaped. Call it under ``claim_lock`` so
    two workers never reap the same trial.
    """
    host = socket.gethostname()
    reaped = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        identity = WorkerIdentity.of(trial)
        if identity is None or identity.host != host:
            continue
        if identity.pid == os.getpid() or process_alive(identity):
            continue
        study._storage.set_trial_state_values(trial._trial_id, state=TrialState.FAIL)
        on_dead(study, study._storage.get_trial(trial._trial_id))
        reaped.append(trial.number)
    return reaped
