"""Readers: every bad input names its file, line, column and reason; good input is read
the same way by the fast (Arrow) and the exact (csv module) paths."""

from __future__ import annotations

import csv
import gzip
import io
import tracemalloc

import numpy as np
import pyarrow as pa
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from geoarena.errors import Problem
from geoarena.evaluator import (
    InputError,
    PolygonTable,
    read_proposals,
    read_truth,
    score,
)
from geoarena.evaluator.io import (
    REQUIRED,
    _arrow_columns,
    _arrow_copy,
    _columns_python,
    take_rows,
)
from geoarena.evaluator.parallel import score_files
from geoarena.evaluator.table import build_table

from .fuzzing import corrupt_gzip
from .helpers import SAMPLES

HEADER = "ImageId,BuildingId,PolygonWKT_Pix,Confidence\n"
SQUARE = '"POLYGON ((0 0, 10 0, 10 10, 0 10, 0 0))"'


def row(image="AOI_2_Vegas_img1", building="1", wkt=SQUARE, confidence="0.9") -> str:
    return f"{image},{building},{wkt},{confidence}\n"


def errors_of(data: bytes, reader=read_proposals, **kwargs) -> list[Problem]:
    with pytest.raises(InputError) as info:
        reader(data, name="sub.csv", **kwargs)
    err = info.value
    assert err.problems and all(e.file == "sub.csv" for e in err.problems)
    assert str(err)  # a readable message
    return list(err.problems)


def only_error(data: bytes, **kwargs) -> Problem:
    (error,) = errors_of(data, **kwargs)
    return error


def assert_same_table(a: PolygonTable, b: PolygonTable, *, lines: bool = True) -> None:
    assert a.image_id.tolist() == b.image_id.tolist()
    assert a.building_id.tolist() == b.building_id.tolist()
    assert a.building_id.dtype == b.building_id.dtype == np.int64
    assert shapely.to_wkb(a.geometry).tolist() == shapely.to_wkb(b.geometry).tolist()
    if a.confidence is None:
        assert b.confidence is None
    else:
        assert a.confidence.tolist() == b.confidence.tolist()
    if lines:
        assert a.line.tolist() == b.line.tolist()


# -- header ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "missing"),
    [
        ("ImageId,BuildingId,PolygonWKT,Confidence", "PolygonWKT_Pix"),
        ("Image,BuildingId,PolygonWKT_Pix", "ImageId"),
        ("ImageId,PolygonWKT_Pix,Confidence", "BuildingId"),
    ],
)
def test_missing_or_renamed_column(header: str, missing: str) -> None:
    error = only_error(f"{header}\nA,1,{SQUARE},1\n".encode())
    assert error.line == 1
    assert f"missing column {missing!r}" in error.reason
    assert header in error.reason  # shows what was found


def test_case_only_rename_is_named() -> None:
    error = only_error(f"imageid,BuildingId,PolygonWKT_Pix\nA,1,{SQUARE}\n".encode())
    assert error.line == 1
    assert "'ImageId'" in error.reason and "'imageid'" in error.reason
    assert "case-sensitive" in error.reason


def test_required_column_twice() -> None:
    error = only_error(f"ImageId,BuildingId,PolygonWKT_Pix,ImageId\nA,1,{SQUARE},B\n".encode())
    assert (error.line, "appears twice" in error.reason) == (1, True)


def test_empty_file_and_header_only() -> None:
    for data in (b"", b"  \n\n", gzip.compress(b"")):
        error = only_error(data)
        assert (error.line, error.reason) == (1, "file is empty")
    error = only_error(HEADER.encode(), reader=read_truth)
    assert (error.line, error.reason) == (1, "file has a header but no rows")


@pytest.mark.parametrize("preset", ["deepglobe", "spacenet-utilities", "solaris", "topcoder"])
def test_header_only_proposals_are_an_empty_submission(preset, tmp_path) -> None:
    """Conformance case 24: a header and no rows is "no buildings", every truth a FN, on
    both scoring paths (the in-process reader and the chunked file scorer)."""
    table = read_proposals(HEADER.encode())
    assert len(table) == 0 and table.confidence is not None and table.skipped == ()
    truth = (HEADER + row()).encode()  # an extra Confidence column in truth is ignored
    (tmp_path / "p.csv").write_bytes(HEADER.encode())
    scored_in_process = score(truth, HEADER.encode(), preset)
    scored_from_files = score_files(truth, tmp_path / "p.csv", preset)
    for result in (scored_in_process, scored_from_files):
        assert (result.micro.tp, result.micro.fp, result.micro.fn) == (0, 0, 1)
        assert [s.image_id for s in result.images] == ["AOI_2_Vegas_img1"]


