"""Quotas are race-free: 20 simultaneous uploads, 5 slots left, exactly 5 accepted."""

from __future__ import annotations

import threading

import httpx
import pytest
from sqlalchemy import func, select

from geoarena import leaderboard as lb
from geoarena.leaderboard.errors import QuotaExceeded
from geoarena.leaderboard.schema import Job, Submission
from geoarena.leaderboard.worker import Worker

from . import procs
from .factories import degrade, make_arena, synthetic


def test_twenty_simultaneous_uploads_take_exactly_the_five_free_slots(db) -> None:
    arena = make_arena(db, teams=("alpha",), daily_limit=None, total_limit=8)
    _, props = synthetic()
    member = arena.members["alpha"]
    for i in range(3):
        lb.submit(db, principal=member, slug=arena.slug, data=degrade(props, 0.9, seed=i))
    Worker(db).run(exit_when_idle=True)
    assert lb.get_quota(db, principal=member, slug=arena.slug).remaining == 5

    files = [degrade(props, 0.8, seed=100 + i) for i in range(20)]
    barrier = threading.Barrier(20)
    accepted, refused, other = [], [], []

    def upload(data: bytes) -> None:
        barrier.wait()
        try:
            accepted.append(lb.submit(db, principal=member, slug=arena.slug, data=data))
        except QuotaExceeded:
            refused.append(1)
        except Exception as exc:  # surfaced below
            other.append(exc)

    threads = [threading.Thread(target=upload, args=(f,)) for f in files]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert other == []
    assert len(accepted) == 5 and len(refused) == 15
    with db.session() as s:
        assert s.execute(select(func.count()).select_from(Submission)).scalar_one() == 8
        assert s.execute(select(func.count()).select_from(Job)).scalar_one() == 8
    assert lb.get_quota(db, principal=member, slug=arena.slug).remaining == 0


@pytest.mark.slow
def test_twenty_simultaneous_http_uploads_against_a_real_server(db, db_url) -> None:
    """The same race through uvicorn: 20 clients, one team, 5 slots left."""
    arena = make_arena(db, teams=("alpha",), daily_limit=5)
    _, props = synthetic()
    files = [degrade(props, 0.8, seed=200 + i) for i in range(20)]
    barrier = threading.Barrier(20)
    codes: list[int] = []
    with procs.server(db_url) as url:

        def upload(data: bytes) -> None:
            barrier.wait()
            r = httpx.post(
                f"{url}/api/v1/challenges/{arena.slug}/submissions",
                headers={"Authorization": f"Bearer {arena.tokens['alpha']}"},
                files={"file": ("p.csv", data)},
                timeout=120,
            )
            codes.append(r.status_code)

        threads = [threading.Thread(target=upload, args=(f,)) for f in files]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=180)
    assert sorted(codes) == [202] * 5 + [429] * 15
    with db.session() as s:
        assert s.execute(select(func.count()).select_from(Submission)).scalar_one() == 5
