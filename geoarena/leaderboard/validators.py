"""Where upload validation runs: in the calling process, or in a pool of processes.

Validation parses a whole CSV (seconds of CPU for a large file). In the server it runs in
a process pool of ``max_parallel_uploads`` processes, so a burst of uploads (rejected or
not) never holds the server's interpreter lock: board and status requests keep answering
while files are checked. Scripts and tests validate in their own process.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Collection
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Protocol

from geoarena.leaderboard.validation import UploadLimits, ValidatedUpload, validate_upload


class Validator(Protocol):
    def validate(
        self,
        source: Path,
        *,
        name: str,
        image_ids: Collection[str],
        limits: UploadLimits,
        workdir: Path,
    ) -> ValidatedUpload: ...


class InlineValidator:
    """Validates in the calling thread."""

    def validate(
        self,
        source: Path,
        *,
        name: str,
        image_ids: Collection[str],
        limits: UploadLimits,
        workdir: Path,
    ) -> ValidatedUpload:
        return validate_upload(
            source, name=name, image_ids=image_ids, limits=limits, workdir=workdir
        )


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

    def validate(
        self,
        source: Path,
        *,
        name: str,
        image_ids: Collection[str],
        limits: UploadLimits,
        workdir: Path,
    ) -> ValidatedUpload:
        future = self._pool.submit(
            validate_upload,
            source,
            name=name,
            image_ids=frozenset(image_ids),
            limits=limits,
            workdir=workdir,
        )
        return future.result()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
