"""Files in and out of the API: uploads read from a request (capped while they stream),
and CSV downloads.

Two encodings are accepted: ``multipart/form-data`` with a ``file`` field (browsers, curl
-F) and a raw body of any other type with the name in ``X-Filename`` or ``?filename=``
(the CLI, which streams the file and shows a progress bar). The byte cap is enforced by
:class:`BodyLimitMiddleware` on the ASGI ``receive`` channel, so an oversized body is cut
off after ``max_upload_bytes`` bytes whatever its encoding or Content-Length claims.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from starlette.datastructures import UploadFile
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from geoarena.errors import GeoarenaError, InvalidInput, LimitExceeded
from geoarena.leaderboard import submissions
from geoarena.leaderboard.access import Principal
from geoarena.leaderboard.boards import Board
from geoarena.leaderboard.db import Database
from geoarena.leaderboard.report import board_csv
from geoarena.leaderboard.settings import Settings
from geoarena.leaderboard.submissions import SubmissionView

#: multipart framing allowance on top of the file cap.
MULTIPART_SLACK = 16 * 1024


class BodyTooLarge(Exception):
    pass


class BodyLimitMiddleware:
    """Answers 413 as soon as a request body passes the limit, without reading the rest."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes + MULTIPART_SLACK

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._too_large(send)
            return
        seen = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await self._too_large(send)

    async def _too_large(self, send: Send) -> None:
        limit = self.max_bytes - MULTIPART_SLACK
        body = json.dumps(
            {"error": "PayloadTooLarge", "detail": f"upload exceeds the {limit} byte limit"}
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"connection", b"close")],
            }
        )
        await send({"type": "http.response.body", "body": body})


@dataclass
class Upload:
    """An upload spooled to disk: the file, its display name and the other fields."""

    path: Path
    filename: str
    fields: dict[str, str] = field(default_factory=dict)


class UploadTimeout(GeoarenaError):
    """The client sent the upload too slowly."""


async def _chunks_with_deadlines(
    stream: AsyncIterator[bytes], idle: float, total: float
) -> AsyncIterator[bytes]:
    """The body's chunks, each within ``idle`` seconds and all within ``total``: a client
    that trickles its body cannot hold a connection (and an upload slot) for long."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + total
    iterator = aiter(stream)
    while True:
        wait = min(idle, deadline - loop.time())
        if wait <= 0:
            raise UploadTimeout(f"upload took longer than {total:g} s")
        try:
            chunk = await asyncio.wait_for(anext(iterator), timeout=wait)
        except StopAsyncIteration:
            return
        except TimeoutError:
            raise UploadTimeout(f"upload stalled for {wait:g} s") from None
        yield chunk


async def receive_upload(
    request: Request, workdir: Path, *, idle: float, total: float, file_field: str = "file"
) -> Upload:
    """Spool the uploaded file to ``workdir/upload`` without holding it in memory.

    Two encodings: ``multipart/form-data`` with a ``file`` field (browsers, ``curl -F``)
    and a raw body (the CLI, which streams the file) named by ``X-Filename`` or
    ``?filename=``. The byte cap is :class:`BodyLimitMiddleware`'s.
    """
    target = workdir / "upload"
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        try:
            form = await asyncio.wait_for(request.form(max_files=1, max_fields=20), total)
        except TimeoutError:
            raise UploadTimeout(f"upload took longer than {total:g} s") from None
        upload = form.get(file_field)
        if not isinstance(upload, UploadFile):
            raise InvalidInput.about(
                f"multipart upload needs a file field named {file_field!r}", column=file_field
            )
        with target.open("wb") as out:
            while chunk := await upload.read(1 << 20):
                out.write(chunk)
        fields = {k: v for k, v in form.items() if isinstance(v, str)}
        return Upload(target, upload.filename or "submission.csv", fields)
    with target.open("wb") as out:
        async for chunk in _chunks_with_deadlines(request.stream(), idle, total):
            out.write(chunk)
    name = request.headers.get("x-filename") or request.query_params.get("filename")
    return Upload(target, name or "submission.csv", dict(request.query_params))


@asynccontextmanager
async def upload_slot(request: Request) -> AsyncIterator[Path]:
    """Wait for one of the server's validation slots, then a spool folder for the upload.

    Taken before the body is read: a burst of uploads waits its turn (TCP holds the
    bodies back) instead of all arriving at once; a slot that stays busy past
    ``upload_wait_seconds`` answers 429 with a retry time.
    """
    settings: Settings = request.app.state.settings
    slots: asyncio.Semaphore = request.app.state.upload_slots
    try:
        await asyncio.wait_for(slots.acquire(), settings.upload_wait_seconds)
    except TimeoutError:
        raise LimitExceeded(
            "the server is busy validating other uploads; try again in a minute",
            retry_after=60,
        ) from None
    try:
        with tempfile.TemporaryDirectory(prefix="geoarena-upload-", dir=settings.spool_dir) as tmp:
            yield Path(tmp)
    finally:
        slots.release()


async def receive_submission(
    request: Request,
    db: Database,
    settings: Settings,
    *,
    principal: Principal,
    slug: str,
    phase: str | None,
    verify: Callable[[dict[str, str]], None] | None = None,
) -> SubmissionView:
    """An upload's way in: refused early when the commit would refuse it, then one
    validation slot, the body spooled to disk, validated in the server's pool and stored.

    An organizer's upload is a baseline named by a ``label`` (or ``baseline_label``) field
    or query parameter. ``verify`` sees the form's other fields before anything is
    validated or stored (the pages check their CSRF token there)."""
    query = request.query_params
    label = (query.get("label") or query.get("baseline_label")) if principal.is_organizer else None
    phase = phase or query.get("phase")
    await run_in_threadpool(
        submissions.check_admission,
        db,
        principal=principal,
        slug=slug,
        phase=phase,
        baseline_label=label or ("(label)" if principal.is_organizer else None),
    )
    async with upload_slot(request) as workdir:
        upload = await receive_upload(
            request, workdir, idle=settings.body_idle_seconds, total=settings.body_total_seconds
        )
        if verify is not None:
            verify(upload.fields)
        if principal.is_organizer:
            label = label or upload.fields.get("label") or upload.fields.get("baseline_label")
            if not label:
                raise InvalidInput.about("a baseline needs a label", column="label")
        return await run_in_threadpool(
            submissions.submit,
            db,
            principal=principal,
            slug=slug,
            data=upload.path,
            filename=upload.filename,
            phase=phase or upload.fields.get("phase"),
            description=upload.fields.get("description", ""),
            baseline_label=label,
            settings=settings,
            validator=request.app.state.validator,
        )


#: how a CSV download is declared: the file on success, the JSON error body otherwise.
CSV_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "the board as a CSV file",
        "content": {"text/csv": {"schema": {"type": "string"}}},
    }
}


def csv_download(content: str | bytes, filename: str) -> Response:
    """A CSV file that browsers save under ``filename`` (any characters, RFC 5987)."""
    return Response(
        content,
        media_type="text/csv",
        headers={"Content-Disposition": f"attachment; filename*=UTF-8''{quote(filename, safe='')}"},
    )


def board_download(board: Board) -> Response:
    """A board as a CSV file that browsers save (``<challenge>-<phase>-<split>.csv``)."""
    return csv_download(board_csv(board), f"{board.challenge}-{board.phase}-{board.split}.csv")
