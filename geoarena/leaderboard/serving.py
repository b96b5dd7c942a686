"""Running the app under uvicorn with the limits a public server needs.

uvicorn closes idle keep-alive connections and can cap concurrent connections, but has no
limit on how long a client may take to send a request's headers: 250 connections that
each sent half a header held a 256-descriptor server unresponsive. ``GuardedH11Protocol``
closes a connection whose headers are not complete ``header_timeout`` seconds after it
opened (or after its previous response); body stalls are the upload reader's
(``api.files``).
"""

from __future__ import annotations

import asyncio
from typing import Any

import h11
import uvicorn
from fastapi import FastAPI
from uvicorn.protocols.http.h11_impl import H11Protocol

from geoarena.leaderboard.settings import Settings


class GuardedH11Protocol(H11Protocol):
    """uvicorn's HTTP/1.1 protocol with a deadline for each request's headers."""

    header_timeout: float = 10.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state is h11.IDLE:  # still waiting for a whole request line
            self._arm()
        else:
            self._disarm()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._disarm()  # idle now: the keep-alive timeout takes over

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        if self._header_timer is None:
            self._header_timer = self.loop.call_later(self.header_timeout, self._expire)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _expire(self) -> None:
        self._header_timer = None
        if not self.transport.is_closing():
            self.transport.close()


def serve(app: FastAPI, settings: Settings, *, host: str, port: int) -> None:
    """Serve ``app`` until interrupted, with the timeouts and limits of ``settings``."""
    protocol = type(
        "Protocol", (GuardedH11Protocol,), {"header_timeout": settings.header_timeout_seconds}
    )
    uvicorn.run(
        app,
        host=host,
        port=port,
        http=protocol,
        timeout_keep_alive=settings.keep_alive_seconds,
        limit_concurrency=settings.max_connections,
        log_level="info",
    )
