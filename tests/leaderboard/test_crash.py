"""A worker killed with SIGKILL mid-scoring: the job is re-claimed and scored once."""

from __future__ import annotations

import signal
import time

import pytest
from sqlalchemy import func, select

from geoarena import leaderboard as lb
from geoarena.evaluator.synthetic import make_pair
from geoarena.leaderboard.schema import Job, Score, Submission
from geoarena.leaderboard.settings import Settings
from geoarena.leaderboard.worker import Worker

from . import procs
from .factories import degrade, make_arena

LEASE = 1.5


@pytest.mark.slow
def test_sigkilled_worker_job_is_reclaimed_and_scored_once(db, db_url) -> None:
    truth, props = make_pair(300, 60, seed=5)  # big enough that scoring takes a while
    arena = make_arena(db, teams=("alpha",), truth=truth)
    uuids = [
        lb.submit(
            db, principal=arena.members["alpha"], slug=arena.slug, data=degrade(props, 0.9, seed=i)
        ).uuid
        for i in range(2)
    ]
    with procs.worker(db_url, GEOARENA_LEASE_SECONDS=str(LEASE)) as victim:
        deadline = time.monotonic() + 60
        while True:  # wait until the victim holds the first job
            with db.session() as s:
                job = s.execute(select(Job).order_by(Job.id).limit(1)).scalar_one()
            if job.status == "running" and f":{victim.pid}:" in job.lease_owner:
                break
            assert time.monotonic() < deadline, "worker never claimed the job"
            time.sleep(0.01)
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=10)
    with db.session() as s:
        assert s.execute(select(func.count()).select_from(Score)).scalar_one() == 0, (
            "the kill must land before the score is written"
        )
        first = s.execute(select(Submission).where(Submission.uuid == uuids[0])).scalar_one()
        assert first.status == "scoring"

    rescuer = Worker(db, Settings(lease_seconds=LEASE))
    deadline = time.monotonic() + 120
    while True:
        rescuer.run_once()
        with db.session() as s:
            open_ = s.execute(
                select(func.count()).where(Submission.status.in_(["queued", "scoring"]))
            ).scalar_one()
        if open_ == 0:
            break
        assert time.monotonic() < deadline, "jobs were not recovered"
        time.sleep(0.1)
    with db.session() as s:
        per_sub = dict(
            s.execute(select(Score.submission_id, func.count()).group_by(Score.submission_id)).all()
        )
        jobs = s.execute(select(Job).order_by(Job.id)).scalars().all()
        statuses = s.execute(select(Submission.status)).scalars().all()
    assert sorted(per_sub.values()) == [2, 2]  # one public and one private score each
    assert statuses == ["scored", "scored"]
    assert [j.status for j in jobs] == ["done", "done"]
    assert jobs[0].attempts == 2  # claimed by the victim, then re-claimed
