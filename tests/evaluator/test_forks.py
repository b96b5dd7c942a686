"""``forks.fork_map``: results in task order from every process, each task run exactly
once where the static share says, and every failure raised in the parent with no
worker left behind."""

from __future__ import annotations

import os
from collections.abc import Iterator

import psutil
import pytest

from geoarena.errors import Problem
from geoarena.evaluator.errors import InputError
from geoarena.evaluator.forks import can_fork, fork_map, in_worker

pytestmark = pytest.mark.skipif(not can_fork(), reason="needs os.fork")


@pytest.fixture(autouse=True)
def no_worker_left_behind() -> Iterator[None]:
    """Each test's workers are gone (reaped: not even zombies) when fork_map returns or
    raises; children other tests started (servers) are not this test's."""
    before = {p.pid for p in psutil.Process().children()}
    yield
    assert {p.pid for p in psutil.Process().children()} <= before


def test_results_come_back_in_task_order_from_each_process() -> None:
    parent = os.getpid()
    got = fork_map(lambda k: (k, os.getpid(), in_worker()), 7, 3)
    assert [k for k, _, _ in got] == list(range(7))
    by_process = {}
    for k, pid, worker in got:
        by_process.setdefault(pid, []).append(k)
        assert worker == (pid != parent)
    assert sorted(by_process.values()) == [[0, 3, 6], [1, 4], [2, 5]]
    assert by_process[parent] == [0, 3, 6] and not in_worker()


def test_more_processes_than_tasks_and_one_process() -> None:
    assert fork_map(lambda k: k + 1, 2, 8) == [1, 2]
    parent = os.getpid()
    assert fork_map(lambda k: os.getpid(), 3, 1) == [parent] * 3
    assert fork_map(lambda k: k, 0, 4) == []


def test_a_workers_exception_is_raised_in_the_parent_as_it_was() -> None:
    def task(k: int) -> int:
        if k == 1:
            raise InputError([Problem("preds.csv", 12, "PolygonWKT_Pix", "unparsable WKT")])
        return k

    with pytest.raises(InputError) as caught:
        fork_map(task, 4, 2)
    assert str(caught.value.problems[0]) == "preds.csv:12: [PolygonWKT_Pix] unparsable WKT"


def test_the_parents_own_exception_kills_and_reaps_the_workers() -> None:
    def task(k: int) -> int:
        if k == 0:
            raise ValueError("parent's chunk")
        if in_worker():
            os.pause()  # would never end: the parent must kill it
        return k

    with pytest.raises(ValueError, match="parent's chunk"):
        fork_map(task, 2, 2)


def test_a_worker_that_dies_or_raises_what_does_not_pickle() -> None:
    def dies(k: int) -> int:
        if in_worker():
            os._exit(3)
        return k

    with pytest.raises(RuntimeError, match="a scoring worker died"):
        fork_map(dies, 2, 2)

    class Local(Exception):  # a local class does not pickle
        pass

    def raises(k: int) -> int:
        if in_worker():
            raise Local("only in the worker")
        return k

    with pytest.raises(RuntimeError, match="only in the worker"):
        fork_map(raises, 2, 2)
