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

from geoarena.evaluator import InputError, PolygonTable, read_proposals
from geoarena.evaluator.columnar import table_from_bytes
from geoarena.leaderboard.blobs import get_blob
from geoarena.leaderboard.db import Database
from geoarena.leaderboard.queue import Claim, FailureDetail, JobQueue, LeaseLost
from geoarena.leaderboard.schema import Challenge, Rescore, Submission
from geoarena.leaderboard.scores import evaluator_version
from geoarena.leaderboard.scoring import ScoringContext, TruthCache, score_both_splits
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
        """Score jobs until ``stop`` is set, or with ``exit_when_idle`` until no job is
        queued or running anywhere (a job leased by a worker that died is waited for: it
        becomes claimable when its lease expires)."""
        stop = stop or threading.Event()
        while not stop.is_set():
            try:
                worked = self.run_once()
            except Exception:  # database hiccup: log, back off, keep serving
                log.exception("worker %s: claim failed", self.name)
                worked = False
            if not worked:
                if exit_when_idle and self.queue.pending() == 0:
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
            challenge = session.get_one(Challenge, submission.phase.challenge_id)
            if claim.rescore_id is None:
                context = ScoringContext.current(challenge)
            else:
                context = ScoringContext.of_rescore(
                    session.get_one(Rescore, claim.rescore_id), challenge
                )
            table_sha, csv_sha = submission.table_sha256, submission.file_sha256
            filename = submission.filename
        try:
            prepared = self.truths.get(context, lambda: self._load(context.truth_sha256))
            scores = score_both_splits(prepared, self._table(table_sha, csv_sha, filename))
        except InputError as exc:
            # The upload was validated before it was accepted, so a problem found now is
            # the platform's (a stricter evaluator, other limits): it costs no quota.
            message = (
                "scoring found a problem that the upload's validation accepted (platform "
                f"error; this submission does not count against your quota): {exc}"
            )
            detail = FailureDetail(
                message=message, problems=list(exc.problems[:50]), total=exc.total
            )
            self.queue.fail(claim, FailureKind.PLATFORM, detail)
            return
        except Exception as exc:
            log.exception("worker %s: scoring job %s failed", self.name, claim.job_id)
            self.queue.retry(claim, f"{type(exc).__name__}: {exc}", traceback.format_exc())
            return
        self.queue.finish(claim, scores, context, evaluator_version())

    def _table(self, table_sha: str | None, csv_sha: str, filename: str) -> PolygonTable:
        """The submission's rows: the table validated at upload, or (for submissions
        stored before tables were) its CSV parsed again."""
        if table_sha is not None:
            return table_from_bytes(self._load(table_sha), name=filename)
        return read_proposals(
            self._load(csv_sha),
            name=filename,
            on_error="raise",
            max_vertices=self.settings.max_vertices,
        )

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
