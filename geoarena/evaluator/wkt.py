"""WKT text parsed into shapely geometries: by geoarrow-c where the text is canonical,
by GEOS otherwise, with GEOS's result either way.

GEOS's WKT reader (``shapely.from_wkt``) takes ~2.5 us a SpaceNet polygon, the largest
single cost of scoring a file. geoarrow-c's reader turns the same text into WKB several
times faster, and GEOS builds a geometry from WKB in a third of the time it takes from
WKT: 2.4x faster in all. But geoarrow-c reads a number by its longest valid prefix
(``1.5.3`` is 1.5, ``0x10`` is 0, ``1e+`` is 1) where GEOS refuses the text or reads
another value. So it reads only the rows that match a strict grammar of canonical WKT:
POLYGON or MULTIPOLYGON, decimal numbers, single spaces between a point's numbers (the
SpaceNet files' layout, and shapely's). There both readers give the same correctly
rounded doubles (fast_float and strtod), so the same geometries bit for bit. Every other
row, and any batch that geoarrow-c or GEOS's WKB reader refuses (an unclosed ring, an
exponent out of range), is read by GEOS's own WKT reader: its geometries and its
refusals, so its error messages, stay the reference.

Arrow's regular expressions run through ``pyarrow._compute``: the public
``pyarrow.compute`` builds a wrapper for each of its ~300 functions on import (~30 ms a
process), and only three functions are needed here.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import pyarrow as pa
import shapely
from geoarrow.c import lib as geoarrow_lib
from geoarrow.c.kernel import ScalarFunction
from pyarrow import _compute

from .arrays import BoolArray, FloatArray, IntArray, ObjectArray
from .arrow_columns import column_values, non_null, take_arrow, take_values
from .convexity import convex_rings

#: a decimal number as canonical text writes it (RE2's ``\d`` is ASCII digits only); both
#: Arrow's and Python's readers round it correctly, so they read it alike
DECIMAL = r"-?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"


def _grammar(dimensions: int) -> str:
    """A full match of canonical POLYGON and MULTIPOLYGON text of 2-D or 3-D points; a
    3-D text may carry the Z keyword or, as SpaceNet's files do, leave it out."""
    point = " ".join([DECIMAL] * dimensions)
    ring = rf"\({point}(?:, ?{point})*\)"
    polygon = rf"\({ring}(?:, ?{ring})*\)"
    keyword = "(?: Z)?" if dimensions == 3 else ""
    empty = "|(?:MULTI)?POLYGON EMPTY" if dimensions == 2 else ""
    return (
        rf"^(?:POLYGON{keyword} {polygon}"
        rf"|MULTIPOLYGON{keyword} \({polygon}(?:, ?{polygon})*\){empty})$"
    )


#: (grammar, whether the Z keyword must be added): geoarrow-c reads a point's third
#: number only when the keyword says it is there
_CANONICAL = ((_grammar(3), True), (_grammar(2), False))

#: geoarrow-c knows its input is WKT from the Arrow field's extension name
_WKT_FIELD = pa.field(
    "wkt",
    pa.utf8(),
    metadata={"ARROW:extension:name": "geoarrow.wkt", "ARROW:extension:metadata": "{}"},
)
#: geoarrow-c's native polygon and multipolygon arrays (GEOARROW_TYPE_INTERLEAVED_* of
#: its C API, which its Python package keeps private), by (multi, 3-D)
_TO_NATIVE = {
    (multi, z): ScalarFunction("as_geoarrow", type=10000 + 1000 * z + (6 if multi else 3))
    for multi in (False, True)
    for z in (False, True)
}


class _Wkt:
    """Arrow strings offered to geoarrow-c as a geoarrow.wkt array (the C data
    interface carries the field with its extension name)."""

    def __init__(self, text: pa.Array[Any]) -> None:
        self._text = text

    def __arrow_c_array__(self, requested_schema: object = None) -> tuple[object, object]:
        return _WKT_FIELD.__arrow_c_schema__(), self._text.__arrow_c_array__()[1]


class ParsedWkt(NamedTuple):
    """What :func:`parse_wkt` read."""

    #: the geometries (None at the rows not asked for, at nulls and where GEOS refused)
    geometry: ObjectArray
    #: the rows GEOS's WKT reader read: only those can hold a NaN or an infinity (the
    #: grammar admits decimal numbers only, and one beyond a double's range, ``1e400``,
    #: makes geoarrow-c refuse its batch, which GEOS then reads)
    by_geos: BoolArray
    #: the rows whose polygon is valid, proved from its coordinates as they were read
    #: (``convexity.convex_rings``); False: not known
    valid: BoolArray