def test_proposals_whose_rows_were_all_skipped_are_still_an_error(tmp_path) -> None:
    """Only a file that never had rows is an empty submission; one whose every row is bad
    (kept going with ``on_error="skip"``) names those rows instead."""
    data = (HEADER + row(building="x")).encode()
    (error,) = errors_of(data, on_error="skip")
    assert (error.line, error.column) == (2, "BuildingId")
    truth = (HEADER + row()).encode()
    (tmp_path / "p.csv").write_bytes(data)
    with pytest.raises(InputError) as info:
        score_files(truth, tmp_path / "p.csv", on_error="skip")
    assert [(e.line, e.column) for e in info.value.problems] == [(2, "BuildingId")]


def test_missing_file_is_an_input_error(tmp_path) -> None:
    with pytest.raises(InputError) as info:
        read_truth(tmp_path / "nope.csv")
    (error,) = info.value.problems
    assert error.file.endswith("nope.csv") and "cannot read file" in error.reason


# -- bad values --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("wkt", "reason"),
    [
        ('"POLYGON ((0 0, 1 0"', "unparsable WKT"),
        ("POLYGOn", "unparsable WKT"),
        ('"POINT (1 1)"', "expected POLYGON or MULTIPOLYGON, found POINT"),
        ('"LINESTRING (0 0, 1 1)"', "expected POLYGON or MULTIPOLYGON, found LINESTRING"),
        ('"MULTIPOINT ((0 0), (1 1))"', "found MULTIPOINT"),
        ('"GEOMETRYCOLLECTION (POINT (1 1))"', "found GEOMETRYCOLLECTION"),
        ('"POLYGON ((0 0, nan 0, 10 10, 0 10, 0 0))"', "NaN or infinite"),
        ('"POLYGON ((0 0, 10 0, 10 inf, 0 10, 0 0))"', "NaN or infinite"),
        ('"POLYGON ((0 0 nan, 10 0 0, 10 10 0, 0 10 0, 0 0 0))"', "NaN or infinite"),
        ('""', "empty geometry text"),
    ],
)
def test_bad_geometry(wkt: str, reason: str) -> None:
    data = (HEADER + row() + row(building="2") + row(building="3", wkt=wkt)).encode()
    error = only_error(data)
    assert (error.line, error.column) == (4, "PolygonWKT_Pix")
    assert reason in error.reason


def test_finite_coordinates_whose_sum_overflows_and_mixed_z_are_accepted() -> None:
    """Finite coordinates are told from NaN and infinities by one sum first: a sum that
    overflows, or a 2-D row's missing z beside a 3-D row, must not reject a good row."""
    huge = '"POLYGON ((1e308 0, 1.7e308 0, 1.7e308 1, 1e308 1, 1e308 0))"'
    flat_z = '"POLYGON ((0 0 0, 10 0 0, 10 10 0, 0 10 0, 0 0 0))"'
    data = (HEADER + row(wkt=huge) + row(building="2", wkt=flat_z) + row(building="3")).encode()
    assert len(read_proposals(data)) == 3
    bad = row(building="4", wkt='"POLYGON ((0 0, 1e308 0, 1e308 inf, 0 1, 0 0))"')
    error = only_error(data + bad.encode())
    assert (error.line, "NaN or infinite" in error.reason) == (5, True)


@pytest.mark.parametrize("value", ["high", "", "1,5", "nan", "inf", "-inf"])
def test_bad_confidence(value: str) -> None:
    text = f'"{value}"' if "," in value else value
    error = only_error((HEADER + row(confidence="0.5") + row(confidence=text)).encode())
    assert (error.line, error.column) == (3, "Confidence")
    assert ("not finite" if value in ("nan", "inf", "-inf") else "not a number") in error.reason


@pytest.mark.parametrize("value", ["1.5", "x", "", "nan", "1e400", "-1.25"])
def test_bad_building_id(value: str) -> None:
    error = only_error((HEADER + row(building=value)).encode())
    assert (error.line, error.column) == (2, "BuildingId")
    assert "not an integer" in error.reason


def test_integer_like_building_ids_are_accepted() -> None:
    data = (HEADER + row(building="2.0") + row(building="-1") + row(building=" 7 ")).encode()
    assert read_proposals(data).building_id.tolist() == [2, -1, 7]


