"""Synchronous validation of an uploaded prediction CSV, before anything is stored.

The evaluator's reader checks the header, every WKT and the vertex limit; this module adds
what only the leaderboard knows (the phase's ImageIds), what the reader does not look at
(byte-level problems: empty, binary, not UTF-8, gzip bombs) and duplicate rows. Every
problem becomes a ``Problem(file, line, column, reason)``.
"""

from __future__ import annotations

import gzip
import io
import zlib
from collections.abc import Collection
from typing import Any

import numpy as np

from geoarena.errors import Problem
from geoarena.evaluator import InputError


def _whole_file(name: str, reason: str) -> list[Problem]:
    return [Problem(file=name, line=0, column="", reason=reason)]


#: byte-order marks of encodings that are not UTF-8.
FOREIGN_BOMS = {b"\xff\xfe\x00\x00": "UTF-32", b"\xff\xfe": "UTF-16", b"\xfe\xff": "UTF-16"}


def decode(data: bytes, name: str, max_bytes: int) -> tuple[bytes, list[Problem]]:
    """Plain CSV bytes (gunzipped when needed) and byte-level errors, if any."""
    if data[:2] == b"\x1f\x8b":
        try:
            with gzip.GzipFile(fileobj=io.BytesIO(data)) as handle:
                data = handle.read(max_bytes + 1)
        except (OSError, EOFError, zlib.error) as exc:
            return b"", _whole_file(name, f"not a valid gzip file ({exc})")
        if len(data) > max_bytes:
            return b"", _whole_file(name, f"decompressed size exceeds the {max_bytes} byte limit")
    if not data.strip():
        return b"", _whole_file(name, "file is empty")
    for bom, encoding in FOREIGN_BOMS.items():
        if data.startswith(bom):
            return b"", _whole_file(name, f"file is {encoding}-encoded; save it as UTF-8")
    if b"\x00" in data:
        line = data[: data.index(b"\x00")].count(b"\n") + 1
        return b"", [Problem(name, line, "", "binary data (NUL byte): expected a UTF-8 CSV")]
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        byte = data[exc.start]
        reason = f"not UTF-8: byte 0x{byte:02x} cannot be decoded; save the file as UTF-8"
        return b"", [Problem(name, line, "", reason)]
    return data, []


def table_checks(table: Any, image_ids: Collection[str]) -> list[Problem]:
    """Unknown ImageIds and duplicate (ImageId, BuildingId) rows of a parsed table."""
    errors: list[Problem] = []
    known = np.isin(table.image_id, np.asarray(list(image_ids), dtype=object))
    for k in np.flatnonzero(~known):
        reason = f"ImageId {table.image_id[k]!r} is not in this phase"
        errors.append(Problem(table.name, int(table.line[k]), "ImageId", reason))
    seen: dict[tuple[str, int], int] = {}
    for image, building, line in zip(
        table.image_id.tolist(), table.building_id.tolist(), table.line.tolist(), strict=True
    ):
        first = seen.setdefault((image, building), line)
        if first != line:
            reason = (
                f"duplicate row: ImageId {image!r} BuildingId {building} already on line {first}"
            )
            errors.append(Problem(table.name, line, "BuildingId", reason))
    return errors


def validate_upload(
    data: bytes,
    *,
    name: str,
    image_ids: Collection[str],
    max_bytes: int,
    max_vertices: int,
    max_errors: int = 50,
) -> bytes:
    """The plain CSV bytes of an acceptable upload; raises :class:`InputError` otherwise."""
    from geoarena.evaluator import read_proposals

    plain, errors = decode(data, name, max_bytes)
    extra = 0
    if not errors:
        try:
            table = read_proposals(plain, name=name, on_error="skip", max_vertices=max_vertices)
        except InputError as exc:  # the whole file is unusable (header, no good row)
            errors.extend(exc.problems)
            extra = exc.total - len(exc.problems)
        else:
            errors.extend(table.skipped)
            errors.extend(table_checks(table, image_ids))
    if errors:
        ordered = sorted(set(errors), key=lambda e: (e.line, e.column, e.reason))
        raise InputError(ordered[:max_errors], total=len(ordered) + extra)
    return plain
