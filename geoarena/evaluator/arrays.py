"""The array types the evaluator's modules speak, named once, and the one way to build an
object array of them.

Every column and every intermediate of the scorer is a 1-D (sometimes ``(n, 4)`` or
``(2, n)``) numpy array of one of these dtypes; naming them keeps signatures short
and lets the type checker catch an index array passed where a mask was meant.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeAlias

import numpy as np
from numpy.typing import NDArray

#: indices, counts, line numbers, BuildingIds.
IntArray: TypeAlias = NDArray[np.int64]
#: areas, IoUs, boxes, confidences.
FloatArray: TypeAlias = NDArray[np.float64]
#: row masks.
BoolArray: TypeAlias = NDArray[np.bool_]
#: small bit sets, one byte per row (the grid index's cell flags).
FlagArray: TypeAlias = NDArray[np.uint8]
#: strings (ImageIds, raw CSV fields) and shapely geometries.
ObjectArray: TypeAlias = NDArray[np.object_]


def object_array(values: Sequence[object]) -> ObjectArray:
    """A 1-D object array of the list's items (np.array would try to nest sequences)."""
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def distinct_positions(positions: IntArray, n: int) -> IntArray:
    """The distinct values of ``positions`` (all in ``range(n)``), sorted: a mask, where
    ``np.unique`` would sort and, on first use, import ``numpy.ma`` (~10 ms a process)."""
    return np.flatnonzero(np.bincount(positions, minlength=n))


__all__ = [
    "BoolArray",
    "FlagArray",
    "FloatArray",
    "IntArray",
    "ObjectArray",
    "distinct_positions",
    "object_array",
]
