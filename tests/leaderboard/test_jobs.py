"""The job queue: one conformance suite run on every engine (SKIP LOCKED is real on
PostgreSQL, the single writer on SQLite)."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import func, select

from geoarena import leaderboard as lb
from geoarena.leaderboard.queue import JobQueue, LeaseLost
from geoarena.leaderboard.schema import Job, Score, Submission
from geoarena.leaderboard.scoring import ScoringContext, TruthCache
from geoarena.leaderboard.settings import Settings
from geoarena.leaderboard.states import SplitSource
from geoarena.leaderboard.worker import Worker

from .factories import degrade, make_arena, synthetic


def _queue(db, n: int):
    arena = make_arena(db, teams=("alpha",))
    _, props = synthetic()
    uuids = [
        lb.submit(
            db, principal=arena.members["alpha"], slug=arena.slug, data=degrade(props, 0.9, seed=i)
        ).uuid
        for i in range(n)
    ]
    return arena, uuids


class TestJobQueue:
    def test_claims_oldest_first_and_reports_queue_positions(self, db) -> None:
        arena, uuids = _queue(db, 3)
        views = [lb.get_submission(db, uuid=u, principal=arena.organizer) for u in uuids]
        assert [v.queue_position for v in views] == [1, 2, 3]
        first = JobQueue(db, lease_seconds=30, max_attempts=3).claim("w1")
        second = JobQueue(db, lease_seconds=30, max_attempts=3).claim("w2")
        assert first.job_id < second.job_id
        view = lb.get_submission(db, uuid=uuids[2], principal=arena.organizer)
        assert view.queue_position == 1
        assert lb.get_submission(db, uuid=uuids[0], principal=arena.organizer).status == "scoring"
        assert JobQueue(db, lease_seconds=30, max_attempts=3).claim("w3").job_id > second.job_id
        assert JobQueue(db, lease_seconds=30, max_attempts=3).claim("w4") is None

    def test_parallel_claims_never_share_a_job(self, db) -> None:
        _queue(db, 8)
        queue = JobQueue(db, lease_seconds=30, max_attempts=3)
        claimed: list[int] = []
        barrier = threading.Barrier(8)

        def grab() -> None:
            barrier.wait()
            while (c := queue.claim(threading.current_thread().name)) is not None:
                claimed.append(c.job_id)

        threads = [threading.Thread(target=grab) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert sorted(claimed) == sorted(set(claimed)) and len(claimed) == 8

    def test_expired_lease_is_reclaimed_and_the_old_owner_cannot_finish(self, db) -> None:
        _queue(db, 1)
        stale = JobQueue(db, lease_seconds=0.2, max_attempts=3).claim("dead")
        assert (
            JobQueue(db, lease_seconds=30, max_attempts=3).claim("other") is None
        )  # lease still valid
        time.sleep(0.3)
        fresh = JobQueue(db, lease_seconds=30, max_attempts=3).claim("alive")
        assert fresh.job_id == stale.job_id and fresh.attempt == 2
        queue = JobQueue(db, lease_seconds=30, max_attempts=3)
        assert not queue.extend(stale)
        with pytest.raises(LeaseLost):  # a stale lease must not complete the job
            context = ScoringContext("sha", "deepglobe", SplitSource.HASH_BY_CITY, "s", 0.3, 0)
            queue.finish(stale, {}, context, "test")
        Worker(db).run_once()  # nothing claimable: the job is held by "alive"
        with db.session() as s:
            assert s.execute(select(func.count()).select_from(Score)).scalar_one() == 0

    def test_a_job_that_keeps_dying_fails_as_a_platform_error(self, db) -> None:
        arena, (uuid,) = _queue(db, 1)
        for _ in range(2):
            assert JobQueue(db, lease_seconds=0.01, max_attempts=2).claim("dies") is not None
            time.sleep(0.05)
        assert JobQueue(db, lease_seconds=30, max_attempts=2).claim("w") is None
        view = lb.get_submission(db, uuid=uuid, principal=arena.members["alpha"])
        assert view.status == "failed" and view.failure_kind == "platform"
        assert "does not count" in view.error.message
        assert view.counts_to_quota is False

    def test_worker_retries_platform_errors_then_fails_without_quota(self, db) -> None:
        arena, (uuid,) = _queue(db, 1)

        class BrokenCache(TruthCache):
            def get(self, *args, **kwargs):
                raise RuntimeError("disk on fire")

        worker = Worker(db, Settings(max_attempts=2), truths=BrokenCache())
        assert worker.run_once()
        retry = lb.get_submission(db, uuid=uuid, principal=arena.members["alpha"])
        assert retry.status == "queued" and retry.queue_position == 1
        assert worker.run(exit_when_idle=True) == 2  # jobs processed in all: 2 attempts
        view = lb.get_submission(db, uuid=uuid, principal=arena.members["alpha"])
        assert view.status == "failed" and view.failure_kind == "platform"
        assert "disk on fire" in view.error.message
        quota = lb.get_quota(db, principal=arena.members["alpha"], slug=arena.slug)
        assert quota.total_used == 0

    def test_each_job_is_scored_exactly_once_by_competing_workers(self, db) -> None:
        _queue(db, 6)
        stop = threading.Event()
        workers = [Worker(db, name=f"w{i}") for i in range(3)]
        threads = [
            threading.Thread(target=w.run, args=(stop,), kwargs={"poll_interval": 0.05})
            for w in workers
        ]
        for t in threads:
            t.start()
        try:
            JobQueue(db, lease_seconds=30, max_attempts=3).wait_until_idle(timeout=120)
        finally:
            stop.set()
            for t in threads:
                t.join(timeout=60)
        with db.session() as s:
            per_sub = s.execute(
                select(Score.submission_id, func.count()).group_by(Score.submission_id)
            ).all()
            statuses = set(s.execute(select(Submission.status)).scalars())
            done = s.execute(select(func.count()).where(Job.status == "done")).scalar_one()
        assert len(per_sub) == 6 and all(n == 2 for _, n in per_sub)
        assert statuses == {"scored"} and done == 6


def test_retry_requeues_the_job(db) -> None:
    _queue(db, 1)
    claim = JobQueue(db, lease_seconds=30, max_attempts=3).claim("w")
    JobQueue(db, lease_seconds=30, max_attempts=3).retry(claim, "RuntimeError: test", "trace")
    again = JobQueue(db, lease_seconds=30, max_attempts=3).claim("w2")
    assert again.job_id == claim.job_id and again.attempt == 2
