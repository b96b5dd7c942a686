"""The columnar polygon table every reader produces and every scorer consumes, and the
vectorised validation that turns string columns into one (``build_table``)."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias, TypeVar

import numpy as np
import pyarrow as pa
import shapely
from numpy.typing import NDArray
from pyarrow import _compute

from geoarena.errors import Problem

from .arrays import BoolArray, FloatArray, IntArray, ObjectArray, object_array
from .arrow_columns import column_values, string_column, take_values
from .errors import InputError
from .wkt import DECIMAL, parse_wkt

OnError = Literal["raise", "skip"]
#: a column of CSV fields: Python strings, or Arrow strings as Arrow's reader left them
Text: TypeAlias = "ObjectArray | pa.Array[Any]"

#: per-geometry vertex cap: SpaceNet labels have at most a few hundred vertices, and a
#: polygon with millions of them is a denial-of-service, not a building.
DEFAULT_MAX_VERTICES = 20_000

_POLYGON, _MULTIPOLYGON = 3, 6
_TYPE_NAMES = {
    0: "POINT",
    1: "LINESTRING",
    2: "LINEARRING",
    4: "MULTIPOINT",
    5: "MULTILINESTRING",
    7: "GEOMETRYCOLLECTION",
}


@dataclass(frozen=True, eq=False)
class PolygonTable:
    """Validated rows of a truth or proposal CSV, one numpy array per column.

    Geometries are shapely Polygons or MultiPolygons (``POLYGON EMPTY`` included): the
    readers reject everything else, so scorers never re-validate. A z coordinate, when the
    file has one, is kept and ignored (GEOS measures areas and overlaps in 2-D). ``line`` keeps the
    source line of each row for error messages and per-proposal reports.
    """

    name: str
    image_id: ObjectArray  # str
    building_id: IntArray
    geometry: ObjectArray  # shapely geometries
    confidence: FloatArray | None  # None when the file has no Confidence column
    line: IntArray  # 1-based line in the source (row number for in-memory tables)
    skipped: tuple[Problem, ...] = field(default=())
    #: the rows whose polygon is known valid (proved from its coordinates when it was
    #: read: ``convexity``), so the rules need not ask GEOS; None: no row known
    valid: BoolArray | None = None

    def __len__(self) -> int:
        return len(self.image_id)

    @property
    def image_ids(self) -> list[str]:
        """Sorted unique ImageIds, including images listed only by ``-1,POLYGON EMPTY``."""
        return sorted(set(self.image_id.tolist()))

    def take(self, mask: BoolArray | IntArray) -> PolygonTable:
        """A new table with the rows selected by a boolean mask or an index array."""
        return PolygonTable(
            name=self.name,
            image_id=self.image_id[mask],
            building_id=self.building_id[mask],
            geometry=self.geometry[mask],
            confidence=None if self.confidence is None else self.confidence[mask],
            line=self.line[mask],
            skipped=self.skipped,
            valid=None if self.valid is None else self.valid[mask],
        )

    @classmethod
    def from_wkt(
        cls,
        image_ids: Iterable[object],
        building_ids: Iterable[object],
        wkts: Iterable[str],
        confidences: Iterable[object] | None = None,
        *,
        name: str = "<memory>",
        max_vertices: int | None = None,
    ) -> PolygonTable:
        """Build a table from in-memory columns, validated exactly like a CSV file.

        Values are converted with ``str`` and checked as if they were CSV fields, so ids
        and confidences may be numbers or text.

        Examples
        --------
        >>> t = PolygonTable.from_wkt(["img1"], [0], ["POLYGON ((0 0, 10 0, 10 10, 0 10, 0 0))"])
        >>> len(t), t.image_ids
        (1, ['img1'])
        """
        columns = {
            "ImageId": object_array([str(v) for v in image_ids]),
            "BuildingId": object_array([str(v) for v in building_ids]),
            "PolygonWKT_Pix": object_array(list(wkts)),
        }
        if confidences is not None:
            columns["Confidence"] = object_array([str(v) for v in confidences])
        lengths = {name: len(col) for name, col in columns.items()}
        if len(set(lengths.values())) > 1:
            raise ValueError(f"columns of different lengths: {lengths}")
        lines = np.arange(1, len(columns["ImageId"]) + 1, dtype=np.int64)
        return build_table(
            columns,
            lines,
            name=name,
            on_error="raise",
            max_vertices=DEFAULT_MAX_VERTICES if max_vertices is None else max_vertices,
        )


def unique_ids(values: ObjectArray) -> ObjectArray:
    """Sorted unique strings as an object array (a sort of the few distinct values)."""
    return object_array(sorted(distinct(values)[0]))


def encode(values: ObjectArray, vocabulary: ObjectArray) -> IntArray:
    """Position of each string in ``vocabulary`` (-1 where absent)."""
    position = {v: i for i, v in enumerate(vocabulary.tolist())}
    uniques, codes = distinct(values)
    return np.array([position.get(v, -1) for v in uniques], dtype=np.int64)[codes]


def distinct(values: ObjectArray) -> tuple[list[Any], IntArray]:
    """The distinct values of a column, in order of first appearance, and the position of
    each row's value among them.

    Files list each image's rows together, so the column is cut into runs of equal values
    by one vectorised comparison and only each run's first value is looked up in a dict:
    a few hundred lookups instead of one per row (any order still gives the right codes).
    """
    n = len(values)
    change = np.ones(n, dtype=bool)
    change[1:] = values[1:] != values[:-1]
    starts = np.flatnonzero(change)
    position: dict[Any, int] = {}
    run_codes = np.fromiter(
        (position.setdefault(v, len(position)) for v in values[starts].tolist()),
        np.int64,
        len(starts),
    )
    return list(position), np.repeat(run_codes, np.diff(np.append(starts, n)))


def build_table(
    columns: Mapping[str, Text],
    lines: IntArray,
    *,
    name: str,
    on_error: OnError,
    max_vertices: int,
    errors: list[Problem] | None = None,
    allow_empty: bool = False,
    geometry: ObjectArray | None = None,
) -> PolygonTable:
    """Validate string columns and parse them into a :class:`PolygonTable`.

    All checks are vectorized; each failing row becomes one :class:`Problem` (the first
    problem found on that row). A column may be Arrow strings (a file Arrow read: no
    Python string per row) or Python ones. ``geometry`` passes geometries already
    decoded (a GIS vector file's features, None where a feature has none) instead of any
    WKT; every other check is the same, so no reader validates differently.
    """
    errors = list(errors or [])
    n = len(columns["ImageId"])
    bad = np.zeros(n, dtype=bool)

    def flag(mask: BoolArray, column: str, reasons: str | Callable[[int], str]) -> None:
        new = mask & ~bad
        for i in np.flatnonzero(new).tolist():
            reason = reasons(i) if callable(reasons) else reasons
            errors.append(Problem(name, int(lines[i]), column, reason))
        bad[new] = True

    image_id = strip_all(_strings(columns["ImageId"]))
    if geometry is None:
        wkt = columns["PolygonWKT_Pix"]
        text = wkt if isinstance(wkt, pa.Array) else string_column(wkt)
        named = np.flatnonzero(image_id == "ImageId")
        header = np.zeros(n, dtype=bool)
        header[named] = take_values(text, named) == "PolygonWKT_Pix"
        flag(header, "", "repeated header row")
    flag(image_id == "", "ImageId", "empty ImageId")

    building_id, ok = _to_numbers(columns["BuildingId"], np.int64)
    flag(~ok, "BuildingId", lambda i: f"not an integer: {_show(_field(columns['BuildingId'], i))}")

    confidence = None
    if "Confidence" in columns:
        confidence, ok = _to_numbers(columns["Confidence"], np.float64)
        flag(
            ~ok, "Confidence", lambda i: f"not a number: {_show(_field(columns['Confidence'], i))}"
        )
        flag(ok & ~np.isfinite(confidence), "Confidence", lambda i: f"not finite: {confidence[i]}")

    column = "PolygonWKT_Pix" if geometry is None else "geometry"
    doubtful = np.ones(n, dtype=bool)  # rows whose coordinates may be NaN or infinite
    valid = None
    if geometry is None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            geometry, doubtful, valid = parse_wkt(text, ~bad)  # rejected rows: not parsed
        parsed = ~shapely.is_missing(geometry)
        flag(~parsed, column, lambda i: _wkt_reason(text[i].as_py()))
    else:
        parsed = ~shapely.is_missing(geometry)
        flag(~parsed, column, "feature has no geometry")
    type_id = shapely.get_type_id(geometry)
    flag(
        parsed & (type_id != _POLYGON) & (type_id != _MULTIPOLYGON),
        column,
        lambda i: (
            f"expected POLYGON or MULTIPOLYGON, found {_TYPE_NAMES.get(int(type_id[i]), '?')}"
        ),
    )
    n_coords = shapely.get_num_coordinates(geometry)
    flag(
        n_coords > max_vertices,
        column,
        lambda i: f"{n_coords[i]} vertices exceed the limit of {max_vertices}",
    )
    flag(_nonfinite(geometry, np.flatnonzero(doubtful)), column, "coordinates are NaN or infinite")

    if errors:
        errors.sort(key=lambda e: e.line)
        if on_error == "raise":
            raise InputError(errors)
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
        valid=None if valid is None else valid[keep],
    )
    if not allow_empty:
        require_rows(name, len(table), errors, header_only_ok=False)
    return table


def _nonfinite(geometry: ObjectArray, doubtful: IntArray) -> BoolArray:
    """Which geometries have a NaN or an infinite coordinate, looking at the ``doubtful``
    rows only (the others were read by a reader that admits finite numbers only).

    z is ignored, but a NaN in it is still a broken row; one pass reads x, y and z (a 2-D
    geometry's z comes back NaN, so only rows that have a z are judged on it). A NaN or an
    infinity makes the sum of all coordinates NaN or infinite: one sum settles a clean
    file, and only a file that fails it is read again point by point.
    """
    out = np.zeros(len(geometry), dtype=bool)
    looked_at = geometry[doubtful]
    has_z = shapely.has_z(looked_at)
    include_z = bool(has_z.any())
    if not np.isfinite(shapely.get_coordinates(looked_at, include_z=include_z).sum()):
        coords, owner = shapely.get_coordinates(looked_at, include_z=include_z, return_index=True)
        finite = np.isfinite(coords[:, 0]) & np.isfinite(coords[:, 1])
        if include_z:
            finite &= np.isfinite(coords[:, 2]) | ~has_z[owner]
        out[doubtful[owner[~finite]]] = True
    return out


def require_rows(
    name: str, n_rows: int, skipped: Sequence[Problem], *, header_only_ok: bool
) -> None:
    """A file left with no row is an :class:`InputError`, unless it never had any and
    ``header_only_ok``: a proposal file with a header and no rows is a valid "no
    buildings" submission (conformance case 24, scored all FN as the utilities scorer and
    solaris do), while a file whose rows were all rejected is still an error."""
    if n_rows == 0 and (skipped or not header_only_ok):
        raise InputError(list(skipped) or [Problem(name, 1, "", "file has a header but no rows")])


def strip_all(values: ObjectArray) -> ObjectArray:
    """Strip surrounding whitespace from every string (once per distinct value)."""
    uniques, codes = distinct(values)
    return object_array([str(v).strip() for v in uniques])[codes]


_Number = TypeVar("_Number", np.int64, np.float64)


def _to_numbers(values: Text, dtype: type[_Number]) -> tuple[NDArray[_Number], BoolArray]:
    """Parse strings to int64 or float64 in bulk; per element only when some fail.

    Integers are parsed as integers (never through float64, which would silently change
    ids above 2**53); an integral float such as ``3.0`` is accepted as an integer.

    Python's ``int`` and ``float`` decide what a number is. Arrow strings that are all
    plain decimals (``_PLAIN``), which Arrow's cast reads as Python does, are cast by
    Arrow: ~10x faster than making a Python string of each. Any other column (Python
    also reads spaces, ``_``, ``+``, ``inf`` and non-ASCII digits), or one Arrow refuses
    (an integer beyond int64), is read by Python.
    """
    if isinstance(values, pa.Array):
        plain = _compute.call_function(
            "match_substring_regex", [values], _compute.MatchSubstringOptions(_PLAIN[dtype])
        )
        if column_values(plain).all():
            try:
                cast = _compute.call_function(
                    "cast", [values], _compute.CastOptions(pa.from_numpy_dtype(np.dtype(dtype)))
                )
                return column_values(cast).astype(dtype), np.ones(len(values), dtype=bool)
            except pa.ArrowInvalid:
                pass
        values = _strings(values)
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


#: the texts that Arrow's cast and Python's ``int`` / ``float`` read alike
_PLAIN = {np.int64: r"^-?[0-9]+$", np.float64: rf"^{DECIMAL}$"}


def _strings(column: Text) -> ObjectArray:
    """A column as Python strings."""
    return column if isinstance(column, np.ndarray) else object_array(column.to_pylist())


def _field(column: Text, i: int) -> object:
    """Row ``i`` of a column, as Python sees it (for a message)."""
    return column[i].as_py() if isinstance(column, pa.Array) else column[i]


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
