"""Per-epoch validation: maps on the device, polygons in a process pool, maps to disk.

The network runs batched on the training device, tile after tile; each tile's maps are
written to the epoch's ``.npz`` as soon as they exist (``MapWriter``) and handed to a pool
of processes for the watershed and polygon tracing, so the device does not wait for the
CPU and no split's maps are ever all in memory (a SpaceNet split's would take gigabytes
per worker). The polygons are made from the float16 maps that are cached, so rescoring
the cache reproduces the epoch's score exactly.
"""

from __future__ import annotations

import multiprocessing
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from rich.console import Console
from rich.progress import track

from geoarena.evaluator import PolygonTable, ScoreResult, score
from geoarena.models.data.spacenet import Tile
from geoarena.models.inference import TilePredictor
from geoarena.models.maps import MapWriter, truth_table
from geoarena.models.postprocess import Row, Thresholds, instances_to_rows, maps_to_polygons


def tile_rows(
    image_id: str, prob: NDArray[np.float16], energy: NDArray[np.float16], thresholds: Thresholds
) -> list[Row]:
    """Proposal rows of one tile's maps (what a pool process runs)."""
    return instances_to_rows(image_id, maps_to_polygons(prob, energy, thresholds))


class PostprocessPool:
    """``workers`` processes for polygon tracing (0: in this process). The pool uses the
    spawn start method (never fork a process that holds CUDA) and is reused across epochs."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.executor: ProcessPoolExecutor | None = None
        if workers > 0:
            context = multiprocessing.get_context("spawn")
            self.executor = ProcessPoolExecutor(workers, mp_context=context)

    def run(
        self,
        jobs: Sequence[tuple[str, NDArray[np.float16], NDArray[np.float16]]],
        thresholds: Thresholds,
    ) -> list[Row]:
        rows: list[Row] = []
        for image_id, prob, energy in jobs:
            rows.extend(tile_rows(image_id, prob, energy, thresholds))
        return rows

    def close(self) -> None:
        if self.executor is not None:
            self.executor.shutdown(cancel_futures=True)
            self.executor = None

    def __enter__(self) -> PostprocessPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def validate(
    predictor: TilePredictor,
    val: Sequence[Tile],
    cache_files: Sequence[Path],
    thresholds: Thresholds,
    *,
    writer: MapWriter | None = None,
    pool: PostprocessPool | None = None,
    console: Console | None = None,
) -> ScoreResult:
    """Full pipeline on the validation tiles: maps -> watershed -> polygons -> evaluator.

    The score carries the evaluator's breakdown (merged/split/... errors, recall by size;
    one line of it is printed to ``console``): merged and split buildings are what the
    energy head and its watershed are there to fix."""
    pool = pool or PostprocessPool(0)
    show = console is not None and console.is_terminal
    rows: list[Row] = []
    pending: deque[Future[list[Row]]] = deque()
    for tile, path in track(
        zip(val, cache_files, strict=True),
        "validating",
        total=len(val),
        console=console,
        transient=True,
        disable=not show,
    ):
        image = np.load(path, mmap_mode="r")[..., :3]
        prob, energy = (m.astype(np.float16) for m in predictor(image))
        if writer is not None:
            writer.add(tile.image_id, prob, energy)
        if pool.executor is None:
            rows.extend(tile_rows(tile.image_id, prob, energy, thresholds))
            continue
        pending.append(pool.executor.submit(tile_rows, tile.image_id, prob, energy, thresholds))
        while len(pending) > 2 * pool.workers:  # bounded: never a split's maps in flight
            rows.extend(pending.popleft().result())
    while pending:
        rows.extend(pending.popleft().result())
    ids, bids, wkts, confs = zip(*rows, strict=True) if rows else ((), (), (), ())
    proposals = PolygonTable.from_wkt(ids, bids, wkts, confs, name="<validation proposals>")
    truth = truth_table({t.image_id: list(t.wkts) for t in val}, sorted(t.image_id for t in val))
    result = score(truth, proposals, rules="deepglobe", breakdown=True)
    if console is not None and result.breakdown is not None:
        console.print(f"validation errors: {result.breakdown.overall.summary()}", soft_wrap=True)
    return result


__all__ = ["PostprocessPool", "tile_rows", "validate"]
