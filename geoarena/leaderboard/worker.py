"""Scoring workers: claim a job, score it on both splits, write the scores once.

Run any number of them (``geoarena leaderboard worker``) on machines that reach the
database, or inside the server (``serve --workers N``). A worker extends its lease while it
scores; if it dies, the lease expires and another worker re-claims the job.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import traceback

from sqlalchemy import func, select

from geoarena.leaderboard import jobs
from geoarena.leaderboard.blobs import get_blob
from geoarena.leaderboard.boards import bump_board
from geoarena.leaderboard.config import Settings, get_settings
from geoarena.leaderboard.db import Database
from geoarena.leaderboard.schema import (
    FAILED,
    QUEUED,
    SCORED,
    Challenge,
    Job,
    Phase,
    Rescore,
    Score,
    Submission,
    utcnow,
)
from geoarena.leaderboard.scoring import TruthCache, evaluator_version, score_both_splits

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
        claim = jobs.claim(
            self.db, self.name, self.settings.lease_seconds, self.settings.max_attempts
        )
        if claim is None:
            return False
        stop_heartbeat = threading.Event()
        heartbeat = threading.Thread(
            target=self._heartbeat, args=(claim, stop_heartbeat), daemon=True
        )
        heartbeat.start()
        try:
            self._process(claim)
        except jobs.LeaseLost:
            log.warning("worker %s lost job %s to another worker", self.name, claim.job_id)
        finally:
            stop_heartbeat.set()
            heartbeat.join()
        self.processed += 1
        return True

    def _heartbeat(self, claim: jobs.Claim, stop: threading.Event) -> None:
        interval = max(self.settings.lease_seconds / 3, 0.05)
        while not stop.wait(interval):
            try:
                if not jobs.extend(self.db, claim, self.settings.lease_seconds):
                    return
            except Exception:
                log.exception("worker %s: lease extension failed", self.name)

    def _process(self, claim: jobs.Claim) -> None:
        from geoarena.evaluator import InputError

        with self.db.session() as session:
            submission = session.get(Submission, claim.submission_id)
            phase = session.get(Phase, submission.phase_id)
            challenge = session.get(Challenge, phase.challenge_id)
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
            self._finish_failed(
                claim,
                "participant",
                {
                    "message": str(exc),
                    "errors": [e.to_dict() for e in exc.problems[:50]],
                    "total": exc.total,
                },
            )
            return
        except Exception as exc:
            log.exception("worker %s: scoring job %s failed", self.name, claim.job_id)
            self._retry_or_fail(claim, f"{type(exc).__name__}: {exc}", traceback.format_exc())
            return
        version = evaluator_version()
        with self.db.transaction() as session:
            jobs.hold(session, claim, jobs.JOB_DONE)
            generation = claim.rescore_id or 0
            for split, s in scores.items():
                session.add(
                    Score(
                        submission_id=claim.submission_id,
                        split=split,
                        generation=generation,
                        current=claim.rescore_id is None,
                        **s.columns(),
                        rules=rules,
                        evaluator_version=version,
                        truth_sha256=truth_sha,
                    )
                )
            if claim.rescore_id is None:
                submission = session.get(Submission, claim.submission_id)
                submission.status, submission.finished_at = SCORED, utcnow()
                bump_board(session, phase_id=submission.phase_id)
            else:
                self._maybe_finish_rescore(session, claim.rescore_id)

    def _load(self, digest: str) -> bytes:
        with self.db.session() as session:
            return get_blob(session, digest)

    def _maybe_finish_rescore(self, session, rescore_id: int) -> None:
        left = session.execute(
            select(func.count()).where(
                Job.rescore_id == rescore_id,
                Job.status.in_([jobs.JOB_QUEUED, jobs.JOB_RUNNING]),
            )
        ).scalar_one()
        if left == 0:
            session.get(Rescore, rescore_id).status = "ready"

    def _finish_failed(self, claim: jobs.Claim, kind: str, detail: dict) -> None:
        with self.db.transaction() as session:
            jobs.hold(session, claim, jobs.JOB_FAILED)
            if claim.rescore_id is None:
                submission = session.get(Submission, claim.submission_id)
                submission.status, submission.failure_kind = FAILED, kind
                submission.error_detail = json.dumps(detail)
                submission.finished_at = utcnow()
            else:
                self._maybe_finish_rescore(session, claim.rescore_id)

    def _retry_or_fail(self, claim: jobs.Claim, reason: str, trace: str) -> None:
        """Platform errors are retried; after the last attempt the submission fails without
        costing quota, with a message that says so."""
        if claim.attempt >= self.settings.max_attempts:
            message = (
                f"scoring failed on the platform after {claim.attempt} attempts ({reason}); "
                "this submission does not count against your quota"
            )
            self._finish_failed(claim, "platform", {"message": message})
            return
        with self.db.transaction() as session:
            job = jobs.hold(session, claim, jobs.JOB_QUEUED)
            job.last_error, job.finished_at, job.lease_token = trace[-4000:], None, None
            if claim.rescore_id is None:  # back in the queue, and shown so
                session.get(Submission, claim.submission_id).status = QUEUED


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


def wait_for(predicate, timeout: float, interval: float = 0.05) -> bool:
    """Poll ``predicate`` until true or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()
