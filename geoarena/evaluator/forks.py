"""Numbered tasks on forked processes: the parent runs its share itself, and each forked
worker sends its results back pickled through a pipe.

Not ``ProcessPoolExecutor``: a score forks once per core and sends back a few numbers
per image, and the pool's machinery (multiprocessing's queues, connections and locks,
and a manager thread) cost a ``geoarena score`` ~10 ms of imports alone. Fork, a pipe
and pickle are all the work needs. The workers inherit whatever the caller set up
before the call (nothing is pickled on the way in) and end with ``os._exit``: no
interpreter shutdown, no atexit handler and no buffered output of the parent's runs
twice.
"""

from __future__ import annotations

import os
import pickle
import signal
import traceback
from collections.abc import Callable
from typing import NoReturn, TypeVar

T = TypeVar("T")

#: True in a process forked by :func:`fork_map`
_IN_WORKER = False


def in_worker() -> bool:
    """Whether this process is a worker forked by :func:`fork_map`."""
    return _IN_WORKER


def can_fork() -> bool:
    return hasattr(os, "fork")


def fork_map(task: Callable[[int], T], n_tasks: int, n_processes: int) -> list[T]:
    """``[task(k) for k in range(n_tasks)]`` on ``n_processes`` processes.

    Process ``p`` (the parent is 0) runs the tasks ``k`` with ``k % n_processes == p``,
    in order: a static share, so each task must cost about the same. An exception in a
    task is raised in the parent, with the workers reaped: the parent's own first (its
    workers are then killed), else the first failing worker's; a worker that dies
    without a word raises :class:`RuntimeError` with its exit status.

    Examples
    --------
    >>> fork_map(lambda k: k * k, 5, 2) if can_fork() else [0, 1, 4, 9, 16]
    [0, 1, 4, 9, 16]
    """
    n_processes = max(1, min(n_processes, n_tasks))
    workers: list[tuple[int, int]] = []  # (pid, read end of its pipe)
    try:
        for p in range(1, n_processes):
            read_end, write_end = os.pipe()
            pid = os.fork()
            if pid == 0:
                os.close(read_end)
                _work(task, range(p, n_tasks, n_processes), write_end)
            os.close(write_end)
            workers.append((pid, read_end))
        results = {k: task(k) for k in range(0, n_tasks, n_processes)}
    except BaseException:
        for pid, read_end in workers:
            os.kill(pid, signal.SIGKILL)
            os.close(read_end)
            os.waitpid(pid, 0)
        raise
    failure: BaseException | None = None
    for pid, read_end in workers:
        with os.fdopen(read_end, "rb") as pipe:
            message = pipe.read()
        _, status = os.waitpid(pid, 0)
        if not message:
            failure = failure or RuntimeError(f"a scoring worker died (wait status {status})")
            continue
        ok, payload = pickle.loads(message)
        if ok:
            results.update(payload)
        else:
            failure = failure or payload
    if failure is not None:
        raise failure
    return [results[k] for k in range(n_tasks)]


def _work(task: Callable[[int], object], tasks: range, write_end: int) -> NoReturn:
    """A worker's life: run its tasks, send ``(True, {k: result})`` or ``(False,
    exception)``, and end without Python's shutdown."""
    global _IN_WORKER
    _IN_WORKER = True
    try:
        try:
            message = pickle.dumps((True, {k: task(k) for k in tasks}))
        except BaseException as exc:  # sent to the parent, which raises it
            try:
                message = pickle.dumps((False, exc))
            except Exception:  # an exception that does not pickle: its traceback does
                message = pickle.dumps((False, RuntimeError(traceback.format_exc())))
        with os.fdopen(write_end, "wb") as pipe:
            pipe.write(message)
    finally:
        os._exit(0)
