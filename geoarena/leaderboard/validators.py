"""Where upload validation runs: in the calling process, or in a pool of processes.

Validation parses a whole CSV (seconds of CPU for a large file). In the server it runs in
a process pool of ``max_parallel_uploads`` processes, so a burst of uploads (rejected or
not) never holds the server's interpreter lock: board and status requests keep answering
while files are checked. Scripts and tests validate in their own process.
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from typing import Protocol

from geoarena.leaderboard.validation import UploadCheck, ValidatedUpload, validate_upload


class Validator(Protocol):
    def validate(self, check: UploadCheck) -> ValidatedUpload: ...


class InlineValidator:
    """Validates in the calling thread."""

    def validate(self, check: UploadCheck) -> ValidatedUpload:
        return validate_upload(check)


def _lower_priority() -> None:
    """Validation yields the CPU to the server's own requests (boards, status) first."""
    os.nice(5)


class PoolValidator:
    """Validates in a pool of ``processes`` spawned processes (never forked: the server
    runs threads, and a fork would copy their locks mid-use), each at a lower CPU
    priority than the server."""

    def __init__(self, processes: int) -> None:
        self._pool = ProcessPoolExecutor(
            max_workers=processes,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_lower_priority,
        )

    def validate(self, check: UploadCheck) -> ValidatedUpload:
        return self._pool.submit(validate_upload, check).result()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
