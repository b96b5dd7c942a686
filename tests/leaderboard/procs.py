"""Real subprocesses for end-to-end tests: the ``geoarena`` CLI, a uvicorn server, workers.

Every wait has a timeout and every process is killed in teardown, so a stuck server can
never hang CI.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO

import httpx

CLI = [sys.executable, "-c", "from geoarena.cli import main; main()"]


def env(**extra: str) -> dict[str, str]:
    out = dict(os.environ)
    out.update(extra)
    return out


def run_cli(*args: str, timeout: float = 120, **extra_env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*CLI, *args], capture_output=True, text=True, timeout=timeout, env=env(**extra_env)
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@contextmanager
def server(db_url: str, workers: int = 0, **extra_env: str) -> Iterator[str]:
    """A uvicorn server on 127.0.0.1 and a random port; yields its base URL.

    Its output goes to a file, not a pipe: a pipe nobody drains fills after ~64 KB of
    access log and then blocks the server mid-request.
    """
    port = free_port()
    args = ["leaderboard", "serve", "--db", db_url, "--port", str(port)]
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(
            [*CLI, *args, "--workers", str(workers)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env(**extra_env),
        )
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_healthy(url, proc, log)
            yield url
        finally:
            stop(proc)


def _wait_healthy(url: str, proc: subprocess.Popen, log: IO[bytes]) -> None:
    deadline = time.monotonic() + 60
    while True:
        if proc.poll() is not None:
            log.seek(0)
            raise RuntimeError(f"server exited: {log.read().decode()[-3000:]}")
        try:
            if httpx.get(f"{url}/api/v1/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError("server did not start in 60 s")
        time.sleep(0.2)


@contextmanager
def worker(db_url: str, **extra_env: str) -> Iterator[subprocess.Popen]:
    """A ``geoarena leaderboard worker`` process, logging to a file (see :func:`server`)."""
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(
            [*CLI, "leaderboard", "worker", "--db", db_url, "--poll", "0.1"],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env(**extra_env),
        )
        try:
            yield proc
        finally:
            stop(proc)