def test_large_building_id_is_kept_exactly() -> None:
    """Ids are parsed as integers, never through float64 (which rounds above 2**53)."""
    data = (HEADER + row(building="9007199254740993")).encode()
    assert read_proposals(data).building_id.tolist() == [9007199254740993]


def test_empty_image_id() -> None:
    error = only_error((HEADER + row() + row(image="  ")).encode())
    assert (error.line, error.column, error.reason) == (3, "ImageId", "empty ImageId")


def test_every_bad_row_is_listed_in_line_order() -> None:
    data = (
        HEADER
        + row(confidence="x")  # 2
        + row()  # 3
        + row(wkt='"POINT (0 0)"')  # 4
        + row(building="b", confidence="y")  # 5: first problem of the row only
    ).encode()
    errors = errors_of(data)
    assert [(e.line, e.column) for e in errors] == [
        (2, "Confidence"),
        (4, "PolygonWKT_Pix"),
        (5, "BuildingId"),
    ]


def test_error_count_is_capped_but_totalled() -> None:
    n = InputError.MAX_KEPT + 100
    data = (HEADER + "".join(row(building="x") for _ in range(n))).encode()
    with pytest.raises(InputError) as info:
        read_proposals(data)
    err = info.value
    assert (len(err.problems), err.total) == (InputError.MAX_KEPT, n)
    assert f"{n} bad rows" in str(err)
    assert f"and {n - InputError.SHOWN} more bad rows" in str(err)


def test_non_utf8_bytes_name_their_line() -> None:
    data = (HEADER + row() + row(image="AOI_2_Vegas_img2")).encode()
    data += row(image="AOI_2_Vegas_imgX").encode().replace(b"imgX", b"img\xe9")
    error = only_error(data)
    assert error.line == 4 and "not UTF-8" in error.reason and "0xe9" in error.reason
    assert only_error(gzip.compress(data)).line == 4


def test_repeated_header_rows_in_the_middle() -> None:
    data = (HEADER + row() + HEADER + row(building="2") + HEADER).encode()
    errors = errors_of(data)
    assert [(e.line, e.reason) for e in errors] == [
        (3, "repeated header row"),
        (5, "repeated header row"),
    ]
    table = read_proposals(data, on_error="skip")
    assert table.line.tolist() == [2, 4]


def test_ragged_rows_fall_back_to_exact_line_numbers() -> None:
    multiline = '"POLYGON ((0 0, 10 0,\n10 10, 0 10, 0 0))"'
    data = (
        HEADER
        + row()  # 2
        + "\n"  # 3: blank
        + row(building="2", wkt=multiline)  # 4-5: a quoted newline
        + "\n\n"  # 6, 7
        + f"AOI_2_Vegas_img1,3,{SQUARE}\n"  # 8: 3 fields
        + row(building="4")  # 9
        + row(building="5").replace("\n", ",extra\n")  # 10: 5 fields
        + row(building="6")  # 11
    ).encode()
    errors = errors_of(data)
    assert [(e.line, e.reason) for e in errors] == [
        (8, "expected 4 fields, found 3"),
        (10, "expected 4 fields, found 5"),
    ]
    table = read_proposals(data, on_error="skip")
    assert table.line.tolist() == [2, 4, 9, 11]
    assert table.building_id.tolist() == [1, 2, 4, 6]
    assert [(e.line, e.reason) for e in table.skipped] == [(e.line, e.reason) for e in errors]


@pytest.mark.parametrize("blank", ["middle", "end"])
def test_blank_lines_are_ignored(blank: str) -> None:
    """Arrow would read a blank line as a row of empty strings: the exact reader skips it."""
    if blank == "middle":
        data, lines = HEADER + row() + "\n" + row(building="2"), [2, 4]
    else:  # a trailing empty line, as some tools write
        data, lines = HEADER + row() + row(building="2") + "\n\n", [2, 3]
    table = read_proposals(data.encode())
    assert table.line.tolist() == lines
    assert table.building_id.tolist() == [1, 2]


def test_quoted_newline_keeps_line_numbers() -> None:
    """Arrow parses quoted newlines, but then row i is no longer line i + 2."""
    multiline = '"POLYGON ((0 0, 10 0,\n10 10, 0 10, 0 0))"'
    data = (HEADER + row(wkt=multiline) + row(confidence="bad")).encode()
    error = only_error(data)
    assert (error.line, error.column) == (4, "Confidence")
    assert read_proposals(data.replace(b"bad", b"1")).line.tolist() == [2, 4]


