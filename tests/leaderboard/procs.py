"""Real subprocesses for end-to-end tests: the ``geoarena`` CLI, a uvicorn server, workers.

Every wait has a timeout and every process is killed in teardown, so a stuck server can
never hang CI.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

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
    """A uvicorn server on 127.0.0.1 and a random port; yields its base URL."""
    port = free_port()
    proc = subprocess.Popen(
        [
            *CLI,
            "leaderboard",
            "serve",
            "--db",
            db_url,
            "--port",
            str(port),
            "--workers",
            str(workers),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env(**extra_env),
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited: {proc.stdout.read().decode()[-3000:]}")
            try:
                if httpx.get(f"{url}/api/v1/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError("server did not start in 60 s")
            time.sleep(0.2)
        yield url
    finally:
        stop(proc)


@contextmanager
def worker(db_url: str, **extra_env: str) -> Iterator[subprocess.Popen]:
    proc = subprocess.Popen(
        [*CLI, "leaderboard", "worker", "--db", db_url, "--poll", "0.1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env(**extra_env),
    )
    try:
        yield proc
    finally:
        stop(proc)
