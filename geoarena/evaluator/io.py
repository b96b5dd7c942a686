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
import warnings
from pathlib import Path
from typing import BinaryIO, Literal

import numpy as np
import shapely

from .errors import InputError, RowError
from .table import PolygonTable

Source = str | os.PathLike | bytes | BinaryIO
OnError = Literal["raise", "skip"]

#: per-geometry vertex cap: SpaceNet labels have at most a few hundred vertices, and a
#: polygon with millions of them is a denial-of-service, not a building.
DEFAULT_MAX_VERTICES = 20_000
#: how many row errors an InputError keeps (the total is always counted).
MAX_KEPT_ERRORS = 1_000

REQUIRED = ("ImageId", "BuildingId", "PolygonWKT_Pix")
OPTIONAL = ("Confidence",)
_POLYGON, _MULTIPOLYGON = 3, 6
_TYPE_NAMES = {
    0: "POINT",
    1: "LINESTRING",
    2: "LINEARRING",
    4: "MULTIPOINT",
    5: "MULTILINESTRING",
    7: "GEOMETRYCOLLECTION",
}


def read_truth(
    source: Source,
    *,
    name: str | None = None,
    on_error: OnError = "raise",
    max_vertices: int = DEFAULT_MAX_VERTICES,
) -> PolygonTable:
    """Read a truth CSV (``ImageId,BuildingId,PolygonWKT_Pix[,PolygonWKT_Geo]``).

    Parameters
    ----------
    source : path, bytes or binary file object; gzip'd content is detected and accepted.
    name : label used in error messages (defaults to the path).
    on_error : "raise" raises :class:`InputError` listing every bad row; "skip" drops bad
        rows and lists them in ``table.skipped``.
    max_vertices : geometries with more vertices are rejected.
    """
    return _read(source, name=name, on_error=on_error, max_vertices=max_vertices)


def read_proposals(
    source: Source,
    *,
    name: str | None = None,
    on_error: OnError = "raise",
    max_vertices: int = DEFAULT_MAX_VERTICES,
) -> PolygonTable:
    """Read a proposal CSV (``ImageId,BuildingId,PolygonWKT_Pix[,Confidence]``).

    Same parameters as :func:`read_truth`; ``Confidence`` is optional (without it the
    presets that sort by confidence fall back to file order).
    """
    return _read(source, name=name, on_error=on_error, max_vertices=max_vertices)


def _read(source: Source, *, name: str | None, on_error: OnError, max_vertices: int):
    if on_error not in ("raise", "skip"):
        raise ValueError(f"on_error must be 'raise' or 'skip', not {on_error!r}")
    data, label = _load_bytes(source, name)
    header, header_line = _header(data, label)
    columns, lines, errors = _columns(data, header, header_line, label)
    return build_table(
        columns,
        lines,
        name=label,
        on_error=on_error,
        max_vertices=max_vertices,
        errors=errors,
    )


def _load_bytes(source: Source, name: str | None) -> tuple[bytes, str]:
    """The file's bytes, gunzipped when they start with the gzip magic number."""
    if isinstance(source, bytes | bytearray | memoryview):
        data, label = bytes(source), name or "<bytes>"
    elif isinstance(source, str | os.PathLike):
        path = Path(source)
        label = name or str(path)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise InputError(
                [RowError(label, 0, "", f"cannot read file: {exc.strerror}")]
            ) from None
    else:
        data, label = source.read(), name or getattr(source, "name", "<stream>")
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as exc:
            raise InputError([RowError(label, 0, "", f"corrupt gzip data: {exc}")]) from None
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    if not data.strip():
        raise InputError([RowError(label, 1, "", "file is empty")])
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        byte = data[exc.start]
        raise InputError(
            [RowError(label, line, "", f"not UTF-8 text (byte 0x{byte:02x}); is this a CSV?")]
        ) from None
    return data, label


def _header(data: bytes, label: str) -> tuple[list[str], int]:
    """The header's column names; checks that the required columns are present."""
    first = data.split(b"\n", 1)[0].decode("utf-8").rstrip("\r")
    try:
        header = next(csv.reader([first]))
    except csv.Error as exc:
        raise InputError([RowError(label, 1, "", f"unreadable header: {exc}")]) from None
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
                RowError(
                    label,
                    1,
                    "",
                    f"missing column {', '.join(hints)}; header is {','.join(header)!r}",
                )
            ]
        )
    dup = sorted({h for h in header if header.count(h) > 1 and h in REQUIRED + OPTIONAL})
    if dup:
        raise InputError([RowError(label, 1, "", f"column {dup[0]!r} appears twice in the header")])
    return header, 1