def test_blank_lines_and_quoted_newlines_with_a_ragged_row() -> None:
    """With a ragged row Arrow fails, and the exact reader gets every line right."""
    multiline = '"POLYGON ((0 0, 10 0,\r\n10 10, 0 10, 0 0))"'
    data = (HEADER + "\n" + row(wkt=multiline) + "\n" + "a,b\n" + row(confidence="bad")).encode()
    errors = errors_of(data)
    assert [(e.line, e.column) for e in errors] == [(6, ""), (7, "Confidence")]


def test_unterminated_quote() -> None:
    data = (HEADER + row() + 'AOI_2_Vegas_img1,2,"POLYGON ((0 0, 1 0, 1 1, 0 0)),1\n').encode()
    error = only_error(data)
    assert error.line == 3


def test_max_vertices() -> None:
    many = ", ".join(f"{x} 0" for x in range(30)) + ", 29 5, 0 5, 0 0"
    data = (HEADER + row() + row(wkt=f'"POLYGON (({many}))"')).encode()
    error = only_error(data, max_vertices=32)
    assert (error.line, error.column) == (3, "PolygonWKT_Pix")
    assert "33 vertices exceed the limit of 32" in error.reason
    assert len(read_proposals(data, max_vertices=33)) == 2
    table = read_proposals(data, max_vertices=32, on_error="skip")
    assert table.line.tolist() == [2]


# -- skipping ----------------------------------------------------------------------------


def test_skip_drops_exactly_the_bad_rows() -> None:
    data = (
        HEADER
        + row(building="1")  # 2
        + row(building="2", wkt='"POLYGON ((0 0, 1 0"')  # 3
        + row(building="3")  # 4
        + row(building="x")  # 5
        + row(building="5", confidence="?")  # 6
        + row(building="6", wkt='"POINT (1 1)"')  # 7
        + row(building="7")  # 8
    ).encode()
    table = read_proposals(data, name="sub.csv", on_error="skip")
    assert table.building_id.tolist() == [1, 3, 7]
    assert table.line.tolist() == [2, 4, 8]
    assert [(e.line, e.column) for e in table.skipped] == [
        (3, "PolygonWKT_Pix"),
        (5, "BuildingId"),
        (6, "Confidence"),
        (7, "PolygonWKT_Pix"),
    ]
    assert all(e.file == "sub.csv" for e in table.skipped)
    assert errors_of(data) == list(table.skipped)  # the same rows, raised instead
    result = score(table, table)
    assert result.diagnostics["proposals"]["skipped_rows"] == 4


def test_skip_with_nothing_left_still_raises() -> None:
    data = (HEADER + row(building="x") + row(confidence="y")).encode()
    with pytest.raises(InputError) as info:
        read_proposals(data, on_error="skip")
    assert [e.line for e in info.value.problems] == [2, 3]


def test_on_error_is_validated() -> None:
    with pytest.raises(ValueError, match="on_error"):
        read_proposals((HEADER + row()).encode(), on_error="ignore")


# -- accepted variants -------------------------------------------------------------------


@pytest.mark.parametrize("name", ["SN2_sample_truth.csv", "SN2_sample_preds.csv"])
def test_gzip_equals_plain(name: str, tmp_path) -> None:
    plain = (SAMPLES / name).read_bytes()
    path = tmp_path / f"{name}.gz"
    path.write_bytes(gzip.compress(plain))
    a, b = read_proposals(SAMPLES / name), read_proposals(path)
    assert_same_table(a, b)
    assert_same_table(a, read_proposals(io.BytesIO(gzip.compress(plain))))
    assert b.name == str(path)


GOOD = (HEADER + row() + row(building="2")).encode()
CORRUPT_GZIP = corrupt_gzip(GOOD)
TRUTH_TABLE = PolygonTable.from_wkt(["AOI_2_Vegas_img1"], [1], [SQUARE.strip('"')])


def _read_truth(data: bytes) -> object:
    return read_truth(data, name="sub.csv")


def _read_proposals(data: bytes) -> object:
    return read_proposals(data, name="sub.csv")


def _score_as_truth(data: bytes) -> object:
    return score(data, TRUTH_TABLE)


def _score_as_proposals(data: bytes) -> object:
    return score(TRUTH_TABLE, data)


def _score_files_as_truth(data: bytes) -> object:
    return score_files(data, GOOD)


def _score_files_as_proposals(data: bytes) -> object:
    return score_files(GOOD, data)


ENTRY_POINTS = [
    _read_truth,
    _read_proposals,
    _score_as_truth,
    _score_as_proposals,
    _score_files_as_truth,
    _score_files_as_proposals,
]


