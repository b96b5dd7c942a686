"""Score files of any size on every core, in bounded memory.

The metric is independent per image. The parent reads both files' columns once (Arrow),
splits the ImageIds into chunks of at most ``CHUNK_IMAGES`` images, and each chunk is
parsed and scored on its own (a file read into a table beforehand, as a georeferenced
one is, is split by rows instead: its geometries are inherited, not parsed again). When
the files are large, one process per core does it: the parent scores every n-th chunk
itself while forked workers score the others (a fork fewer, and the parent's chunks
need no copy-on-write of its pages nor a trip back).
Workers inherit the columns through fork (nothing is pickled on the way in) and send
back per-image counts, a few numbers per image. Shapely builds geometries while holding
the GIL, so threads could not share that work; and because at most a chunk of geometries
is alive per worker, memory stays flat however many images the files hold.
"""

from __future__ import annotations

import gc
import itertools
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

import numpy as np

from geoarena.errors import Problem

from .arrays import IntArray, ObjectArray, object_array
from .breakdown import WIDTH, BreakdownSettings
from .collector import collector_paused
from .errors import InputError
from .forks import can_fork, fork_map, in_worker
from .index import BaseSpatialIndex
from .io import (
    DEFAULT_MAX_BYTES,
    Column,
    Source,
    image_ids,
    load_bytes,
    read_arrow_columns,
    read_header,
    table_fields,
)
from .metrics import SHOWN_FAILURES, Diagnostics, ScoreResult, assemble
from .prepared import PreparedTruth
from .rules import Rules, get_rules
from .table import (
    DEFAULT_MAX_VERTICES,
    OnError,
    PolygonTable,
    build_table,
    encode,
    require_rows,
    unique_ids,
)

#: below this many bytes (both files) one process is faster than forking workers. The
#: parent scores a share itself, so one fork pays from ~1 MB (in process: 20 tiles of
#: 100 buildings, 0.7 MB, 0.030 s alone and 0.034 s with a worker; 50 tiles, 1.7 MB,
#: 0.073 and 0.061 s)
PARALLEL_MIN_BYTES = 1 << 20
#: what a row of a table counts as against ``PARALLEL_MIN_BYTES``: about the bytes of a
#: building's row in a SpaceNet CSV
TABLE_ROW_BYTES = 200
#: most images scored at once by one process: bounds the geometries alive at a time.
CHUNK_IMAGES = 500
#: chunks per process at least, when several processes score. After the fork, each page
#: a process first writes costs a fault (a copy-on-write copy or a fresh page, ~2.5 us
#: here); a process's later chunks reuse the memory its earlier ones freed, by then its
#: own. At 1,000 tiles 4 chunks a process instead of 1 took the prepared score's page
#: faults from 77k to 45k and its wall time 0.89x
CHUNKS_PER_PROCESS = 4


@dataclass(frozen=True, eq=False)
class _Columns:
    """One file's raw string columns, read once by the parent."""

    label: str
    columns: dict[str, Column]
    lines: IntArray
    #: ragged rows found while reading (they have no ImageId, so no chunk owns them)
    errors: list[Problem]
    image_id: ObjectArray


@dataclass(frozen=True, eq=False)
class _Table:
    """A file read into a table beforehand (a georeferenced file): chunks take its rows."""

    table: PolygonTable

    @property
    def label(self) -> str:
        return self.table.name

    @property
    def image_id(self) -> ObjectArray:
        return self.table.image_id


_Side = _Columns | _Table


@dataclass(frozen=True, eq=False)
class _Job:
    """What every forked worker inherits: both files' columns and how to score them."""

    sides: tuple[_Side | None, _Side]
    #: per side, the row indices of each chunk
    chunk_rows: tuple[list[IntArray], list[IntArray]]
    rules: Rules
    index: str | type[BaseSpatialIndex] | None
    max_vertices: int
    #: every ImageId of both files, sorted: an image's chunk is its code modulo n_chunks
    vocabulary: ObjectArray
    n_chunks: int
    breakdown: BreakdownSettings | None = None
    #: a truth prepared beforehand (the truth side then has no columns): every worker
    #: scores its chunk of proposals against it and keeps its chunk's images only
    prepared: PreparedTruth | None = None


