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
