"""Ctrl-C is raised at once and remembered, so a swallowed KeyboardInterrupt still stops."""

from __future__ import annotations

import os
import signal

import pytest

from geoarena.platform.interrupt import StopRequest


def test_sigint_raises_and_is_remembered() -> None:
    before = signal.getsignal(signal.SIGINT)
    with StopRequest() as stop:
        assert not stop.requested
        stop.check()  # nothing requested: no-op
        with pytest.raises(KeyboardInterrupt):  # raised at once, as usual ...
            os.kill(os.getpid(), signal.SIGINT)
        # ... and remembered, for when a __del__ swallowed it
        assert stop.requested
        with pytest.raises(KeyboardInterrupt):
            stop.check()
    assert signal.getsignal(signal.SIGINT) is before


def test_a_second_sigint_does_not_break_into_the_first_ones_handling() -> None:
    """The second Ctrl-C (the launcher's, after the terminal's) interrupted the code that
    records the interrupted trial, leaving it RUNNING."""
    recorded = []
    with StopRequest() as stop:
        try:
            os.kill(os.getpid(), signal.SIGINT)
        except KeyboardInterrupt:
            os.kill(os.getpid(), signal.SIGINT)  # arrives while the first one is handled
            recorded.append("trial recorded")
        assert stop.requested
    assert recorded == ["trial recorded"]