@pytest.mark.parametrize("entry", ENTRY_POINTS, ids=lambda f: f.__name__.strip("_"))
@pytest.mark.parametrize("case", sorted(CORRUPT_GZIP))
def test_corrupt_gzip_is_an_input_error_everywhere(case: str, entry) -> None:
    """Whatever zlib or gzip raise inside (zlib.error, EOFError, BadGzipFile), every entry
    point reports one whole-file problem (issue #13)."""
    with pytest.raises(InputError) as info:
        entry(CORRUPT_GZIP[case])
    (problem,) = info.value.problems
    assert problem.file in ("sub.csv", "<bytes>") and problem.line == 0
    assert problem.reason.startswith("corrupt gzip data: ")


def test_gzip_members_are_read_as_one_file() -> None:
    """``cat a.csv.gz b.csv.gz`` is a valid gzip file: its members are one CSV, and line
    numbers run on across them."""
    more = (row(building="3") + row(building="4")).encode()
    joined = read_proposals(gzip.compress(GOOD) + gzip.compress(more))
    assert_same_table(joined, read_proposals(GOOD + more))
    padded = read_proposals(gzip.compress(GOOD) + b"\0" * 512)  # tape-style zero padding
    assert_same_table(padded, read_proposals(GOOD))
    error = only_error(gzip.compress(GOOD) + gzip.compress(GOOD))
    assert (error.line, error.reason) == (4, "repeated header row")


def test_gzip_bomb_stops_at_the_limit() -> None:
    """A small file that inflates past ``max_bytes`` is refused as soon as the output passes
    the limit, without inflating the rest."""
    bomb = gzip.compress(GOOD + b" " * (64 << 20), compresslevel=9)
    assert len(bomb) < 100_000
    tracemalloc.start()
    try:
        with pytest.raises(InputError) as info:
            read_proposals(bomb, name="bomb.csv.gz", max_bytes=1 << 20)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    (problem,) = info.value.problems
    assert (problem.file, problem.line) == ("bomb.csv.gz", 0)
    assert problem.reason == "gzip data decompresses to more than the limit of 1048576 bytes"
    assert peak < 8 << 20  # inflating it all would hold 64 MiB
    assert len(read_proposals(bomb, max_bytes=65 << 20)) == 2  # under a higher limit: read


def test_max_bytes_applies_to_plain_files_too(tmp_path) -> None:
    path = tmp_path / "p.csv"
    path.write_bytes(GOOD)
    for source in (lambda: path, lambda: GOOD, lambda: io.BytesIO(GOOD)):
        with pytest.raises(InputError, match=f"exceeds the limit of {len(GOOD) - 1} bytes"):
            read_proposals(source(), max_bytes=len(GOOD) - 1)
        assert len(read_proposals(source(), max_bytes=len(GOOD))) == 2


def test_crlf_bom_extra_columns_and_column_order() -> None:
    plain = read_proposals((HEADER + row() + row(building="-1", wkt="POLYGON EMPTY")).encode())
    crlf = (HEADER + row() + row(building="-1", wkt="POLYGON EMPTY")).replace("\n", "\r\n")
    assert_same_table(plain, read_proposals(crlf.encode()))
    assert_same_table(plain, read_proposals(b"\xef\xbb\xbf" + crlf.encode()))
    shuffled = (
        "Note,Confidence,PolygonWKT_Pix,Extra,BuildingId,ImageId\n"
        f"a,0.9,{SQUARE},,1,AOI_2_Vegas_img1\n"
        'b "c",0.9,POLYGON EMPTY,"x,y",-1,AOI_2_Vegas_img1\n'
    )
    assert_same_table(plain, read_proposals(shuffled.encode()))


@pytest.mark.parametrize(
    "header",
    [
        "ImageId,BuildingId,PolygonWKT_Pix,Note,Note",  # a duplicated extra column
        " ImageId , BuildingId,PolygonWKT_Pix,Note",  # spaces around names
        '"ImageId","BuildingId","PolygonWKT_Pix",Note',  # quoted names
        "ImageId,BuildingId,PolygonWKT_Pix,,",  # unnamed columns
    ],
)
def test_header_variants(header: str) -> None:
    extra = "," * (header.count(",") - 2)
    table = read_truth(f"{header}\nAOI_2_Vegas_img1,1,{SQUARE}{extra}\n".encode())
    assert (table.image_id.tolist(), table.line.tolist()) == (["AOI_2_Vegas_img1"], [2])


