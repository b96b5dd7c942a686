"""``parse_wkt`` gives GEOS's own reading of every text, bit for bit: geoarrow-c reads the
canonical rows, GEOS the rest (and every row geoarrow-c would misread)."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from geoarena.evaluator import wkt
from geoarena.evaluator.arrays import ObjectArray, object_array
from geoarena.evaluator.arrow_columns import string_column

SQUARE = "POLYGON ((0 0 0, 1 0 0, 1 1 0, 0 0 0))"

#: texts where the two readers could part: malformed numbers geoarrow-c reads by their
#: longest valid prefix, rings GEOS's WKB reader refuses, other spacings, dimensions,
#: keywords and types
CASES = [
    SQUARE,
    "POLYGON ((0 0, 1 0, 1 1, 0 0))",
    "POLYGON Z ((0 0 0, 1 0 0, 1 1 0, 0 0 0))",
    "POLYGON ((0 0 0,1 0 0,1 1 0,0 0 0))",
    "MULTIPOLYGON (((0 0 0, 1 0 0, 1 1 0, 0 0 0)), ((5 5 0, 6 5 0, 6 6 0, 5 5 0)))",
    "POLYGON ((0 0 0, 4 0 0, 4 4 0, 0 0 0), (1 1 0, 2 1 0, 2 2 0, 1 1 0))",
    "POLYGON ((1.5.3 0 0, 1 0 0, 1 1 0, 1.5.3 0 0))",
    "POLYGON ((0x10 0 0, 1 0 0, 1 1 0, 0x10 0 0))",
    "POLYGON ((1e+ 0 0, 1 0 0, 1 1 0, 1e+ 0 0))",
    "POLYGON ((+5 0 0, 1 0 0, 1 1 0, +5 0 0))",
    "POLYGON ((1e400 0 0, 1 0 0, 1 1 0, 1e400 0 0))",
    "POLYGON ((1e-400 0 0, 1 0 0, 1 1 0, 1e-400 0 0))",
    "POLYGON ((4.9e-324 0 0, 1 0 0, 1 1 0, 4.9e-324 0 0))",
    "POLYGON ((-0 0 0, 1 0 0, 1 1 0, -0 0 0))",
    "POLYGON ((.5 0 0, 5. 0 0, 1E+3 1 0, 01 -.25e-1 0, .5 0 0))",
    "POLYGON ((0.1000000000000000055511151231257827 0 0, 1 0 0, 1 1 0, "
    "0.1000000000000000055511151231257827 0 0))",
    "POLYGON ((nan 0 0, 1 0 0, 1 1 0, nan 0 0))",
    "POLYGON ((inf 0 0, 1 0 0, 1 1 0, inf 0 0))",
    "POLYGON ((0 0 0, 1 0 0, 1 1 0))",
    "POLYGON ((0 0, 1 0, 0 0))",
    "POLYGON ((0 0 0, 1 0 0, 0 0 0, 0 0 0))",
    "POLYGON ((0 0 0, 1 0 0, 1 1 0, 0 0 5))",  # closed in x and y: GEOS keeps it open in z
    "MULTIPOLYGON (((0 0, 1 0, 1 1, 0 0)), ((5 5, 6 5, 6 6)))",
    "MULTIPOLYGON (((0 0, 9 0, 9 9, 0 0), (1 1, 2 1, 2 2, 1 1)), ((20 20, 21 20, 21 21, 20 20)))",
    "POLYGON ((0 0 0, 1 0 0, 1 1 0, 0 1 0))",
    "POLYGON ((0 0 0, 1 0, 1 1 0, 0 0 0))",
    "POLYGON ((0 0, 1 0 0, 1 1, 0 0))",
    "POLYGON ((0 0 0 1, 1 0 0 1, 1 1 0 1, 0 0 0 1))",
    "POLYGON M ((0 0 0, 1 0 0, 1 1 0, 0 0 0))",
    "POLYGON ZM ((0 0 0 1, 1 0 0 1, 1 1 0 1, 0 0 0 1))",
    f"{SQUARE} junk",
    f"{SQUARE})",
    f"{SQUARE};",
    SQUARE[:-1],
    f"  {SQUARE}  ",
    SQUARE.lower(),
    SQUARE.replace(" ((", "(("),
    SQUARE.replace(", ", " , "),
    "POLYGON ((0\t0\t0,\n1 0 0, 1 1 0, 0 0 0))",
    "POLYGON EMPTY",
    "POLYGON Z EMPTY",
    "MULTIPOLYGON EMPTY",
    "MULTIPOLYGON (EMPTY, ((0 0 0, 1 0 0, 1 1 0, 0 0 0)))",
    "POLYGON ((0 0 0, 1 0 0, 1 1 0, 0 0 0), EMPTY)",
    "GEOMETRYCOLLECTION (POLYGON ((0 0 0, 1 0 0, 1 1 0, 0 0 0)))",
    "POINT (1 2)",
    "SRID=4326;" + SQUARE,
    "POLYGON (())",
    "",
    " ",
]


def _geos(texts: list[str]) -> ObjectArray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        geometry: ObjectArray = shapely.from_wkt(object_array(texts), on_invalid="ignore")
    return geometry


def _ours(texts: list[str]) -> ObjectArray:
    """parse_wkt's geometries; the rows GEOS did not read must have finite coordinates
    (the table's check of NaN and infinities skips them), and those it marks valid must
    be (the rules do not ask GEOS about them)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        text = string_column(object_array(texts))
        geometry, by_geos, valid = wkt.parse_wkt(text, np.ones(len(texts), dtype=bool))
    fast = [g for g in geometry[~by_geos] if g is not None]
    assert all(np.isfinite(shapely.get_coordinates(g, include_z=g.has_z)).all() for g in fast)
    assert shapely.is_valid(geometry[valid]).all()
    assert not (valid & by_geos).any()
    return geometry


def _bits(geometry: object) -> bytes | None:
    """A geometry's type, dimensions and every coordinate's bits (ISO WKB, 4-D)."""
    if geometry is None:
        return None
    blob: bytes = shapely.to_wkb(geometry, output_dimension=4, flavor="iso")
    return blob


def _assert_same(texts: list[str]) -> None:
    ours, geos = _ours(texts), _geos(texts)
    for text, a, b in zip(texts, ours, geos, strict=True):
        assert _bits(a) == _bits(b), (text, a, b)


@pytest.mark.parametrize("text", CASES)
def test_each_text_reads_as_geos_reads_it(text: str) -> None:
    _assert_same([text])


def test_a_file_of_every_case_reads_as_geos_reads_it() -> None:
    """Canonical rows beside rows of every other kind: each row is routed on its own."""
    _assert_same(CASES * 3)


def test_canonical_rows_never_reach_geos_wkt_reader(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fast path is taken: of a SpaceNet-like file, GEOS's WKT reader sees only the
    rows outside the grammar, and rows geoarrow-c would misread."""
    seen: list[str] = []
    real = shapely.from_wkt

    def counting(values: ObjectArray, **kwargs: object) -> ObjectArray:
        seen.extend(values.tolist())
        geometry: ObjectArray = real(values, **kwargs)
        return geometry

    monkeypatch.setattr(wkt.shapely, "from_wkt", counting)
    odd = ["POLYGON ((1.5.3 0 0, 1 0 0, 1 1 0, 1.5.3 0 0))", SQUARE.lower()]
    texts = [SQUARE, "POLYGON ((0 0, 2 0, 2 2, 0 0))", "POLYGON EMPTY", *odd]
    ours = _ours(texts * 100)
    assert seen == odd * 100
    assert [g.wkt for g in ours[:3]] == [
        "POLYGON Z ((0 0 0, 1 0 0, 1 1 0, 0 0 0))",
        "POLYGON ((0 0, 2 0, 2 2, 0 0))",
        "POLYGON EMPTY",
    ]
    assert ours[3] is None  # GEOS refuses "1.5.3", where geoarrow-c would read 1.5


def test_rows_not_asked_for_and_nulls_are_none() -> None:
    text = string_column(object_array([SQUARE, None, SQUARE, "junk"]))
    ours, by_geos, _ = wkt.parse_wkt(text, np.array([True, True, False, True]))
    assert by_geos.tolist() == [False, False, False, True]
    assert [None if g is None else g.wkt for g in ours] == [
        "POLYGON Z ((0 0 0, 1 0 0, 1 1 0, 0 0 0))",
        None,
        None,
        None,
    ]


_FINITE = st.floats(allow_nan=False, allow_infinity=False, width=64)
_FORMATS = [repr, lambda v: f"{v:.17g}", lambda v: f"{v:.2f}", lambda v: f"{v:e}", str]


@st.composite
def _number(draw: st.DrawFn) -> str:
    value = draw(st.one_of(_FINITE, st.floats(-1e4, 1e4)))
    text: str = draw(st.sampled_from(_FORMATS))(value)
    return text


@st.composite
def _polygon(draw: st.DrawFn) -> str:
    dims = draw(st.sampled_from([2, 3]))
    n = draw(st.integers(3, 7))
    points = [" ".join(draw(_number()) for _ in range(dims)) for _ in range(n)]
    if draw(st.booleans()):
        points.append(points[0])  # closed; else GEOS refuses the ring
    ring = "(" + draw(st.sampled_from([",", ", "])).join(points) + ")"
    keyword = draw(st.sampled_from(["POLYGON", "POLYGON Z" if dims == 3 else "POLYGON"]))
    text = f"{keyword} ({ring})"
    if draw(st.booleans()):
        text = f"MULTI{keyword} (({ring}), ({ring}))"
    if draw(st.integers(0, 4)) == 0:  # one character broken, anywhere
        i = draw(st.integers(0, len(text) - 1))
        text = text[:i] + draw(st.sampled_from(list(".,-+e()x 9Z"))) + text[i + 1 :]
    return text


@settings(max_examples=300, deadline=None)
@given(st.lists(_polygon(), min_size=1, max_size=12))
def test_random_files_read_as_geos_reads_them(texts: list[str]) -> None:
    """Any doubles in any of Python's notations, closed or open rings, one character
    broken anywhere: every row is GEOS's reading of it, bit for bit."""
    _assert_same(texts)


def test_numbers_round_as_strtod_rounds_them() -> None:
    """Halfway cases and long expansions, where a reader that is not correctly rounded
    would differ in the last bit."""
    values = [0.1, 1 / 3, 2**-1074, 2**53 + 1.0, 1.7976931348623157e308, math.pi]
    texts = [f"POLYGON (({v!r} 0, {v:.30e} 1, {v:.40f} 2, {v!r} 0))" for v in values] + [
        "POLYGON ((9007199254740993 0, 0.30000000000000004 1, 2.5e-324 2, 9007199254740993 0))"
    ]
    _assert_same(texts)


def test_a_number_beyond_doubles_is_read_by_geos() -> None:
    """1e400 is canonical text, but geoarrow-c refuses its batch: GEOS reads it (as an
    infinity, which the table then rejects), so every row geoarrow-c reads is finite."""
    texts = [SQUARE, "POLYGON ((1e400 0 0, 1 0 0, 1 1 0, 1e400 0 0))"]
    geometry, by_geos, _ = wkt.parse_wkt(string_column(object_array(texts)), np.ones(2, dtype=bool))
    assert by_geos.tolist() == [True, True]
    assert np.isinf(shapely.get_coordinates(geometry[1])).any()
