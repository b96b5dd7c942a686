"""Files in and out of the API: uploads read from a request (capped while they stream),
and CSV downloads.

Two encodings are accepted: ``multipart/form-data`` with a ``file`` field (browsers, curl
-F) and a raw body of any other type with the name in ``X-Filename`` or ``?filename=``
(the CLI, which streams the file and shows a progress bar). The byte cap is enforced by
:class:`BodyLimitMiddleware` on the ASGI ``receive`` channel, so an oversized body is cut
off after ``max_upload_bytes`` bytes whatever its encoding or Content-Length claims.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import PlainTextResponse
from starlette.datastructures import UploadFile
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from geoarena.errors import InvalidInput
from geoarena.leaderboard.boards import Board
from geoarena.leaderboard.report import board_csv

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
    data: bytes
    filename: str
    fields: dict[str, str] = field(default_factory=dict)


async def read_upload(request: Request, file_field: str = "file") -> Upload:
    """The uploaded bytes, its display name and the other form fields."""
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        form = await request.form(max_files=1, max_fields=20)
        upload = form.get(file_field)
        if not isinstance(upload, UploadFile):
            raise InvalidInput.about(
                f"multipart upload needs a file field named {file_field!r}", column=file_field
            )
        data = await upload.read()
        fields = {k: v for k, v in form.items() if isinstance(v, str)}
        return Upload(data, upload.filename or "submission.csv", fields)
    data = await request.body()
    name = request.headers.get("x-filename") or request.query_params.get("filename")
    return Upload(data, name or "submission.csv", dict(request.query_params))


def board_download(board: Board) -> PlainTextResponse:
    """A board as a CSV file that browsers save (``<challenge>-<phase>-<split>.csv``)."""
    filename = quote(f"{board.challenge}-{board.phase}-{board.split}.csv", safe="")
    return PlainTextResponse(
        board_csv(board),
        media_type="text/csv",
        headers={"Content-Disposition": f"attachment; filename*=UTF-8''{filename}"},
    )