def test_truth_without_confidence_and_with_geo_column() -> None:
    data = (
        b"ImageId,BuildingId,PolygonWKT_Pix,PolygonWKT_Geo\n"
        b'AOI_2_Vegas_img1,1,"POLYGON ((0 0 0, 10 0 0, 10 10 0, 0 10 0, 0 0 0))","POINT (1 1)"\n'
    )
    table = read_truth(data)
    assert table.confidence is None
    assert table.geometry[0].area == 100  # z is ignored: areas are 2-D


def test_sources_path_str_bytes_and_stream(tmp_path) -> None:
    data = (HEADER + row()).encode()
    path = tmp_path / "p.csv"
    path.write_bytes(data)
    tables = [
        read_proposals(path),
        read_proposals(str(path)),
        read_proposals(data),
        read_proposals(io.BytesIO(data)),
    ]
    for t in tables[1:]:
        assert_same_table(tables[0], t)
    assert tables[0].name == str(path) and tables[2].name == "<bytes>"


# -- PolygonTable.from_wkt ----------------------------------------------------------------


def test_from_wkt_validates_like_a_file() -> None:
    square = SQUARE.strip('"')
    table = PolygonTable.from_wkt(["a", "b"], [1, -1], [square, "POLYGON EMPTY"], [0.5, 1])
    assert (table.name, table.line.tolist(), table.image_ids) == ("<memory>", [1, 2], ["a", "b"])
    assert table.confidence.tolist() == [0.5, 1.0]
    with pytest.raises(InputError) as info:
        PolygonTable.from_wkt(
            ["a", "b", "c"], [1, "x", 3], [square, square, "POINT (1 1)"], name="mine"
        )
    assert [(e.file, e.line, e.column) for e in info.value.problems] == [
        ("mine", 2, "BuildingId"),
        ("mine", 3, "PolygonWKT_Pix"),
    ]
    with pytest.raises(InputError, match="not finite"):
        PolygonTable.from_wkt(["a"], [1], [square], [float("nan")])
    with pytest.raises(InputError, match="no rows"):
        PolygonTable.from_wkt([], [], [])
    with pytest.raises(InputError, match="exceed the limit"):
        PolygonTable.from_wkt(["a"], [1], [square], max_vertices=4)


def test_from_wkt_rejects_columns_of_different_lengths() -> None:
    square = SQUARE.strip('"')
    with pytest.raises(ValueError, match="length"):
        PolygonTable.from_wkt(["a", "b"], [1], [square, square])


# -- BuildingId and Confidence: Arrow's cast where it reads as Python does ----------------

#: texts Python's int() / float() read otherwise than Arrow's cast, or that Arrow refuses
ODD_NUMBERS = [
    " 7",
    "7 ",
    "+3",
    "1_000",
    "\u0663",  # an Arabic-Indic digit: int() and float() take it
    "inf",
    "-Infinity",
    "nan",
    "2.0",
    "1e3",
    "9223372036854775808",
    "-9223372036854775809",
    "",
    "0x10",  # Arrow reads it as 16
    "nan(1)",  # Arrow reads it as NaN
    "1.5.3",
    "1e",
    "--1",
    ".",
]


def plain_integers() -> st.SearchStrategy[str]:
    return st.one_of(
        st.integers(-(2**63), 2**63 - 1).map(str),
        st.integers(0, 10**6).map(lambda v: f"00{v}"),
        st.just("-0"),
    )


def plain_decimals() -> st.SearchStrategy[str]:
    """Number texts in the plain grammar, in the notations writers use."""
    floats = st.floats(allow_nan=False, allow_infinity=False)
    return st.one_of(
        plain_integers(),
        floats.map(repr),
        floats.map(lambda v: f"{v:.17g}"),
        floats.map(lambda v: f"{v:e}"),
        floats.map(lambda v: f"{v:.3f}"),
        st.sampled_from(["0.", ".5", "5.", "-.25", "1e400", "-1e-400", "4.9e-324"]),
    )


def number_table(ids: list[str], confidences: list[str], arrow: bool):
    n = len(ids)

    def column(values: list[str]):
        return pa.array(values, pa.string()) if arrow else np.array(values, dtype=object)

    columns = {
        "ImageId": np.array(["AOI_2_Vegas_img1"] * n, dtype=object),
        "BuildingId": column(ids),
        "PolygonWKT_Pix": column([SQUARE.strip('"')] * n),
        "Confidence": column(confidences),
    }
    lines = np.arange(2, 2 + n, dtype=np.int64)
    return build_table(
        columns, lines, name="f.csv", on_error="skip", max_vertices=100, allow_empty=True
    )