@dataclass(frozen=True, eq=False)
class _Part:
    """What a worker sends back for its chunk: a few numbers per image."""

    image_ids: list[str]
    counts: IntArray  # (n, 3): tp, fp, fn
    diagnostics: Diagnostics
    skipped: tuple[tuple[Problem, ...], tuple[Problem, ...]]
    rows: tuple[int, int]
    #: the cities the chunk's score counts (those of unlisted images too, per city_mean)
    cities: list[str]
    #: (n, breakdown.WIDTH) breakdown count rows, when one was asked for
    breakdown: IntArray | None = None


#: the job a forked worker inherits (set just before the pool forks).
_JOB: _Job | None = None
#: in a forked worker, what its last chunk built (geometries, tables, index): freed when
#: the next chunk starts, and never after the last one. The worker ends with os._exit,
#: and freeing a chunk's ~100k geometries (~25 ms) would delay the result it sends back
#: by as much, at the end of every run
_LAST_CHUNK: list[object] = []


@collector_paused()
def score_files(
    truth: Source | PreparedTruth | PolygonTable,
    proposals: Source | PolygonTable,
    rules: str | Rules = "deepglobe",
    *,
    index: str | type[BaseSpatialIndex] | None = "grid",
    on_error: OnError = "raise",
    max_vertices: int = DEFAULT_MAX_VERTICES,
    max_bytes: int = DEFAULT_MAX_BYTES,
    workers: int | None = None,
    bootstrap: int = 0,
    seed: int = 0,
    breakdown: bool | BreakdownSettings = False,
) -> ScoreResult:
    """Read and score two CSV sources: chunked by image, on several processes when large.

    Same result as ``score(read_truth(...), read_proposals(...), breakdown=...)``;
    ``workers`` defaults to the number of cores for files over ``PARALLEL_MIN_BYTES``
    and 1 otherwise. ``truth`` may be a :class:`PreparedTruth` (e.g. loaded from
    ``geoarena prepare``'s file) under the same rules: workers then inherit it and parse
    proposals only. Either file may also be a :class:`PolygonTable` read beforehand (a
    georeferenced file, ``read_georeferenced``): its skipped rows were accepted when it
    was read, and each worker takes its chunk's rows.

    Examples
    --------
    >>> from geoarena.evaluator import score
    >>> from geoarena.evaluator.synthetic import make_pair
    >>> truth, proposals = make_pair(4, 10, seed=1)
    >>> score_files(truth, proposals, workers=2).micro == score(truth, proposals).micro
    True
    """
    global _JOB
    rules = get_rules(rules)
    if isinstance(truth, PreparedTruth):
        if truth.rules != rules:
            raise ValueError("the prepared truth was prepared under other rules")
        with ThreadPoolExecutor(1) as pool:
            # Arrow's CSV reader keeps ~1.3 of 2 cores busy: index the truth meanwhile, once
            # before the fork, so that every process shares one index
            indexed = pool.submit(lambda: truth.index)
            props, n_bytes = _side(proposals, max_bytes)
            indexed.result()
        sides: tuple[_Side | None, _Side] = (None, props)
        ids = [truth.image_ids, props.image_id]
        labels = [truth.name, props.label]
    else:
        read = [_side(source, max_bytes) for source in (truth, proposals)]
        sides = (read[0][0], read[1][0])
        n_bytes = read[0][1] + read[1][1]
        ids = [side.image_id for side in (read[0][0], read[1][0])]
        labels = [side.label for side in (read[0][0], read[1][0])]
    vocabulary = unique_ids(np.concatenate(ids))
    n_workers = _n_workers(workers, n_bytes)
    # at most CHUNK_IMAGES images a chunk, at least CHUNKS_PER_PROCESS chunks a process,
    # and no more chunks than images
    least = n_workers * CHUNKS_PER_PROCESS if n_workers > 1 else 1
    n_chunks = max(1, min(max(least, -(-len(vocabulary) // CHUNK_IMAGES)), len(vocabulary)))
    t_rows, p_rows = (
        _chunks(encode(side.image_id, vocabulary) % n_chunks, n_chunks) if side is not None else []
        for side in sides
    )
    prepared = truth if isinstance(truth, PreparedTruth) else None
    settings = BreakdownSettings() if breakdown is True else breakdown or None
    _JOB = _Job(
        sides,
        (t_rows, p_rows),
        rules,
        index,
        max_vertices,
        vocabulary,
        n_chunks,
        breakdown=settings,
        prepared=prepared,
    )
    try:
        if n_workers == 1:
            parts = [_score_chunk(k) for k in range(n_chunks)]
        else:
            gc.freeze()  # a worker's collections then leave the inherited objects' pages shared
            try:
                parts = fork_map(_score_chunk, n_chunks, n_workers)
            finally:
                gc.unfreeze()
    finally:
        _JOB = None
    # the skipped rows of a prepared truth or of a table were accepted when it was made
    strict = tuple(on_error == "raise" and isinstance(side, _Columns) for side in sides)
    return _merge(parts, rules, strict, labels, bootstrap, seed, settings)


def _side(source: Source | PolygonTable, max_bytes: int) -> tuple[_Side, int]:
    """A file to split into chunks, and its size in bytes (for a table, what its rows
    would take in a CSV: it decides between one process and many)."""
    if isinstance(source, PolygonTable):
        return _Table(source), len(source) * TABLE_ROW_BYTES
    return _read_columns(source, max_bytes)


def _read_columns(source: Source, max_bytes: int) -> tuple[_Columns, int]:
    """A file's columns and its size in bytes; the raw bytes are freed on return."""
    data, label = load_bytes(source, None, max_bytes)
    header, header_line = read_header(data, label)
    columns, lines, errors = read_arrow_columns(data, header, header_line, label)
    # the other columns stay in Arrow until a worker takes its rows; the stripped ids
    # (stripping again is a no-op) hold one string per image, not one per row
    columns["ImageId"] = image_id = image_ids(columns["ImageId"])
    return _Columns(label, columns, lines, errors, image_id), len(data)


def _n_workers(workers: int | None, n_bytes: int) -> int:
    if workers is not None:
        return max(1, workers)
    if n_bytes < PARALLEL_MIN_BYTES or not can_fork():
        return 1
    return max(1, min(os.cpu_count() or 1, 8))


def _chunks(chunk_of_row: IntArray, n_chunks: int) -> list[IntArray]:
    """Row indices of each chunk, in file order."""
    order = np.argsort(chunk_of_row, kind="stable")
    bounds = np.searchsorted(chunk_of_row[order], np.arange(n_chunks + 1))
    return [order[lo:hi] for lo, hi in itertools.pairwise(bounds.tolist())]


def _score_chunk(k: int) -> _Part:
    """Parse and score chunk ``k`` of the images; return its per-image counts."""
    job = _JOB
    if job is None:
        raise RuntimeError("_score_chunk runs inside score_files only")
    _LAST_CHUNK.clear()
    truth_side, prop_side = job.sides
    props = _chunk_table(prop_side, job.chunk_rows[1][k], job, first=k == 0)
    chunk_truth: PreparedTruth | None = None
    if job.prepared is None:
        if truth_side is None:
            raise RuntimeError("a job has a prepared truth or truth columns")
        truth = _chunk_table(truth_side, job.chunk_rows[0][k], job, first=k == 0)
        chunk_truth = PreparedTruth(truth, job.rules, index=job.index)
        result = chunk_truth.score(props, breakdown=job.breakdown or False)
        skipped, truth_rows, diagnostics = truth.skipped, len(truth), result.diagnostics
    else:
        # every process holds the whole truth: a chunk scores its own images through a
        # view, and the truth's rows and counters are reported once, by the first chunk
        view = job.prepared.for_images(job.vocabulary[k :: job.n_chunks])
        result = view.score(props, breakdown=job.breakdown or False)
        prepared = job.prepared
        skipped, truth_rows = (prepared.skipped, prepared.n_rows) if k == 0 else ((), 0)
        diagnostics = result.diagnostics.copy()
        if k > 0:
            diagnostics["truth"] = dict.fromkeys(diagnostics["truth"], 0)
    if in_worker():
        _LAST_CHUNK.extend((props, result, chunk_truth))
    images = result.images
    counts = np.array([[s.counts.tp, s.counts.fp, s.counts.fn] for s in images])
    b = result.breakdown
    errors = None if b is None else np.array([b.images[s.image_id].row() for s in images])
    return _Part(
        image_ids=[s.image_id for s in images],
        counts=counts.reshape(-1, 3).astype(np.int64),
        diagnostics=diagnostics,
        skipped=(skipped, props.skipped),
        rows=(truth_rows, len(props)),
        cities=list(result.cities),
        breakdown=None if errors is None else errors.reshape(-1, WIDTH),
    )


def _chunk_table(side: _Side, rows: IntArray, job: _Job, *, first: bool) -> PolygonTable:
    """The validated table of one chunk's rows of a file."""
    if isinstance(side, _Table):
        chunk = side.table.take(rows)
        return chunk if first else replace(chunk, skipped=())  # reported once
    return build_table(
        table_fields(side.columns, rows),
        side.lines[rows],
        name=side.label,
        on_error="skip",
        max_vertices=job.max_vertices,
        errors=side.errors if first else [],  # ragged rows have no ImageId: report once
        allow_empty=True,
    )


def _merge(
    parts: list[_Part],
    rules: Rules,
    strict: tuple[bool, ...],
    labels: list[str],
    bootstrap: int,
    seed: int,
    settings: BreakdownSettings | None,
) -> ScoreResult:
    skipped_sides: list[Problem] = []
    for side, label in enumerate(labels):
        skipped = sorted((e for p in parts for e in p.skipped[side]), key=lambda e: e.line)
        if skipped and strict[side]:
            raise InputError(skipped)
        n_rows = sum(p.rows[side] for p in parts)
        require_rows(label, n_rows, skipped, header_only_ok=side == 1)  # 1: the proposals
        skipped_sides.extend(skipped)
    ids = object_array([i for p in parts for i in p.image_ids])
    counts = np.concatenate([p.counts for p in parts])
    order = np.argsort(ids, kind="stable")
    ids, counts = ids[order], counts[order]
    errors = None
    if settings is not None:
        rows = np.concatenate([p.breakdown for p in parts if p.breakdown is not None])
        errors = (settings, rows[order])
    return assemble(
        rules,
        ids,
        counts[:, 0],
        counts[:, 1],
        counts[:, 2],
        _sum_diagnostics([p.diagnostics for p in parts]),
        bootstrap=bootstrap,
        seed=seed,
        skipped=tuple(skipped_sides),
        unlisted_cities={c for p in parts for c in p.cities},
        breakdown=errors,
    )


def _sum_diagnostics(parts: list[Diagnostics]) -> Diagnostics:
    """Add up the workers' counters; concatenate their failure examples (kept short)."""
    return Diagnostics(
        truth=_add_counters([p["truth"] for p in parts]),
        proposals=_add_counters([p["proposals"] for p in parts]),
        candidate_pairs=sum(p["candidate_pairs"] for p in parts),
        pairs_settled_by_bounds=sum(p["pairs_settled_by_bounds"] for p in parts),
        geos_failures=sum(p["geos_failures"] for p in parts),
        geos_failure_examples=[e for p in parts for e in p["geos_failure_examples"]][
            :SHOWN_FAILURES
        ],
    )


def _add_counters(counters: list[dict[str, int]]) -> dict[str, int]:
    """Key-wise sums; a key any worker reported is kept, even at 0."""
    out: dict[str, int] = {}
    for counter in counters:
        for name, value in counter.items():
            out[name] = out.get(name, 0) + value
    return out
