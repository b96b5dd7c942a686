"""Score files of any size on every core, in bounded memory.

The metric is independent per image. The parent reads both files' columns once (Arrow),
splits the ImageIds into chunks of at most ``CHUNK_IMAGES`` images, and each chunk is
parsed and scored on its own, by one forked worker per core when the files are large.
Workers inherit the columns through fork (nothing is pickled on the way in) and send
back per-image counts, a few numbers per image. Shapely builds geometries while holding
the GIL, so threads could not share that work; and because at most a chunk of geometries
is alive per worker, memory stays flat however many images the files hold.
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np

from geoarena.errors import Problem

from .errors import InputError
from .index import BaseSpatialIndex
from .io import Source, load_bytes, read_columns, read_header
from .metrics import ScoreResult, assemble
from .prepared import PreparedTruth
from .rules import Rules, get_rules
from .table import DEFAULT_MAX_VERTICES, OnError, build_table, encode, strip_all, unique_ids

#: below this many bytes (both files) one process is faster than forking workers.
PARALLEL_MIN_BYTES = 8 << 20
#: most images scored at once by one process: bounds the geometries alive at a time.
CHUNK_IMAGES = 1_500

#: the job a forked worker inherits (set just before the pool forks).
_JOB: dict[str, Any] = {}


def score_files(
    truth: Source,
    proposals: Source,
    rules: str | Rules = "deepglobe",
    *,
    index: str | type[BaseSpatialIndex] | None = "strtree",
    on_error: OnError = "raise",
    max_vertices: int = DEFAULT_MAX_VERTICES,
    workers: int | None = None,
    bootstrap: int = 0,
    seed: int = 0,
) -> ScoreResult:
    """Read and score two CSV sources: chunked by image, on several processes when large.

    Same result as ``score(read_truth(...), read_proposals(...))``; ``workers`` defaults
    to the number of cores for files over ``PARALLEL_MIN_BYTES`` and 1 otherwise.
    """
    rules = get_rules(rules)
    sides, n_bytes = [], 0
    for source in (truth, proposals):
        data, label = load_bytes(source, None)
        header, header_line = read_header(data, label)
        columns, lines, errors = read_columns(data, header, header_line, label)
        n_bytes += len(data)
        del data  # the columns hold what is needed; free the raw bytes early
        sides.append((label, columns, lines, errors, strip_all(columns["ImageId"])))
    vocabulary = unique_ids(np.concatenate([side[4] for side in sides]))
    n_workers = _n_workers(workers, n_bytes)
    n_chunks = max(n_workers, -(-len(vocabulary) // CHUNK_IMAGES))
    chunk_rows = [_chunks(encode(side[4], vocabulary) % n_chunks, n_chunks) for side in sides]
    _JOB.update(
        sides=sides,
        chunk_rows=chunk_rows,
        rules=rules,
        index=index,
        max_vertices=max_vertices,
    )
    try:
        if n_workers == 1:
            parts = [_score_chunk(k) for k in range(n_chunks)]
        else:
            ctx = multiprocessing.get_context("fork")
            with ProcessPoolExecutor(n_workers, mp_context=ctx) as pool:
                parts = list(pool.map(_score_chunk, range(n_chunks)))
    finally:
        _JOB.clear()
    return _merge(parts, rules, on_error, [s[0] for s in sides], bootstrap, seed)


def _n_workers(workers: int | None, n_bytes: int) -> int:
    if workers is not None:
        return max(1, workers)
    if n_bytes < PARALLEL_MIN_BYTES or "fork" not in multiprocessing.get_all_start_methods():
        return 1
    return max(1, min(os.cpu_count() or 1, 8))


def _chunks(chunk_of_row: np.ndarray, n_chunks: int) -> list[np.ndarray]:
    """Row indices of each chunk, in file order."""
    order = np.argsort(chunk_of_row, kind="stable")
    bounds = np.searchsorted(chunk_of_row[order], np.arange(n_chunks + 1))
    return [order[lo:hi] for lo, hi in itertools.pairwise(bounds)]


def _score_chunk(k: int) -> dict[str, Any]:
    """Parse and score chunk ``k`` of the images; return its per-image counts."""
    job = _JOB
    tables = []
    for (label, columns, lines, errors, _), rows in zip(
        job["sides"], [c[k] for c in job["chunk_rows"]], strict=True
    ):
        tables.append(
            build_table(
                {c: v[rows] for c, v in columns.items()},
                lines[rows],
                name=label,
                on_error="skip",
                max_vertices=job["max_vertices"],
                errors=errors if k == 0 else [],  # ragged rows have no ImageId: report once
                allow_empty=True,
            )
        )
    truth, props = tables
    result = PreparedTruth(truth, job["rules"], index=job["index"]).score(props)
    counts = np.array([[s.counts.tp, s.counts.fp, s.counts.fn] for s in result.images])
    return {
        "image_ids": [s.image_id for s in result.images],
        "counts": counts.reshape(-1, 3),
        "diagnostics": result.diagnostics,
        "skipped": [list(truth.skipped), list(props.skipped)],
        "rows": [len(truth), len(props)],
    }


def _merge(
    parts: list[dict[str, Any]],
    rules: Rules,
    on_error: OnError,
    labels: list[str],
    bootstrap: int,
    seed: int,
) -> ScoreResult:
    skipped_sides = []
    for side, label in enumerate(labels):
        skipped = sorted((e for p in parts for e in p["skipped"][side]), key=lambda e: e.line)
        if skipped and on_error == "raise":
            raise InputError(skipped)
        if sum(p["rows"][side] for p in parts) == 0:
            raise InputError(skipped or [Problem(label, 1, "", "file has a header but no rows")])
        skipped_sides.extend(skipped)
    ids = np.asarray([i for p in parts for i in p["image_ids"]], dtype=object)
    counts = np.concatenate([p["counts"] for p in parts])
    order = np.argsort(ids, kind="stable")
    ids, counts = ids[order], counts[order]
    return assemble(
        rules,
        ids,
        counts[:, 0],
        counts[:, 1],
        counts[:, 2],
        _sum_diagnostics([p["diagnostics"] for p in parts]),
        bootstrap=bootstrap,
        seed=seed,
        skipped=tuple(skipped_sides),
    )


def _sum_diagnostics(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """Add up the workers' counters; concatenate their example lists (kept short)."""
    out: dict[str, Any] = {}
    for part in parts:
        for key, value in part.items():
            if isinstance(value, dict):
                out[key] = _sum_diagnostics([out.get(key, {}), value])
            elif isinstance(value, list):
                out[key] = (out.get(key, []) + value)[:20]
            else:
                out[key] = out.get(key, 0) + value
    return out
