"""Read and validate SpaceNet CSVs into :class:`PolygonTable` columns.

Two readers share one validator. The fast path hands the bytes to Arrow's multi-threaded
CSV parser and maps row ``i`` to line ``i + 2``; that mapping is only true for a clean file,
so anything unusual (blank lines, quoted newlines, ragged rows) makes Arrow fail and the
exact path, Python's csv module with line tracking, takes over to name the bad line.
WKT is parsed in bulk by shapely; every check after parsing is vectorized.
"""

from __future__ import annotations

import csv
import gzip
import io
import os
import zlib
from pathlib import Path
from typing import Any, BinaryIO, TypeAlias

import numpy as np
import pyarrow as pa
from pyarrow import csv as pacsv

from geoarena.errors import Problem

from .arrays import IntArray, ObjectArray, object_array
from .arrow_columns import any_empty, decode_strings, dictionary_encode, take_arrow, take_values
from .errors import InputError
from .table import (
    DEFAULT_MAX_VERTICES,
    OnError,
    PolygonTable,
    Text,
    build_table,
    require_rows,
    strip_all,
)
from .vectors import is_vector_file

#: where a CSV can come from: a path, its bytes, or a binary file object.
Source = str | os.PathLike[str] | bytes | BinaryIO
#: a column as read: strings in an object array, or Arrow's (``read_arrow_columns``).
Column: TypeAlias = "ObjectArray | pa.ChunkedArray[Any]"

REQUIRED = ("ImageId", "BuildingId", "PolygonWKT_Pix")
OPTIONAL = ("Confidence",)

#: largest CSV accepted, in bytes, before or after gunzipping: 50 times the 21 MB truth
#: file of 1,000 tiles of 100 buildings, and where a gzip bomb (a few MB that would inflate
#: to terabytes) stops instead of exhausting memory. ``max_bytes=`` / ``--max-bytes``.
DEFAULT_MAX_BYTES = 1 << 30
#: gunzip in pieces of this size, so the size limit is checked as the data grows.
_GUNZIP_CHUNK = 1 << 20