def _columns(
    data: bytes, header: list[str], header_line: int, label: str
) -> tuple[dict[str, np.ndarray], np.ndarray, list[RowError]]:
    """Wanted columns as object arrays of str, the line of each row, and ragged-row errors."""
    wanted = [c for c in REQUIRED + OPTIONAL if c in header]
    blank_line = b"\n\n" in data or b"\n\r\n" in data
    lone_cr = data.count(b"\r") != data.count(b"\r\n")  # a line break for csv, not Arrow
    if blank_line or lone_cr:  # Arrow's row i would not be line i + 2
        return _columns_python(data, header, wanted, label)
    try:
        columns = _columns_arrow(data, header, wanted)
    except Exception:  # any Arrow failure means "not a clean file": go exact
        return _columns_python(data, header, wanted, label)
    n = len(columns["ImageId"])
    n_lines = data.count(b"\n") + (not data.endswith(b"\n"))
    if n_lines != header_line + n:  # quoted newlines: row i is not line i + 2
        return _columns_python(data, header, wanted, label)
    return columns, np.arange(header_line + 1, header_line + 1 + n, dtype=np.int64), []


def _columns_arrow(data: bytes, header: list[str], wanted: list[str]) -> dict[str, np.ndarray]:
    import pyarrow as pa
    from pyarrow import csv as pacsv

    table = pacsv.read_csv(
        pa.py_buffer(data),
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
    # to_pylist, not to_numpy: Arrow's numpy conversion imports pandas (~0.3 s per run)
    return {c: _objects(table.column(c).to_pylist()) for c in wanted}


def _columns_python(
    data: bytes, header: list[str], wanted: list[str], label: str
) -> tuple[dict[str, np.ndarray], np.ndarray, list[RowError]]:
    text = data.decode("utf-8")
    # a polygon under the vertex cap can exceed csv's default 128 KB field limit
    csv.field_size_limit(max(csv.field_size_limit(), len(text)))
    reader = csv.reader(io.StringIO(text, newline=""))
    index = [header.index(c) for c in wanted]
    rows: list[list[str]] = []
    lines: list[int] = []
    errors: list[RowError] = []
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
                    RowError(label, start, "", f"expected {len(header)} fields, found {len(row)}")
                )
            else:
                rows.append([row[i] for i in index])
                lines.append(start)
            start = reader.line_num + 1
    except csv.Error as exc:
        errors.append(RowError(label, start, "", f"malformed CSV: {exc}"))
    columns = {c: np.asarray([r[k] for r in rows], dtype=object) for k, c in enumerate(wanted)}
    return columns, np.asarray(lines, dtype=np.int64), errors