def number_rows(ids: st.SearchStrategy[str], confidences: st.SearchStrategy[str]):
    return st.lists(st.tuples(ids, confidences), min_size=1, max_size=8).map(
        lambda rows: ([i for i, _ in rows], [c for _, c in rows])
    )


ODD = st.sampled_from(ODD_NUMBERS)


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        number_rows(st.one_of(plain_integers(), ODD), plain_decimals()),
        number_rows(plain_integers(), st.one_of(plain_decimals(), ODD)),
        number_rows(st.one_of(plain_decimals(), ODD), st.one_of(plain_decimals(), ODD)),
    )
)
def test_numbers_cast_by_arrow_read_as_python_reads_them(rows) -> None:
    """The same ids, confidences (bit for bit) and errors whether the columns come as
    Arrow strings (cast by Arrow when every text is plain) or as Python strings."""
    fast, exact = number_table(*rows, arrow=True), number_table(*rows, arrow=False)
    assert fast.skipped == exact.skipped
    assert fast.building_id.tolist() == exact.building_id.tolist()
    assert fast.confidence.view(np.int64).tolist() == exact.confidence.view(np.int64).tolist()


@settings(max_examples=50, deadline=None)
@given(number_rows(plain_integers(), plain_decimals()))
def test_plain_numbers_are_cast_by_arrow(rows) -> None:
    """Columns of plain numbers never become Python strings: the fast path is taken."""
    from geoarena.evaluator import table as table_module

    made: list[int] = []
    to_strings = table_module._strings

    def spy(column):
        if isinstance(column, pa.Array):
            made.append(len(column))
        return to_strings(column)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(table_module, "_strings", spy)
        number_table(*rows, arrow=True)
    assert made == [], "a plain column went through Python's int() / float()"


def test_an_integer_beyond_int64_is_an_error_with_arrow_strings() -> None:
    """Arrow refuses the cast; Python's reading then names the row."""
    table = number_table(["1", "9223372036854775808"], ["0.5", "0.5"], arrow=True)
    (problem,) = table.skipped
    assert (problem.line, problem.column) == (3, "BuildingId")
    assert problem.reason == "not an integer: '9223372036854775808'"


# -- Arrow (fast) vs csv module (exact) --------------------------------------------------

WKTS = [
    "POLYGON ((0 0, 10 0, 10 10, 0 10, 0 0))",
    "POLYGON ((1.5 2.25 0, 11 2 0, 11 12.125 0, 1.5 2.25 0))",
    "POLYGON Z ((0 0 0, 4 0 0, 4 5 0, 0 0 0))",
    "MULTIPOLYGON (((0 0, 1 0, 1 1, 0 0)), ((5 5, 9 5, 9 9, 5 5)))",
    "POLYGON ((0 0, 40 0, 40 40, 0 40, 0 0), (5 5, 35 5, 35 35, 5 35, 5 5))",
    "POLYGON ((0 0,20 20,20 0,0 20,0 0))",
    "POLYGON EMPTY",
]
text = st.text(
    st.characters(codec="utf-8", exclude_categories=["Cs", "Cc", "Zl", "Zp"]), max_size=12
)


@st.composite
def csv_files(draw) -> tuple[bytes, list[str]]:
    """A clean CSV (no blank lines, no newlines in fields) with random quoting, line
    endings, column order, extra columns and values."""
    columns = list(REQUIRED)
    if draw(st.booleans()):
        columns.append("Confidence")
    columns += draw(st.lists(st.sampled_from(["PolygonWKT_Geo", "Note", "x y"]), unique=True))
    columns = draw(st.permutations(columns))
    n = draw(st.integers(1, 12))
    values = {
        "ImageId": st.one_of(
            st.sampled_from(["AOI_2_Vegas_img1", "AOI_5_Khartoum_img9", "a b"]),
            text.filter(lambda s: s.strip() and s.strip() not in ("ImageId",)),
        ),
        "BuildingId": st.integers(-1, 10**6).map(str),
        "PolygonWKT_Pix": st.sampled_from(WKTS),
        "Confidence": st.one_of(
            st.floats(-1e6, 1e6, allow_nan=False).map(repr),
            st.floats(0, 1).map(lambda v: f"{v:.3g}"),
            st.integers(0, 5).map(str),
        ),
        "PolygonWKT_Geo": st.sampled_from(WKTS),
        "Note": text,
        "x y": text,
    }
    rows = [[draw(values[c]) for c in columns] for _ in range(n)]
    quoting = draw(st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL]))
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    out = io.StringIO()
    writer = csv.writer(out, quoting=quoting, lineterminator=newline)
    writer.writerow(columns)
    writer.writerows(rows)
    return out.getvalue().encode(), columns


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(csv_files())
def test_arrow_and_python_readers_agree(file) -> None:
    data, header = file
    wanted = [c for c in (*REQUIRED, "Confidence") if c in header]
    fast = {c: take_rows(v, None) for c, v in _arrow_columns(data, header, wanted).items()}
    exact, lines, errors = _columns_python(data, header, wanted, "f.csv")
    assert errors == []
    assert list(fast) == list(exact) == wanted
    for c in wanted:
        assert fast[c].tolist() == exact[c].tolist(), c
    assert lines.tolist() == list(range(2, 2 + len(lines)))

    def table(columns):
        return build_table(columns, lines, name="f.csv", on_error="raise", max_vertices=100)

    assert_same_table(table(fast), table(exact))
    assert_same_table(table(fast), read_proposals(data))


