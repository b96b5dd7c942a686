"""Content-addressed, immutable file storage inside the database.

A file is stored once under its sha256, whatever name it was uploaded with, and is never
rewritten: the same bytes map to the same row, so storing twice is a no-op.
"""

from __future__ import annotations

import hashlib
import zlib

from sqlalchemy import select
from sqlalchemy.orm import Session

from geoarena.leaderboard.schema import Blob


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def put_blob(session: Session, data: bytes) -> str:
    """Store ``data`` (compressed when that helps) and return its sha256."""
    digest = sha256(data)
    if session.get(Blob, digest) is None:
        packed = zlib.compress(data, 1)
        compression = "zlib" if len(packed) < len(data) else "none"
        session.add(
            Blob(
                sha256=digest,
                size=len(data),
                compression=compression,
                data=packed if compression == "zlib" else data,
            )
        )
        session.flush()
    return digest


def get_blob(session: Session, digest: str) -> bytes:
    """The stored bytes of ``digest``, checked against the hash they were stored under."""
    row = session.execute(select(Blob).where(Blob.sha256 == digest)).scalar_one()
    data = zlib.decompress(row.data) if row.compression == "zlib" else bytes(row.data)
    if sha256(data) != digest:
        raise RuntimeError(f"stored file {digest} is corrupt")
    return data
