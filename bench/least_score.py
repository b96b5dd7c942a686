"""A lower bound for ``geoarena score PREPARED PROPOSALS``: the library calls no scorer can
skip, in a process of their own, and nothing else.

It starts Python, imports numpy, pyarrow, shapely and geoarrow-c, opens the stored
truth, reads the proposal CSV, and on every core parses its share of the proposals' WKT
the fastest way the libraries offer (geoarrow-c's reader into coordinate arrays, GEOS's
geometries built from those; no check that the text is canonical, nor of its rings)
and asks GEOS for their validity (the rules repair invalid ones), areas (the area
filter) and boxes (the candidate pairs), with Python's cyclic collector off, as the
command runs. It decodes no truth polygon and intersects no pair, so a real score,
which must do both, can only be slower. ``evaluator_bench.py`` runs it in turns with
the command and reports the command's time as a multiple of it.

    python bench/least_score.py truth.prepared proposals.csv
"""

from __future__ import annotations

import gc
import os
import sys

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.ipc as ipc
import shapely
from geoarrow.c import ScalarFunction
from pyarrow import _compute

#: geoarrow-c's WKT reader needs the Z keyword for SpaceNet's 3-D points
_Z = ("POLYGON ((", "POLYGON Z ((")
_WKT = pa.field("", pa.utf8(), metadata={"ARROW:extension:name": "geoarrow.wkt"})
#: GEOARROW_TYPE_INTERLEAVED_POLYGON_Z and _MULTIPOLYGON_Z
_TO_NATIVE = {
    False: ScalarFunction("as_geoarrow", type=11003),
    True: ScalarFunction("as_geoarrow", type=11006),
}
_TYPES = {False: shapely.GeometryType.POLYGON, True: shapely.GeometryType.MULTIPOLYGON}


class _Tagged:
    """A string array offered to geoarrow-c as geoarrow.wkt."""

    def __init__(self, text: pa.Array) -> None:
        self.text = text

    def __arrow_c_array__(self, requested_schema: object = None) -> tuple[object, object]:
        return _WKT.__arrow_c_schema__(), self.text.__arrow_c_array__()[1]


def _invert(mask: pa.Array) -> pa.Array:
    return _compute.call_function("invert", [mask])


def _numbers(array: pa.Array, dtype: type) -> np.ndarray:
    """A null-free numeric array's values, from its buffer (``to_numpy`` imports pandas)."""
    size = np.dtype(dtype).itemsize
    return np.frombuffer(array.buffers()[1], dtype, len(array), array.offset * size)


def _geometries(native: pa.Array, multi: bool) -> np.ndarray:
    """GEOS geometries of a geoarrow (multi)polygon array of xyz points."""
    offsets = []
    level = native
    for _ in range(3 if multi else 2):
        offsets.append(_numbers(level.offsets, np.int32).astype(np.int64))
        level = level.values
    coords = _numbers(level.values, np.float64).reshape(-1, 3)
    return shapely.from_ragged_array(_TYPES[multi], coords, tuple(reversed(offsets)))


def main() -> None:
    gc.disable()
    stored, proposals = sys.argv[1:3]
    ipc.open_file(pa.memory_map(stored)).get_batch(0)
    # pyarrow._compute: pyarrow.compute takes ~30 ms to import, as the command never does
    column = pacsv.read_csv(proposals).column("PolygonWKT_Pix").combine_chunks()
    options = _compute.ReplaceSubstringOptions(*_Z, max_replacements=1)
    wkt = _compute.call_function("replace_substring", [column], options)
    cores = os.cpu_count() or 1
    children = []
    share = 0
    for k in range(1, cores):  # forked like the command's workers; the parent keeps share 0
        pid = os.fork()
        if pid == 0:
            share = k
            break
        children.append(pid)
    size = -(-len(wkt) // cores)
    mine = wkt.slice(share * size, size)
    multi = _compute.call_function("starts_with", [mine], _compute.MatchSubstringOptions("M"))
    for kind in (False, True):
        rows = _compute.call_function("filter", [mine, multi if kind else _invert(multi)])
        geometry = _geometries(pa.array(_TO_NATIVE[kind](_Tagged(rows))), kind)
        shapely.is_valid(geometry), shapely.area(geometry), shapely.bounds(geometry)
    if share:
        os._exit(0)
    for pid in children:
        os.waitpid(pid, 0)


if __name__ == "__main__":
    main()