def parse_wkt(text: pa.Array[Any], parse: BoolArray) -> ParsedWkt:
    """The geometries of Arrow WKT strings at the rows where ``parse`` holds (None at the
    others and at nulls): ``shapely.from_wkt(..., on_invalid="ignore")`` of those rows,
    geometry for geometry, in less time (the module's docstring says how)."""
    out: ObjectArray = np.full(len(text), None, dtype=object)
    by_geos: BoolArray = np.zeros(len(text), dtype=bool)
    valid: BoolArray = np.zeros(len(text), dtype=bool)
    rows: IntArray = np.flatnonzero(parse & non_null(text))
    for grammar, add_z in _CANONICAL:
        if len(rows) == 0:
            break
        part = _subset(text, rows)
        matched = _compute.call_function(
            "match_substring_regex", [part], _compute.MatchSubstringOptions(grammar)
        )
        canonical = np.flatnonzero(column_values(matched))
        if len(canonical) == 0:
            continue
        read = _read_canonical(_subset(part, canonical), add_z)
        if read is None:
            continue
        out[rows[canonical]], valid[rows[canonical]] = read
        rows = np.delete(rows, canonical)
    if len(rows):
        out[rows] = shapely.from_wkt(take_values(text, rows), on_invalid="ignore")
        by_geos[rows] = True
    return ParsedWkt(out, by_geos, valid)


def _subset(text: pa.Array[Any], rows: IntArray) -> pa.Array[Any]:
    """The rows (distinct, increasing) of ``text``: itself when they are all of it."""
    return text if len(rows) == len(text) else take_arrow(text, rows)


def _read_canonical(text: pa.Array[Any], add_z: bool) -> tuple[ObjectArray, BoolArray] | None:
    """Canonical WKT read by geoarrow-c into coordinate arrays, and the geometries built
    from those by GEOS (``shapely.from_ragged_array``): no WKB in between, no Python
    object per row but the geometry; with the polygons proved valid on the way. None
    for the whole batch where geoarrow-c refuses a row, or where a ring is one GEOS's
    readers refuse (:func:`_rings_ok`)."""
    if add_z:
        text = _compute.call_function(
            "replace_substring",
            [text],
            _compute.ReplaceSubstringOptions("POLYGON ((", "POLYGON Z ((", max_replacements=1),
        )
    multi = column_values(
        _compute.call_function("starts_with", [text], _compute.MatchSubstringOptions("M"))
    )
    out: ObjectArray = np.full(len(text), None, dtype=object)
    valid: BoolArray = np.zeros(len(text), dtype=bool)
    for kind in (False, True):
        rows = np.flatnonzero(multi == kind)
        if len(rows) == 0:
            continue
        try:
            native = pa.array(_TO_NATIVE[kind, add_z](_Wkt(_subset(text, rows))))
        except geoarrow_lib.GeoArrowCException:
            return None
        read = _from_native(native, kind, 3 if add_z else 2)
        if read is None:
            return None
        out[rows], valid[rows] = read
    return out, valid


def _from_native(
    native: pa.Array[Any], multi: bool, dimensions: int
) -> tuple[ObjectArray, BoolArray] | None:
    """Shapely geometries of a geoarrow (multi)polygon array and which are valid Polygons
    of one convex ring (a MultiPolygon is left to GEOS's check), or None if a ring is not
    one GEOS reads as it stands."""
    parts: list[IntArray] = []
    level: Any = native  # nested list arrays, down to the points' fixed-size lists
    for _ in range(3 if multi else 2):  # geometries -> (polygons ->) rings -> points
        parts.append(column_values(level.offsets).astype(np.int64))
        level = level.values
    coords = column_values(level.values).reshape(-1, dimensions)
    rings = parts[-1]
    if not _rings_ok(coords, rings):
        return None
    kind = shapely.GeometryType.MULTIPOLYGON if multi else shapely.GeometryType.POLYGON
    geometry: ObjectArray = shapely.from_ragged_array(kind, coords, tuple(reversed(parts)))
    valid: BoolArray = np.zeros(len(geometry), dtype=bool)
    if not multi:
        ring_of = parts[0]  # each polygon's first ring
        one = np.flatnonzero(np.diff(ring_of) == 1)
        valid[one] = convex_rings(coords, rings)[ring_of[one]]
    return geometry, valid


def _rings_ok(coords: FloatArray, offsets: IntArray) -> bool:
    """Whether every ring has at least 4 points and ends on its first, in every
    dimension: GEOS's readers refuse a shorter or open ring (open in x or y), and
    shapely's constructor would close one that is open in z alone, which GEOS keeps."""
    first, end = offsets[:-1], offsets[1:]
    if ((end - first) < 4).any():
        return False
    return bool((coords[first] == coords[end - 1]).all())
