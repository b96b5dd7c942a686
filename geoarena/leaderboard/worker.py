"""Scoring workers: claim a job, score it on both splits, hand the result to the queue.

Run any number of them (``geoarena leaderboard worker``) on machines that reach the
database, or inside the server (``serve --workers N``). A worker extends its lease while it
scores; if it dies, the lease expires and another worker re-claims the job. The worker
only orchestrates: every state change is the job queue's.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import traceback

from geoarena.evaluator import InputError
from geoarena.leaderboard.blobs import get_blob
from geoarena.leaderboard.db import Database
from geoarena.leaderboard.queue import Claim, FailureDetail, JobQueue, LeaseLost, ScoredWith
from geoarena.leaderboard.schema import Challenge, Phase, Rescore, Submission
from geoarena.leaderboard.scores import evaluator_version
from geoarena.leaderboard.scoring import TruthCache, score_both_splits
from geoarena.leaderboard.settings import Settings, get_settings
from geoarena.leaderboard.states import FailureKind

log = logging.getLogger(__name__)


class Worker:
    """One scoring loop; ``truths`` may be shared by workers of one process."""

    def __init__(
        self,
        db: Database,
        settings: Settings | None = None,
        *,
        name: str | None = None,
        truths: TruthCache | None = None,
    ) -> None:
        self.db = db
        self.settings = settings or get_settings()
        self.queue = JobQueue(
            db,
            lease_seconds=self.settings.lease_seconds,
            max_attempts=self.settings.max_attempts,
        )
        self.name = name or f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"
        self.truths = truths or TruthCache()
        self.processed = 0

    def run(
        self,
        stop: threading.Event | None = None,
        *,
        poll_interval: float = 0.5,
        exit_when_idle: bool = False,
    ) -> int:
        """Score jobs until ``stop`` is set (or the queue is empty with ``exit_when_idle``)."""
        stop = stop or threading.Event()
        while not stop.is_set():
            try:
                worked = self.run_once()
            except Exception:  # database hiccup: log, back off, keep serving
                log.exception("worker %s: claim failed", self.name)
                worked = False
            if not worked:
                if exit_when_idle:
                    break
                stop.wait(poll_interval)
        return self.processed

    def run_once(self) -> bool:
        """Claim and finish one job; False when there was none."""
        claim = self.queue.claim(self.name)
        if claim is None:
            return False
        stop_heartbeat = threading.Event()
        heartbeat = threading.Thread(
            target=self._heartbeat, args=(claim, stop_heartbeat), daemon=True
        )
        heartbeat.start()
        try:
            self._process(claim)
        except LeaseLost:
            log.warning("worker %s lost job %s to another worker", self.name, claim.job_id)
        finally:
            stop_heartbeat.set()
            heartbeat.join()
        self.processed += 1
        return True

    def _heartbeat(self, claim: Claim, stop: threading.Event) -> None:
        interval = max(self.settings.lease_seconds / 3, 0.05)
        while not stop.wait(interval):
            try:
                if not self.queue.extend(claim):
                    return
            except Exception:
                log.exception("worker %s: lease extension failed", self.name)

    def _process(self, claim: Claim) -> None:
        with self.db.session() as session:
            submission = session.get_one(Submission, claim.submission_id)
            phase = session.get_one(Phase, submission.phase_id)
            challenge = session.get_one(Challenge, phase.challenge_id)
            run = session.get(Rescore, claim.rescore_id) if claim.rescore_id else None
            truth_sha = run.truth_sha256 if run else challenge.truth_sha256
            proposals = get_blob(session, submission.file_sha256)
            rules, salt = challenge.rules, challenge.split_salt
            fraction, filename = phase.public_fraction, submission.filename
        try:
            prepared = self.truths.get(
                load=lambda: self._load(truth_sha),
                truth_sha256=truth_sha,
                rules=rules,
                salt=salt,
                public_fraction=fraction,
            )
            scores = score_both_splits(
                prepared, proposals, name=filename, max_vertices=self.settings.max_vertices
            )
        except InputError as exc:
            # Validation passed at upload, so this is rare (e.g. stricter new evaluator).
            self.queue.fail(claim, FailureKind.PARTICIPANT, FailureDetail.of(exc))
            return
        except Exception as exc:
            log.exception("worker %s: scoring job %s failed", self.name, claim.job_id)
            self.queue.retry(claim, f"{type(exc).__name__}: {exc}", traceback.format_exc())
            return
        self.queue.finish(claim, scores, ScoredWith(rules, evaluator_version(), truth_sha))

    def _load(self, digest: str) -> bytes:
        with self.db.session() as session:
            return get_blob(session, digest)


def start_inline_workers(
    db: Database, settings: Settings, count: int
) -> tuple[threading.Event, list[threading.Thread]]:
    """``count`` worker threads sharing one truth cache, for ``serve --workers N``."""
    stop = threading.Event()
    truths = TruthCache()
    threads = []
    for i in range(count):
        worker = Worker(
            db, settings, name=f"{socket.gethostname()}:{os.getpid()}:inline{i}", truths=truths
        )
        thread = threading.Thread(
            target=worker.run, args=(stop,), daemon=True, name=f"geoarena-worker-{i}"
        )
        thread.start()
        threads.append(thread)
    return stop, threads
