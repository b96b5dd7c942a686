"""Ctrl-C that cannot be lost.

Python raises ``KeyboardInterrupt`` wherever the main thread happens to be; when that is
inside a ``__del__`` or weakref callback (SQLAlchemy and MLflow run many), the exception
is printed as "Exception ignored" and dropped, and a worker would train on as if nothing
had happened. ``StopRequest`` keeps the usual immediate ``KeyboardInterrupt`` but also
remembers the request, so the sweep loop checks it at safe points: after every epoch
(where the checkpoint was just written) and before claiming the next trial.

Only the first Ctrl-C raises: further ones are remembered but do not raise again, so a
second signal (a user pressing twice, or a terminal and a launcher both signalling)
cannot break into the handling of the first -- the code that records the interrupted
trial and re-queues it -- and leave the trial RUNNING.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType


class StopRequest:
    """Context manager installing a SIGINT handler that records and raises."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: object = None
        self._installed = False

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.requested:  # already stopping: let the first interrupt finish its handling
            return
        self.requested = True
        raise KeyboardInterrupt

    def check(self) -> None:
        """Raise ``KeyboardInterrupt`` if Ctrl-C came, even if its first raise was lost."""
        if self.requested:
            raise KeyboardInterrupt

    def __enter__(self) -> StopRequest:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
            self._installed = True
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._installed:
            signal.signal(signal.SIGINT, self._previous)  # type: ignore[arg-type]
            self._installed = False