def build_table(
    columns: dict[str, np.ndarray],
    lines: np.ndarray,
    *,
    name: str,
    on_error: OnError,
    max_vertices: int,
    errors: list[RowError] | None = None,
    allow_empty: bool = False,
) -> PolygonTable:
    """Validate string columns and parse them into a :class:`PolygonTable`.

    All checks are vectorized; each failing row becomes one :class:`RowError` (the first
    problem found on that row).
    """
    errors = list(errors or [])
    n = len(columns["ImageId"])
    bad = np.zeros(n, dtype=bool)

    def flag(mask: np.ndarray, column: str, reasons) -> None:
        new = mask & ~bad
        for i in np.flatnonzero(new):
            reason = reasons(i) if callable(reasons) else reasons
            errors.append(RowError(name, int(lines[i]), column, reason))
        bad[new] = True

    image_id = _strip(columns["ImageId"])
    wkt = columns["PolygonWKT_Pix"]
    flag((image_id == "ImageId") & (wkt == "PolygonWKT_Pix"), "", "repeated header row")
    flag(image_id == "", "ImageId", "empty ImageId")

    building_id, ok = _to_numbers(columns["BuildingId"], np.int64)
    flag(~ok, "BuildingId", lambda i: f"not an integer: {_show(columns['BuildingId'][i])}")

    confidence = None
    if "Confidence" in columns:
        confidence, ok = _to_numbers(columns["Confidence"], np.float64)
        flag(~ok, "Confidence", lambda i: f"not a number: {_show(columns['Confidence'][i])}")
        flag(ok & ~np.isfinite(confidence), "Confidence", lambda i: f"not finite: {confidence[i]}")

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        geometry = shapely.from_wkt(np.where(bad, None, wkt), on_invalid="ignore")
    parsed = ~shapely.is_missing(geometry)
    flag(~parsed, "PolygonWKT_Pix", lambda i: _wkt_reason(wkt[i]))
    type_id = shapely.get_type_id(geometry)
    flag(
        parsed & (type_id != _POLYGON) & (type_id != _MULTIPOLYGON),
        "PolygonWKT_Pix",
        lambda i: (
            f"expected POLYGON or MULTIPOLYGON, found {_TYPE_NAMES.get(int(type_id[i]), '?')}"
        ),
    )
    n_coords = shapely.get_num_coordinates(geometry)
    flag(
        n_coords > max_vertices,
        "PolygonWKT_Pix",
        lambda i: f"{n_coords[i]} vertices exceed the limit of {max_vertices}",
    )
    coords, owner = shapely.get_coordinates(geometry, return_index=True)
    nonfinite = np.zeros(n, dtype=bool)
    nonfinite[owner[~np.isfinite(coords).all(axis=1)]] = True
    has_z = np.flatnonzero(shapely.has_z(geometry))
    if len(has_z):  # z is ignored, but a NaN in it is still a broken row
        z, z_owner = shapely.get_coordinates(geometry[has_z], include_z=True, return_index=True)
        nonfinite[has_z[z_owner[~np.isfinite(z[:, 2])]]] = True
    flag(nonfinite, "PolygonWKT_Pix", "coordinates are NaN or infinite")

    if errors:
        errors.sort(key=lambda e: e.line)
        if on_error == "raise":
            raise InputError(errors[:MAX_KEPT_ERRORS], total=len(errors))
    keep = ~bad
    # z (always 0 in SpaceNet files) is kept: GEOS measures areas and overlaps in 2-D, and
    # dropping it would cost more than every IoU computed afterwards
    table = PolygonTable(
        name=name,
        image_id=image_id[keep],
        building_id=building_id[keep],
        geometry=geometry[keep],
        confidence=None if confidence is None else confidence[keep],
        line=lines[keep],
        skipped=tuple(errors),
    )
    if len(table) == 0 and not allow_empty:
        raise InputError(errors or [RowError(name, 1, "", "file has a header but no rows")])
    return table


def _objects(values: list) -> np.ndarray:
    """A 1-D object array of the list's items (np.array would try to nest sequences)."""
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def _strip(values: np.ndarray) -> np.ndarray:
    """Strip surrounding whitespace from every string."""
    return _objects([str(v).strip() for v in values.tolist()])


def _to_numbers(values: np.ndarray, dtype) -> tuple[np.ndarray, np.ndarray]:
    """Parse strings to int64 or float64 in bulk; per element only when some fail.

    Integers are parsed as integers (never through float64, which would silently change
    ids above 2**53); an integral float such as ``3.0`` is accepted as an integer.
    """
    try:
        return np.asarray(values).astype(dtype), np.ones(len(values), dtype=bool)
    except (ValueError, TypeError, OverflowError):
        pass
    out = np.zeros(len(values), dtype=dtype)
    ok = np.zeros(len(values), dtype=bool)
    for i, v in enumerate(values):
        try:
            out[i] = _integer(v) if dtype is np.int64 else float(v)
            ok[i] = True
        except (ValueError, TypeError, OverflowError):
            pass
    return out, ok


def _integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        value = float(text)
        if not value.is_integer():
            raise
        return int(value)


def _wkt_reason(text: str) -> str:
    if not str(text).strip():
        return "empty geometry text (use POLYGON EMPTY for an image with no building)"
    try:
        shapely.from_wkt(text, on_invalid="raise")
    except shapely.errors.GEOSException as exc:
        return f"unparsable WKT ({exc}): {_show(text)}"
    return f"unparsable WKT: {_show(text)}"


def _show(value: object, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