def read_truth(
    source: Source,
    *,
    name: str | None = None,
    on_error: OnError = "raise",
    max_vertices: int = DEFAULT_MAX_VERTICES,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> PolygonTable:
    r"""Read a truth CSV (``ImageId,BuildingId,PolygonWKT_Pix[,PolygonWKT_Geo]``).

    Parameters
    ----------
    source : path, bytes or binary file object; gzip'd content is detected and accepted.
    name : label used in error messages (defaults to the path).
    on_error : "raise" raises :class:`InputError` listing every bad row; "skip" drops bad
        rows and lists them in ``table.skipped``.
    max_vertices : geometries with more vertices are rejected.
    max_bytes : a file larger than this, before or after gunzipping, is rejected.

    Examples
    --------
    >>> table = read_truth(b"ImageId,BuildingId,PolygonWKT_Pix\nimg1,-1,POLYGON EMPTY\n")
    >>> table.image_ids, table.building_id.tolist()
    (['img1'], [-1])
    >>> read_truth(b"\x1f\x8b\x08\x00 not really gzip", name="t.csv.gz")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    geoarena.evaluator.errors.InputError: t.csv.gz: corrupt gzip data: ...
    """
    return _read(
        source,
        name=name,
        on_error=on_error,
        max_vertices=max_vertices,
        max_bytes=max_bytes,
        header_only_ok=False,
    )


def read_proposals(
    source: Source,
    *,
    name: str | None = None,
    on_error: OnError = "raise",
    max_vertices: int = DEFAULT_MAX_VERTICES,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> PolygonTable:
    """Read a proposal CSV (``ImageId,BuildingId,PolygonWKT_Pix[,Confidence]``).

    Same parameters as :func:`read_truth`; ``Confidence`` is optional (without it the
    presets that sort by confidence fall back to file order). A header with no rows is a
    valid empty submission (every truth is then a false negative).
    """
    return _read(
        source,
        name=name,
        on_error=on_error,
        max_vertices=max_vertices,
        max_bytes=max_bytes,
        header_only_ok=True,
    )


def _read(
    source: Source,
    *,
    name: str | None,
    on_error: OnError,
    max_vertices: int,
    max_bytes: int,
    header_only_ok: bool,
) -> PolygonTable:
    if on_error not in ("raise", "skip"):
        raise ValueError(f"on_error must be 'raise' or 'skip', not {on_error!r}")
    if isinstance(source, str | os.PathLike) and is_vector_file(source):
        reason = "a GIS vector file, not a SpaceNet CSV: read it with read_georeferenced()"
        raise InputError([Problem(name or str(source), 0, "", reason)])
    data, label = load_bytes(source, name, max_bytes)
    header, header_line = read_header(data, label)
    columns, lines, errors = read_arrow_columns(data, header, header_line, label)
    table = build_table(
        table_fields(columns, None),
        lines,
        name=label,
        on_error=on_error,
        max_vertices=max_vertices,
        errors=errors,
        allow_empty=True,
    )
    require_rows(label, len(table), table.skipped, header_only_ok=header_only_ok)
    return table


def load_bytes(
    source: Source, name: str | None, max_bytes: int = DEFAULT_MAX_BYTES
) -> tuple[bytes, str]:
    """The file's bytes, gunzipped when they start with the gzip magic number, and its label.

    Every way a file can be unusable as bytes (unreadable, too large, corrupt gzip, empty,
    not UTF-8) is an :class:`InputError` naming the file.
    """
    if isinstance(source, bytes | bytearray | memoryview):
        data, label = bytes(source[: max_bytes + 1]), name or "<bytes>"
    elif isinstance(source, str | os.PathLike):
        path = Path(source)
        label = name or str(path)
        try:
            with path.open("rb") as file:
                data = file.read(max_bytes + 1)
        except OSError as exc:
            raise InputError([Problem(label, 0, "", f"cannot read file: {exc.strerror}")]) from None
    else:
        data, label = source.read(max_bytes + 1), name or str(getattr(source, "name", "<stream>"))
    if len(data) > max_bytes:
        raise InputError([Problem(label, 0, "", f"file exceeds the limit of {max_bytes} bytes")])
    if data[:2] == b"\x1f\x8b":
        data = _gunzip(data, label, max_bytes)
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    if not data or data.isspace():  # (strip would copy the whole file)
        raise InputError([Problem(label, 1, "", "file is empty")])
    if not data.isascii():  # ASCII is UTF-8: most files need no decoding to check
        _check_utf8(data, label)
    return data, label


def _check_utf8(data: bytes, label: str) -> None:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        byte = data[exc.start]
        raise InputError(
            [Problem(label, line, "", f"not UTF-8 text (byte 0x{byte:02x}); is this a CSV?")]
        ) from None


def _gunzip(data: bytes, label: str, max_bytes: int) -> bytes:
    """Decompress every gzip member, stopping as soon as the output passes ``max_bytes``."""
    pieces: list[bytes] = []
    size = 0
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as file:
            while piece := file.read(_GUNZIP_CHUNK):
                size += len(piece)
                if size > max_bytes:
                    reason = f"gzip data decompresses to more than the limit of {max_bytes} bytes"
                    raise InputError([Problem(label, 0, "", reason)])
                pieces.append(piece)
    # what zlib and gzip raise on bad data: BadGzipFile (an OSError) for a bad header, CRC
    # or trailing garbage, EOFError for a truncated stream, zlib.error for a bad deflate block
    except (OSError, EOFError, zlib.error) as exc:
        raise InputError([Problem(label, 0, "", f"corrupt gzip data: {exc}")]) from None
    return b"".join(pieces)


def read_header(data: bytes, label: str) -> tuple[list[str], int]:
    """The header's column names; checks that the required columns are present."""
    # a slice up to the first newline (split would copy the rest of the file too)
    end = data.find(b"\n")
    first = data[: end if end >= 0 else len(data)].decode("utf-8").rstrip("\r")
    try:
        header = next(csv.reader([first]))
    except csv.Error as exc:
        raise InputError([Problem(label, 1, "", f"unreadable header: {exc}")]) from None
    header = [h.strip() for h in header]
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        hints = []
        for col in missing:
            near = [h for h in header if h.lower() == col.lower()]
            hints.append(
                f"{col!r} (found {near[0]!r}: names are case-sensitive)" if near else repr(col)
            )
        raise InputError(
            [
                Problem(
                    label,
                    1,
                    "",
                    f"missing column {', '.join(hints)}; header is {','.join(header)!r}",
                )
            ]
        )
    dup = sorted({h for h in header if header.count(h) > 1 and h in REQUIRED + OPTIONAL})
    if dup:
        raise InputError([Problem(label, 1, "", f"column {dup[0]!r} appears twice in the header")])
    return header, 1


def read_columns(
    data: bytes, header: list[str], header_line: int, label: str
) -> tuple[dict[str, ObjectArray], IntArray, list[Problem]]:
    """Wanted columns as object arrays of str, the line of each row, and ragged-row errors."""
    columns, lines, errors = _read_columns(data, header, header_line, label, arrow=False)
    return {c: take_rows(v, None) for c, v in columns.items()}, lines, errors


def read_arrow_columns(
    data: bytes, header: list[str], header_line: int, label: str
) -> tuple[dict[str, Column], IntArray, list[Problem]]:
    """As :func:`read_columns`, but a clean file's columns stay Arrow arrays: no Python
    object per field, so forked workers share them without copying pages (a string's
    reference count is written whenever it is touched); :func:`take_rows` converts a part."""
    return _read_columns(data, header, header_line, label, arrow=True)


def _read_columns(
    data: bytes, header: list[str], header_line: int, label: str, *, arrow: bool
) -> tuple[dict[str, Column], IntArray, list[Problem]]:
    wanted = [c for c in REQUIRED + OPTIONAL if c in header]
    # a lone CR is a line break for csv, not for Arrow (most files hold no CR at all: one
    # fast scan settles it)
    if b"\r" in data and data.count(b"\r") != data.count(b"\r\n"):
        return _columns_python(data, header, wanted, label)
    try:
        read = _arrow_columns(data, header, wanted)
    except Exception:  # any Arrow failure means "not a clean file": go exact
        return _columns_python(data, header, wanted, label)
    # Arrow's allocator (mimalloc) keeps the freed copy of the file and the parser's
    # blocks, ~1.2x the file: give them back before the scoring allocates its own
    pa.default_memory_pool().release_unused()
    # Arrow reads a blank line as a row of empty fields, and then row i is not line i + 2:
    # an empty ImageId (a blank line, or a bad row) sends the file to the exact reader.
    # Looking at the column's offsets is ~20x faster than searching the bytes for "\n\n"
    if any_empty(read["ImageId"]):
        return _columns_python(data, header, wanted, label)
    columns: dict[str, Column] = (
        dict(read) if arrow else {c: take_rows(v, None) for c, v in read.items()}
    )
    n = len(columns["ImageId"])
    n_lines = data.count(b"\n") + (not data.endswith(b"\n"))
    if n_lines != header_line + n:  # quoted newlines: row i is not line i + 2
        return _columns_python(data, header, wanted, label)
    return columns, np.arange(header_line + 1, header_line + 1 + n, dtype=np.int64), []


#: most bytes of WKT handed to the reader as one Arrow string array: its offsets are
#: 32-bit, so a larger column (a file over ``--max-bytes``'s default) goes as Python strings
ARROW_TEXT_MAX_BYTES = (1 << 31) - 1


def table_fields(columns: dict[str, Column], rows: IntArray | None) -> dict[str, Text]:
    """What ``build_table`` takes of these rows (all of them for None) of read columns:
    the ImageIds as Python strings (one object per distinct id), and the other fields as
    Arrow strings when Arrow read the file: its cast and the WKT reader need no Python
    string per row. A WKT column over 2 GiB goes as Python strings, with the others."""
    wkt = columns["PolygonWKT_Pix"]
    if isinstance(wkt, np.ndarray) or wkt.nbytes > ARROW_TEXT_MAX_BYTES:
        return {c: take_rows(v, rows) for c, v in columns.items()}
    fields: dict[str, Text] = {
        c: take_rows(v, rows) if isinstance(v, np.ndarray) else take_arrow(v, rows)
        for c, v in columns.items()
        if c != "ImageId"
    }
    ids = columns["ImageId"]
    fields["ImageId"] = image_ids(ids) if rows is None else take_rows(ids, rows)
    return fields


def image_ids(column: Column) -> ObjectArray:
    """A column's ImageIds, stripped, as Python strings: from Arrow, only its distinct
    ids become strings (dictionary-encoded first: ~4 ms for 100k rows where a string per
    row took ~14)."""
    if isinstance(column, np.ndarray):
        return strip_all(column)
    return decode_strings(dictionary_encode(column), strip=True)


def take_rows(column: Column, rows: IntArray | None) -> ObjectArray:
    """Rows of a column (all of them for None) as an object array of str (``to_pylist``:
    Arrow's ``to_numpy`` of strings imports pandas, ~0.3 s)."""
    if isinstance(column, np.ndarray):
        return column if rows is None else column[rows]
    return object_array(column.to_pylist()) if rows is None else take_values(column, rows)


def _arrow_columns(
    data: bytes, header: list[str], wanted: list[str]
) -> dict[str, pa.ChunkedArray[Any]]:
    table = pacsv.read_csv(
        # pyarrow-stubs list only paths and IO here; read_csv takes any NativeFile
        pa.BufferReader(_arrow_copy(data)),  # type: ignore[arg-type]
        read_options=pacsv.ReadOptions(use_threads=True, block_size=1 << 22),
        parse_options=pacsv.ParseOptions(newlines_in_values=False, ignore_empty_lines=False),
        convert_options=pacsv.ConvertOptions(
            column_types={c: pa.string() for c in header},
            include_columns=wanted,
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        ),
    )
    if table.column_names != wanted:
        raise ValueError("header mismatch")
    return {c: table.column(c) for c in wanted}


def _arrow_copy(data: bytes) -> pa.Buffer:
    """The bytes copied into memory that Arrow owns.

    Arrow's worker threads drop the reader's input after ``read_csv`` has returned. If the
    input is a Python object (``bytes``, ``BytesIO``), dropping it needs the GIL, and a
    worker that asks for it while the interpreter exits aborts the process ("terminate
    called without an active exception"): ``geoarena score`` died that way in 3 of 100
    runs that rejected the second file right after reading the first.
    """
    stream = pa.BufferOutputStream()
    stream.write(data)
    return stream.getvalue()


def _columns_python(
    data: bytes, header: list[str], wanted: list[str], label: str
) -> tuple[dict[str, Column], IntArray, list[Problem]]:
    text = data.decode("utf-8")
    # a polygon under the vertex cap can exceed csv's default 128 KB field limit
    csv.field_size_limit(max(csv.field_size_limit(), len(text)))
    reader = csv.reader(io.StringIO(text, newline=""))
    index = [header.index(c) for c in wanted]
    rows: list[list[str]] = []
    lines: list[int] = []
    errors: list[Problem] = []
    start = 1
    try:
        next(reader)
        start = reader.line_num + 1
        for row in reader:
            if not row or (len(row) == 1 and not row[0].strip()):
                start = reader.line_num + 1
                continue  # blank line
            if len(row) != len(header):
                errors.append(
                    Problem(label, start, "", f"expected {len(header)} fields, found {len(row)}")
                )
            else:
                rows.append([row[i] for i in index])
                lines.append(start)
            start = reader.line_num + 1
    except csv.Error as exc:
        errors.append(Problem(label, start, "", f"malformed CSV: {exc}"))
    columns: dict[str, Column] = {
        c: object_array([r[k] for r in rows]) for k, c in enumerate(wanted)
    }
    return columns, np.asarray(lines, dtype=np.int64), errors
