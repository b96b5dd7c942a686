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
        try:  # a KeyboardInterrupt that some __del__ would swallow
            os.kill(os.getpid(), signal.SIGINT)  # the handler runs before kill() returns
        except KeyboardInterrupt:
            pass
        assert stop.requested
        with pytest.raises(KeyboardInterrupt):
            stop.check()
    assert signal.getsignal(signal.SIGINT) is before
