"""Content-addressed, immutable file storage inside the database.

A file is stored once under its sha256, whatever name it was uploaded with, and is never
rewritten: the same bytes map to the same row, so storing twice is a no-op, also when two
uploads of the same new bytes race (``INSERT ... ON CONFLICT DO NOTHING``).
"""

from __future__ import annotations

import hashlib
import zlib

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from geoarena.leaderboard.schema import Blob, utcnow
from geoarena.leaderboard.validation import StoredFile


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _insert(session: Session, digest: str, size: int, compression: str, data: bytes) -> None:
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    row = {
        "sha256": digest,
        "size": size,
        "compression": compression,
        "data": data,
        "created_at": utcnow(),
    }
    session.execute(insert(Blob).values(**row).on_conflict_do_nothing(index_elements=["sha256"]))


def put_blob(session: Session, data: bytes) -> str:
    """Store ``data`` (compressed when that helps) and return its sha256."""
    digest = sha256(data)
    if session.get(Blob, digest) is None:
        packed = zlib.compress(data, 1)
        if len(packed) < len(data):
            _insert(session, digest, len(data), "zlib", packed)
        else:
            _insert(session, digest, len(data), "none", data)
    return digest


def put_file(session: Session, stored: StoredFile) -> str:
    """Store a file prepared by validation (already hashed and compressed) and return its
    sha256; only the stored form is read into memory."""
    if session.get(Blob, stored.sha256) is None:
        _insert(session, stored.sha256, stored.size, stored.compression, stored.path.read_bytes())
    return stored.sha256


def get_blob(session: Session, digest: str) -> bytes:
    """The stored bytes of ``digest``, checked against the hash they were stored under."""
    row = session.execute(select(Blob).where(Blob.sha256 == digest)).scalar_one()
    data = zlib.decompress(row.data) if row.compression == "zlib" else bytes(row.data)
    if sha256(data) != digest:
        raise RuntimeError(f"stored file {digest} is corrupt")
    return data
