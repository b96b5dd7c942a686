"""A lower bound for ``geoarena score PREPARED PROPOSALS``: the library calls no scorer can
skip, in a process of their own, and nothing else.

It starts Python, imports numpy, pyarrow and shapely, opens the stored truth, reads the
proposal CSV, and on every core parses its share of the proposals' WKT and asks GEOS for
their validity (the rules repair invalid ones), areas (the area filter) and boxes (the
candidate pairs). It decodes no truth polygon and intersects no pair, so a real score,
which must do both, can only be slower. ``evaluator_bench.py`` runs it in turns with the
command and reports the command's time as a multiple of it.

    python bench/least_score.py truth.prepared proposals.csv
"""

from __future__ import annotations

import os
import sys

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.ipc as ipc
import shapely


def main() -> None:
    stored, proposals = sys.argv[1:3]
    ipc.open_file(pa.memory_map(stored)).get_batch(0)
    # to_pylist: Arrow's to_numpy of strings imports pandas (~0.5 s), as the command never does
    column = pacsv.read_csv(proposals).column("PolygonWKT_Pix")
    wkt = np.array(column.to_pylist(), dtype=object)
    cores = os.cpu_count() or 1
    children = []
    share = 0
    for k in range(1, cores):  # forked like the command's workers; the parent keeps share 0
        pid = os.fork()
        if pid == 0:
            share = k
            break
        children.append(pid)
    geometry = shapely.from_wkt(wkt[share::cores])
    shapely.is_valid(geometry), shapely.area(geometry), shapely.bounds(geometry)
    if share:
        os._exit(0)
    for pid in children:
        os.waitpid(pid, 0)


if __name__ == "__main__":
    main()
