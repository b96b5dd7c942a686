"""Arrow columns read into numpy and built from it, without pandas or ``pyarrow.compute``.

pyarrow's own conversions import pandas (``pa.array`` and ``to_numpy`` check for its
types: ~0.3 s) or the compute module (``take``, ``is_valid``: ~35 ms), once per process
and again in every forked worker that reads a chunk. These read and write the buffers
directly; the few compute kernels needed go through ``pyarrow._compute`` (~5 ms).
"""

from __future__ import annotations

from typing import Any, cast

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray
from pyarrow import _compute

from .arrays import BoolArray, IntArray, ObjectArray, object_array

#: the Arrow number types these columns use and their numpy dtypes
_NUMPY_TYPES = {"int32": np.int32, "int64": np.int64, "double": np.float64}


def numeric_column(values: NDArray[Any]) -> pa.Array[Any]:
    """An Arrow column over a numpy array of numbers or booleans, built from its buffer:
    ``pa.array`` would import pandas (~0.3 s) to check whether it was given a DataFrame."""
    if values.dtype == np.bool_:
        bits = np.packbits(values, bitorder="little")
        return pa.Array.from_buffers(pa.bool_(), len(values), [None, pa.py_buffer(bits.tobytes())])
    kind = pa.from_numpy_dtype(values.dtype)
    data = pa.py_buffer(np.ascontiguousarray(values).tobytes())
    return pa.Array.from_buffers(kind, len(values), [None, data])


def binary_column(values: NDArray[Any]) -> pa.Array[Any]:
    """An Arrow binary column from an object array of bytes, built from one joined buffer
    (several times faster than converting 100,000 Python objects one by one)."""
    return _from_joined(pa.large_binary(), values, large=True)


def _from_joined(kind: pa.DataType, values: NDArray[Any], *, large: bool) -> pa.Array[Any]:
    """A variable-length column (``kind``) of the bytes in ``values``; None is null."""
    missing = np.fromiter((v is None for v in values), dtype=bool, count=len(values))
    present = values[~missing].tolist()
    lengths = np.zeros(len(values), dtype=np.int64)
    lengths[~missing] = np.fromiter(map(len, present), dtype=np.int64, count=len(present))
    offsets = np.zeros(len(values) + 1, dtype=np.int64 if large else np.int32)
    np.cumsum(lengths, out=offsets[1:])
    validity = (
        pa.py_buffer(np.packbits(~missing, bitorder="little").tobytes()) if missing.any() else None
    )
    buffers = [validity, pa.py_buffer(offsets.tobytes()), pa.py_buffer(b"".join(present))]
    return pa.Array.from_buffers(kind, len(values), buffers, null_count=int(missing.sum()))


def string_column(values: ObjectArray) -> pa.Array[Any]:
    """A string column of an object array of str (None is null)."""
    encoded = np.empty(len(values), dtype=object)
    encoded[:] = [None if v is None else v.encode() for v in values.tolist()]
    return _from_joined(pa.string(), encoded, large=False)


def take_arrow(array: pa.Array[Any] | pa.ChunkedArray[Any], rows: IntArray | None) -> pa.Array[Any]:
    """The rows of an Arrow array (all of them for None) as one Arrow array, values
    untouched: what a reader that takes Arrow text (``wkt.parse_wkt``) is given.

    Increasing rows in few runs (a chunk's images, each a run of a file's rows) are
    sliced run by run and joined: Arrow's ``take`` on a chunked column joins all its
    chunks first, 10-50 ms the first time in a process for a 13 MB column, 2 ms this way.
    """
    if rows is None:
        pieces = [array]
    else:  # runs never come back empty: no rows are one empty slice
        taken = _runs(array, rows)
        pieces = taken or [_take(array, rows)]
    chunks = [c for p in pieces for c in (p.chunks if isinstance(p, pa.ChunkedArray) else [p])]
    return chunks[0] if len(chunks) == 1 else pa.concat_arrays(chunks)


def _take(
    array: pa.Array[Any] | pa.ChunkedArray[Any], rows: IntArray
) -> pa.Array[Any] | pa.ChunkedArray[Any]:
    """Arrow's ``take`` kernel, called through ``pyarrow._compute``."""
    taken: pa.Array[Any] | pa.ChunkedArray[Any] = _compute.call_function(
        "take", [array, numeric_column(rows.astype(np.int64))]
    )
    return taken


