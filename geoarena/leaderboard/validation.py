"""Synchronous validation of an uploaded prediction CSV, before anything is stored.

The evaluator's reader checks the header, every WKT and the vertex limit; this module adds
what only the leaderboard knows (the phase's ImageIds), what the reader does not look at
(byte-level problems: empty, binary, not UTF-8, gzip bombs) and duplicate rows. Every
problem becomes a ``RowError(file, line, column, reason)``.
"""

from __future__ import annotations

import csv
import gzip
import io
import zlib
from collections.abc import Collection

from geoarena.evaluator import InputError, RowError


class Rejection(Exception):
    """A rejected upload: the first ``errors`` and the ``total`` number of problems."""

    def __init__(self, errors: list[RowError], total: int) -> None:
        self.errors = errors
        self.total = total
        super().__init__(str(self))

    def __str__(self) -> str:
        lines = [str(e) for e in self.errors]
        if self.total > len(self.errors):
            lines.append(f"... and {self.total - len(self.errors)} more")
        return "\n".join(lines)


def _whole_file(name: str, reason: str) -> list[RowError]:
    return [RowError(file=name, line=0, column="", reason=reason)]


def allow_long_fields() -> None:
    """A polygon with thousands of vertices is one CSV field far above the csv module's
    default 128 KiB limit; the upload size cap is the real bound."""
    if csv.field_size_limit() < 2**30:
        csv.field_size_limit(2**30)


#: byte-order marks of encodings that are not UTF-8.
FOREIGN_BOMS = {b"\xff\xfe\x00\x00": "UTF-32", b"\xff\xfe": "UTF-16", b"\xfe\xff": "UTF-16"}


def decode(data: bytes, name: str, max_bytes: int) -> tuple[bytes, list[RowError]]:
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
        return b"", [RowError(name, line, "", "binary data (NUL byte): expected a UTF-8 CSV")]
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        byte = data[exc.start]
        reason = f"not UTF-8: byte 0x{byte:02x} cannot be decoded; save the file as UTF-8"
        return b"", [RowError(name, line, "", reason)]
    return data, []


def row_checks(data: bytes, name: str, image_ids: Collection[str]) -> list[RowError]:
    """Unknown ImageIds and duplicate (ImageId, BuildingId) rows, with their lines."""
    allow_long_fields()
    reader = csv.reader(io.StringIO(data.decode("utf-8-sig"), newline=""))
    try:
        return _row_checks(reader, name, image_ids)
    except csv.Error as exc:
        return [RowError(name, reader.line_num, "", f"malformed CSV: {exc}")]


def _row_checks(reader, name: str, image_ids: Collection[str]) -> list[RowError]:
    header = next(reader, None)
    if not header:
        return []
    columns = {c.strip(): i for i, c in enumerate(header)}
    if "ImageId" not in columns or "BuildingId" not in columns:
        return []  # the evaluator's reader reports the bad header
    image_col, building_col = columns["ImageId"], columns["BuildingId"]
    errors: list[RowError] = []
    seen: dict[tuple[str, str], int] = {}
    for row in reader:
        if len(row) <= max(image_col, building_col):
            continue  # short rows are the reader's to report
        line = reader.line_num
        image, building = row[image_col].strip(), row[building_col].strip()
        if image not in image_ids:
            errors.append(
                RowError(name, line, "ImageId", f"ImageId {image!r} is not in this phase")
            )
        first = seen.setdefault((image, building), line)
        if first != line:
            reason = (
                f"duplicate row: ImageId {image!r} BuildingId {building} already on line {first}"
            )
            errors.append(RowError(name, line, "BuildingId", reason))
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
    """The plain CSV bytes of an acceptable upload; raises :class:`Rejection` otherwise."""
    from geoarena.evaluator import read_proposals

    plain, errors = decode(data, name, max_bytes)
    if not errors:
        try:
            read_proposals(plain, name=name, on_error="raise", max_vertices=max_vertices)
        except InputError as exc:
            errors.extend(exc.errors)
            extra = exc.total - len(exc.errors)
        else:
            extra = 0
        errors.extend(row_checks(plain, name, image_ids))
        unique = sorted(set(errors), key=lambda e: (e.line, e.column, e.reason))
        if unique:
            raise Rejection(errors=unique[:max_errors], total=len(unique) + extra)
        return plain
    raise Rejection(errors=errors[:max_errors], total=len(errors))
