"""CI-sized fuzzing of the readers and the scorer (the long runs: ``fuzz/fuzz_readers.py``).

Two generators feed the one property of :func:`fuzzing.check` (a result or an
:class:`InputError`, never another exception; both scoring paths agree):

* byte level: a seed CSV (conformance cases, samples) under random byte, token, number
  and line mutations, in a plain or a broken gzip envelope;
* structured: CSV files written field by field, with odd headers, quoting, line endings,
  numbers (NaN, overflow, huge ids) and WKT (every geometry type, Z, unclosed, empty).

Every input that once escaped as another exception is kept as an ``@example``.
"""

from __future__ import annotations

import base64
import csv
import gzip
import io
import os
from typing import Literal

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from .fuzzing import ENVELOPES, KINDS, NUMBERS, TOKENS, Pair, Step, check, mutate, pairs, wrap
from .fuzzing import seeds as seed_files
from .helpers import PRESET_NAMES

#: raise for a deeper hunt, e.g. GEOARENA_FUZZ_EXAMPLES=20000 pytest tests/evaluator/test_fuzz.py
EXAMPLES = int(os.environ.get("GEOARENA_FUZZ_EXAMPLES", "250"))
SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

#: issue #13: a corrupt deflate block raised zlib.error out of the reader.
ZLIB_ERROR = base64.b64decode("H4sIMTNLAAAAAAAAACA1OAAK")

steps = st.builds(
    Step,
    kind=st.sampled_from(KINDS),
    at=st.integers(0, 1 << 16),
    size=st.integers(0, 63),
    payload=st.one_of(st.sampled_from(TOKENS), st.binary(min_size=1, max_size=8)),
)
partners = st.sampled_from(pairs())
presets = st.sampled_from(PRESET_NAMES)


@st.composite
def mutated_seeds(draw: st.DrawFn) -> bytes:
    seed = draw(st.sampled_from(seed_files()))
    data = mutate(seed, draw(st.lists(steps, min_size=1, max_size=6)))
    return wrap(data, draw(st.sampled_from(ENVELOPES)), draw(st.integers(0, 1 << 16)))


@SETTINGS
@given(mutated_seeds(), partners, presets, st.booleans())
@example(ZLIB_ERROR, pairs()[0], "deepglobe", False)
def test_mutated_files_are_scored_or_rejected(
    data: bytes, pair: Pair, preset: str, skip: bool
) -> None:
    check(data, pair, preset, skip=skip)


# -- structured: CSVs written field by field -----------------------------------------------

odd_numbers = st.sampled_from([n.decode() for n in NUMBERS])
numbers = st.one_of(
    st.integers(-5, 130).map(str),
    st.floats(-1.0, 700.0).map(lambda v: f"{v:.3f}"),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    odd_numbers,
)


@st.composite
def rings(draw: st.DrawFn, z: bool) -> str:
    n = draw(st.integers(0, 6))
    points = [[draw(numbers) for _ in range(3 if z else 2)] for _ in range(n)]
    closed = draw(st.integers(0, 4)) > 0  # usually
    if points and closed:
        points.append(points[0])
    return "(" + ", ".join(" ".join(p) for p in points) + ")"


@st.composite
def polygons(draw: st.DrawFn, z: bool) -> str:
    """A shell and up to two holes."""
    return "(" + ", ".join(draw(st.lists(rings(z), min_size=1, max_size=3))) + ")"


@st.composite
def wkts(draw: st.DrawFn) -> str:
    z = draw(st.booleans())
    kind = draw(
        st.sampled_from(
            ["POLYGON"] * 4 + ["MULTIPOLYGON", "EMPTY", "POINT", "LINESTRING", "COLLECTION", "junk"]
        )
    )
    tag = " Z" if z and draw(st.booleans()) else ""
    polygon = draw(polygons(z))
    if kind == "POLYGON":
        return f"POLYGON{tag} {polygon}"
    if kind == "MULTIPOLYGON":
        parts = [polygon, *draw(st.lists(polygons(z), max_size=2))]
        return f"MULTIPOLYGON{tag} ({', '.join(parts)})"
    if kind == "EMPTY":
        return draw(st.sampled_from(["POLYGON EMPTY", "MULTIPOLYGON EMPTY", "POLYGON Z EMPTY"]))
    if kind == "POINT":
        return f"POINT ({draw(numbers)} {draw(numbers)})"
    if kind == "LINESTRING":
        return f"LINESTRING {draw(rings(z))}"
    if kind == "COLLECTION":
        return f"GEOMETRYCOLLECTION (POLYGON {polygon})"
    return draw(st.sampled_from(["POLYGON ((", "POLYGON (0 0, 1 1)", "POLYGON ((0 0))", ""]))


@st.composite
def csv_files(draw: st.DrawFn, pair: Pair) -> bytes:
    """A CSV whose rows mostly name the partner's images, with odd values in every column."""
    columns = ["ImageId", "BuildingId", "PolygonWKT_Pix"]
    if draw(st.booleans()):
        columns.append("Confidence")
    columns += draw(st.lists(st.sampled_from(["PolygonWKT_Geo", "Note", "ImageId"]), max_size=2))
    columns = draw(st.permutations(columns))
    images = pair.truth_table.image_ids
    values = {
        "ImageId": st.one_of(st.sampled_from(images), st.text(max_size=8)),
        "BuildingId": st.one_of(st.integers(-1, 40).map(str), odd_numbers),
        "PolygonWKT_Pix": wkts(),
        "Confidence": numbers,
        "PolygonWKT_Geo": wkts(),
        "Note": st.text(max_size=6),
    }
    rows = [[draw(values[c]) for c in columns] for _ in range(draw(st.integers(0, 8)))]
    out = io.StringIO()
    quoting: Literal[0, 1, 2] = draw(
        st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL, csv.QUOTE_NONNUMERIC])
    )
    newline = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    writer = csv.writer(out, quoting=quoting, lineterminator=newline)
    writer.writerow(columns)
    for row in rows:
        writer.writerow(row)
        if draw(st.integers(0, 9)) == 0:
            out.write(newline)  # a blank line
    data = out.getvalue().encode()
    if draw(st.integers(0, 5)) == 0:
        data = b"\xef\xbb\xbf" + data
    return gzip.compress(data, mtime=0) if draw(st.integers(0, 5)) == 0 else data


@st.composite
def structured(draw: st.DrawFn) -> tuple[bytes, Pair]:
    pair = draw(partners)
    return draw(csv_files(pair)), pair


@SETTINGS
@given(structured(), presets, st.booleans())
def test_written_files_are_scored_or_rejected(
    file: tuple[bytes, Pair], preset: str, skip: bool
) -> None:
    data, pair = file
    check(data, pair, preset, skip=skip)
