"""Score large files on every core: the images are split between forked worker processes.

The metric is independent per image, so each worker reads both files' columns (Arrow,
cheap), keeps the rows of its share of the ImageIds, parses and scores only those, and
sends back per-image counts, a few numbers per image. Shapely builds geometries while
holding the GIL, so threads cannot share that work; processes can, and as only counts
travel back, nothing heavy is pickled.
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np

from .errors import InputError, RowError
from .index import BaseSpatialIndex
from .io import (
    DEFAULT_MAX_VERTICES,
    MAX_KEPT_ERRORS,
    OnError,
    Source,
    _columns,
    _header,
    _load_bytes,
    _strip,
    build_table,
)
from .metrics import ScoreResult, assemble
from .prepared import PreparedTruth
from .rules import Rules, get_rules
from .table import encode, unique_ids

#: below this many bytes (both files) one process is faster than forking workers.
PARALLEL_MIN_BYTES = 8 << 20

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
    """Read and score two CSV sources, on several processes when the files are large.

    Same result as ``score(read_truth(...), read_proposals(...))``; ``workers`` defaults
    to the number of cores for files over ``PARALLEL_MIN_BYTES`` and 1 otherwise.
    """
    rules = get_rules(rules)
    sides = []
    for source in (truth, proposals):
        data, label = _load_bytes(source, None)
        header, _ = _header(data, label)
        sides.append((data, label, header))
    n_workers = _n_workers(workers, sum(len(s[0]) for s in sides))
    _JOB.update(sides=sides, rules=rules, index=index, max_vertices=max_vertices, workers=n_workers)
    try:
        if n_workers == 1:
            parts = [_score_part(0)]
        else:
            ctx = multiprocessing.get_context("fork")
            with ProcessPoolExecutor(n_workers, mp_context=ctx) as pool:
                parts = list(pool.map(_score_part, range(n_workers)))
    finally:
        _JOB.clear()
    return _merge(parts, rules, on_error, [s[1] for s in sides], bootstrap, seed)


def _n_workers(workers: int | None, n_bytes: int) -> int:
    if workers is not None:
        return max(1, workers)
    if n_bytes < PARALLEL_MIN_BYTES or "fork" not in multiprocessing.get_all_start_methods():
        return 1
    return max(1, min(os.cpu_count() or 1, 8))


def _score_part(k: int) -> dict[str, Any]:
    """Worker ``k``: score the images whose sorted position is ``k`` modulo the workers."""
    job = _JOB
    columns = []
    for data, label, header in job["sides"]:
        cols, lines, errors = _columns(data, header, 1, label)
        columns.append((cols, lines, errors, _strip(cols["ImageId"])))
    vocabulary = unique_ids(np.concatenate([c[3] for c in columns]))
    tables = []
    for (cols, lines, errors, ids), (_, label, _) in zip(columns, job["sides"], strict=True):
        mine = encode(ids, vocabulary) % job["workers"] == k
        tables.append(
            build_table(
                {c: v[mine] for c, v in cols.items()},
                lines[mine],
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
            raise InputError(skipped[:MAX_KEPT_ERRORS], total=len(skipped))
        if sum(p["rows"][side] for p in parts) == 0:
            raise InputError(skipped or [RowError(label, 1, "", "file has a header but no rows")])
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
