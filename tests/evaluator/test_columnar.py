"""Arrow helpers: reading rows and null masks without Arrow's compute kernels."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pyarrow as pa
from hypothesis import given
from hypothesis import strategies as st

from geoarena.evaluator.arrow_columns import any_empty, non_null, take_arrow, take_values
from geoarena.evaluator.synthetic import make_pair

#: a column of 300 strings in three Arrow chunks (a CSV read gives chunked columns)
CHUNKS = ((0, 7), (7, 150), (150, 300))
COLUMN = pa.chunked_array([[f"v{i}" for i in range(a, b)] for a, b in CHUNKS])


@given(
    rows=st.lists(st.integers(0, 299), max_size=300),
    order=st.sampled_from(["sorted", "as drawn"]),
    gap=st.integers(1, 40),
)
def test_taking_rows_equals_indexing(rows: list[int], order: str, gap: int) -> None:
    """Any rows (runs, gaps, scattered, repeated, unordered) give the values at them."""
    if order == "sorted":
        rows = sorted(set(rows))
    else:  # stretches of consecutive rows, as an image's rows are in a file
        rows = [r for start in rows for r in range(start, min(start + gap, 300))]
    picked = np.asarray(rows, dtype=np.int64)
    got = take_values(COLUMN, picked)
    assert got.dtype == object and got.tolist() == [f"v{r}" for r in rows]
    assert take_values(COLUMN.chunk(1), picked[picked < 143]).tolist() == [
        f"v{r + 7}" for r in rows if r < 143
    ]
    # as one Arrow array: sliced by runs across the chunks, or taken
    arrow = take_arrow(COLUMN, picked)
    assert isinstance(arrow, pa.StringArray) and arrow.to_pylist() == [f"v{r}" for r in rows]
    assert take_arrow(COLUMN.chunk(1), picked[picked < 143]).to_pylist() == [
        f"v{r + 7}" for r in rows if r < 143
    ]


@given(st.lists(st.lists(st.sampled_from(["", "a", "bc"]), max_size=6), max_size=4))
def test_any_empty_reads_the_offsets(chunks: list[list[str]]) -> None:
    column = pa.chunked_array([pa.array(c, pa.string()) for c in chunks], pa.string())
    assert any_empty(column) == any(v == "" for c in chunks for v in c)
    if len(column) > 1:  # a sliced chunk starts inside its offsets buffer
        assert any_empty(column.slice(1)) == ("" in column.to_pylist()[1:])


def test_non_null_reads_the_validity_bitmap() -> None:
    column = pa.array([b"a", None, b"c", None, None, b"f", b"g", None, b"i"])
    assert non_null(column).tolist() == [v is not None for v in column.to_pylist()]
    assert non_null(column.slice(3, 5)).tolist() == [False, False, True, True, False]
    assert non_null(pa.array([b"x", b"y"])).tolist() == [True, True]
    assert non_null(pa.nulls(3, pa.binary())).tolist() == [False] * 3


def test_scoring_never_imports_the_compute_kernels(tmp_path) -> None:
    """Every forked worker would pay ~35 ms to import them: a score from CSVs and from a
    prepared truth, in chunks of interleaved images (every other image of 1,000), reads
    its rows by slices."""
    truth, props, stored = tmp_path / "truth.csv", tmp_path / "props.csv", tmp_path / "t.prep"
    for path, data in zip((truth, props), make_pair(1000, 8, seed=3), strict=True):
        path.write_bytes(data)
    code = (
        "import sys\n"
        "from geoarena.evaluator import PreparedTruth\n"
        "from geoarena.evaluator.parallel import score_files\n"
        "from geoarena.evaluator.stored import load_prepared, save_prepared\n"
        f"truth, props, stored = {str(truth)!r}, {str(props)!r}, {str(stored)!r}\n"
        "a = score_files(truth, props, workers=1)\n"
        "save_prepared(PreparedTruth(truth), stored)\n"
        "b = score_files(load_prepared(stored), props, workers=1)\n"
        "assert a.micro == b.micro and a.micro.tp > 0, (a.micro, b.micro)\n"
        "print(len(a.images), 'pyarrow.compute' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.split() == ["1000", "False"]