def _runs(
    array: pa.Array[Any] | pa.ChunkedArray[Any], rows: IntArray
) -> list[pa.Array[Any] | pa.ChunkedArray[Any]] | None:
    """Zero-copy slices of each run of consecutive ``rows``; None when the rows are not
    increasing or come in too many runs for slicing to pay."""
    if len(rows) == 0:
        return [array.slice(0, 0)]
    step = np.diff(rows)
    if not (step > 0).all():
        return None
    starts = np.concatenate([[0], np.flatnonzero(step != 1) + 1])
    if len(starts) >= max(len(rows) // _MIN_RUN, _FEW_RUNS):
        return None
    lengths = np.diff(np.append(starts, len(rows)))
    return [
        array.slice(first, n)
        for first, n in zip(rows[starts].tolist(), lengths.tolist(), strict=True)
    ]


def decode_strings(
    column: pa.DictionaryArray[Any, Any] | None, *, strip: bool = False
) -> ObjectArray:
    """A dictionary column decoded into an object array of str (stripped of surrounding
    whitespace with ``strip``): one Python string per distinct value."""
    if column is None:
        return np.empty(0, dtype=object)
    names = np.empty(len(column.dictionary), dtype=object)
    values = column.dictionary.to_pylist()
    names[:] = [str(v).strip() for v in values] if strip else values
    return np.asarray(names[column_values(column.indices).astype(np.int64)])


def dictionary_encode(column: pa.Array[Any] | pa.ChunkedArray[Any]) -> pa.DictionaryArray[Any, Any]:
    """A column as one dictionary array (Arrow's kernel, through ``pyarrow._compute``)."""
    encoded: pa.DictionaryArray[Any, Any] = _compute.call_function(
        "dictionary_encode", [take_arrow(column, None)]
    )
    return encoded


def take_values(array: pa.Array[Any] | pa.ChunkedArray[Any], rows: IntArray) -> ObjectArray:
    """The Python values of an Arrow array at ``rows`` (an object array), without Arrow's
    compute kernels.

    ``take`` copies the rows first (and ``Array.take`` imports ``pyarrow.compute``, ~35 ms
    in every forked worker that reads a chunk). Rows given in increasing order usually come in runs
    (an image's rows stand together in a file; a score asks a stored truth for most of
    each image's polygons): each stretch of them without a gap of more than ``_GAP`` rows
    is sliced (zero-copy) and read whole, and the rows are picked from what was read.
    Rows in any other order, or too scattered for that to pay, are taken.
    """
    if len(rows) == 0:
        return np.empty(0, dtype=object)
    step = np.diff(rows)
    if (step > 0).all():
        breaks = np.flatnonzero(step > _GAP + 1) + 1
        if len(breaks) < max(len(rows) // _MIN_RUN, _FEW_RUNS):
            bounds = np.concatenate([[0], breaks, [len(rows)]])
            first, last = rows[bounds[:-1]], rows[bounds[1:] - 1]
            read: list[Any] = []
            for start, n in zip(first.tolist(), (last - first + 1).tolist(), strict=True):
                read += array.slice(start, n).to_pylist()
            # a row's place in what was read: its stretch's offset there, plus its own
            offset = np.cumsum(last - first + 1) - (last - first + 1) - first
            picked: ObjectArray = object_array(read)[rows + np.repeat(offset, np.diff(bounds))]
            return picked
    return object_array(_take(array, rows).to_pylist())


#: :func:`take_values` reads across gaps of up to ``_GAP`` rows, and slices stretch by
#: stretch when they average ``_MIN_RUN`` rows or are fewer than ``_FEW_RUNS`` (a slice
#: costs ~2 us)
_GAP = 16
_MIN_RUN = 8
_FEW_RUNS = 256


def any_empty(column: pa.ChunkedArray[Any]) -> bool:
    """Whether a null-free string column holds an empty string, read from its offsets."""
    for chunk in column.chunks:
        offsets = chunk.buffers()[1]
        if offsets is None:  # an empty chunk
            continue
        ends = np.frombuffer(
            memoryview(cast("bytes", offsets)),
            dtype=np.int32,
            count=len(chunk) + 1,
            offset=chunk.offset * 4,
        )
        if (ends[1:] == ends[:-1]).any():
            return True
    return False


def non_null(column: pa.Array[Any]) -> BoolArray:
    """Which rows of a column hold a value, read from its validity bitmap (``is_valid``
    would import Arrow's compute kernels)."""
    bitmap = column.buffers()[0]
    if bitmap is None:  # no bitmap: no nulls
        return np.full(len(column), column.null_count == 0)
    return _bits(bitmap, column.offset, len(column))


def _bits(buffer: pa.Buffer, offset: int, n: int) -> BoolArray:
    """Bits ``offset .. offset + n`` of an Arrow bitmap (least significant bit first)."""
    data = memoryview(cast("bytes", buffer))  # an Arrow buffer exports the buffer protocol
    bits = np.unpackbits(np.frombuffer(data, dtype=np.uint8), bitorder="little", count=offset + n)
    return bits[offset:].astype(bool)


def numbers(chunks: list[pa.Array[Any]], dtype: type[np.generic]) -> NDArray[Any]:
    if not chunks:
        return np.empty(0, dtype=dtype)
    return np.concatenate([column_values(c).astype(dtype) for c in chunks])


def column_values(column: pa.Array[Any]) -> NDArray[Any]:
    """The values of a null-free numeric or boolean column, read from its buffer
    (``to_numpy`` would import pandas, ~0.3 s)."""
    if column.null_count:
        raise ValueError("column has nulls")
    buffer = column.buffers()[1]
    if buffer is None:
        raise ValueError("column has no data buffer")
    if pa.types.is_boolean(column.type):
        return _bits(buffer, column.offset, len(column))
    data = memoryview(cast("bytes", buffer))  # an Arrow buffer exports the buffer protocol
    dtype = np.dtype(_NUMPY_TYPES[str(column.type)])
    values: NDArray[Any] = np.frombuffer(
        data, dtype=dtype, count=len(column), offset=column.offset * dtype.itemsize
    )
    return values