def test_arrow_parses_memory_it_owns() -> None:
    """Arrow's workers release the parser's input after read_csv returns; a Python-owned
    input then needs the GIL, and at interpreter exit that aborted ``geoarena score``
    (SIGABRT, "terminate called without an active exception")."""
    data = (HEADER + row()).encode() * 100
    before = pa.total_allocated_bytes()
    wrapped = pa.py_buffer(data)  # what the reader used to hand Arrow: the bytes themselves
    assert pa.total_allocated_bytes() == before and wrapped.to_pybytes() == data
    copy = _arrow_copy(data)  # allocated from Arrow's memory pool
    assert pa.total_allocated_bytes() - before >= len(data) and copy.to_pybytes() == data


def test_exact_reader_accepts_large_polygons() -> None:
    n = 12_000  # under DEFAULT_MAX_VERTICES, ~190 kB of WKT
    ring = [f"{k % 97}.{k:06d} {k // 97}.5" for k in range(n)]
    big = '"POLYGON ((' + ", ".join([*ring, ring[0]]) + '))"'
    clean = HEADER + row(wkt=big) + row(building="2")
    assert read_proposals(clean.encode()).line.tolist() == [2, 3]  # Arrow path: fine
    with_blank = HEADER + row(wkt=big) + "\n" + row(building="2")
    table = read_proposals(with_blank.encode())
    assert table.line.tolist() == [2, 4]


@st.composite
def messy_files(draw) -> tuple[bytes, list[int], list[str]]:
    """Rows with blank lines between them and newlines inside quoted fields; returns the
    file, each row's first line and its BuildingId."""
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    lines = [f"ImageId,BuildingId,PolygonWKT_Pix,Note{newline}"]
    line, starts, ids = 2, [], []
    for k in range(draw(st.integers(1, 10))):
        for _ in range(draw(st.integers(0, 2))):
            lines.append(newline)
            line += 1
        note = draw(st.sampled_from(["", "plain", "two\nlines", "a,\r\nb\nc"]))
        wkt = draw(st.sampled_from([SQUARE, SQUARE.replace(", ", ",\n")]))
        out = io.StringIO()
        csv.writer(out, lineterminator=newline).writerow(["AOI_2_Vegas_img1", k, wkt[1:-1], note])
        text = out.getvalue()
        lines.append(text)
        starts.append(line)
        ids.append(k)
        line += text.count("\n")
    return "".join(lines).encode(), starts, ids


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(messy_files())
def test_line_numbers_survive_blank_lines_and_quoted_newlines(file) -> None:
    data, starts, ids = file
    table = read_truth(data)
    assert table.building_id.tolist() == ids
    assert table.line.tolist() == starts
    bad = data.replace(b"AOI_2_Vegas_img1,0,", b"AOI_2_Vegas_img1,x,", 1)
    error = only_error(bad, reader=read_truth)
    assert (error.line, error.column) == (starts[0], "BuildingId")


def test_lone_carriage_return_in_a_quoted_field() -> None:
    data = (
        "ImageId,BuildingId,PolygonWKT_Pix,Note\n"
        f'AOI_2_Vegas_img1,1,{SQUARE},"a\rb"\n'
        f"AOI_2_Vegas_img1,2,{SQUARE},c\n"
    ).encode()
    header = ["ImageId", "BuildingId", "PolygonWKT_Pix", "Note"]
    _, exact_lines, _ = _columns_python(data, header, list(REQUIRED), "f.csv")
    assert exact_lines.tolist() == [2, 4]
    assert read_truth(data).line.tolist() == exact_lines.tolist()  # got [2, 3]
