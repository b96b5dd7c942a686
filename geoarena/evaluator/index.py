"""Spatial-index seam: bulk candidate pairs from bounding boxes.

All images of a file share one pixel frame (0..650), so one index over raw boxes would pair
every proposal with the buildings at the same spot in every other image. The scorer
therefore shifts each image's boxes along x into its own slot before indexing (see
``matching.image_boxes``), and an index only ever sees disjoint per-image slots.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, ClassVar

import numpy as np
import shapely

from .arrays import BoolArray, FlagArray, FloatArray, IntArray, ObjectArray

if TYPE_CHECKING:
    from rtree.index import Index


class BaseSpatialIndex(ABC):
    """An immutable index over axis-aligned boxes, built once and queried in bulk.

    Boxes are ``(n, 4)`` float arrays of ``xmin, ymin, xmax, ymax``. Backends must return
    the same pairs: every (query, indexed) pair whose closed boxes intersect.
    """

    name: ClassVar[str]

    @classmethod
    def require(cls) -> None:
        """Raise ImportError, saying what to install, when the backend's package is
        missing: a truth is indexed at its first score, and the choice of a backend
        that cannot run should fail where it is made. The built-in backends need
        nothing beyond shapely."""
        return

    @abstractmethod
    def __init__(self, boxes: FloatArray) -> None: ...

    @abstractmethod
    def query(self, boxes: FloatArray) -> IntArray:
        """``(2, m)`` int64 array of (query index, indexed index) pairs, any order."""


class STRtreeIndex(BaseSpatialIndex):
    """shapely's STRtree (a packed R-tree in GEOS): the default, fastest in bulk here."""

    name = "strtree"

    def __init__(self, boxes: FloatArray) -> None:
        self._tree = shapely.STRtree(_box_geometries(boxes))

    def query(self, boxes: FloatArray) -> IntArray:
        if len(boxes) == 0:
            return np.empty((2, 0), dtype=np.int64)
        return self._tree.query(_box_geometries(boxes)).astype(np.int64)


class RtreeIndex(BaseSpatialIndex):
    """libspatialindex through the ``rtree`` package (``pip install geoarena[rtree]``)."""

    name = "rtree"

    @classmethod
    def require(cls) -> None:
        rtree_index_class()

    def __init__(self, boxes: FloatArray) -> None:
        tree = rtree_index_class()  # before anything else: a missing package fails first
        boxes = np.ascontiguousarray(boxes, dtype=np.float64)
        self._index: Index | None = None  # libspatialindex cannot bulk-load zero boxes
        if len(boxes):
            ids = np.arange(len(boxes), dtype=np.int64)
            self._index = tree((ids, boxes[:, :2].copy(), boxes[:, 2:].copy()))

    def query(self, boxes: FloatArray) -> IntArray:
        if len(boxes) == 0 or self._index is None:
            return np.empty((2, 0), dtype=np.int64)
        boxes = np.ascontiguousarray(boxes, dtype=np.float64)
        # rtree ships py.typed but leaves intersection_v unannotated
        ids, counts = self._index.intersection_v(  # type: ignore[no-untyped-call]
            boxes[:, :2].copy(), boxes[:, 2:].copy()
        )
        queries = np.repeat(np.arange(len(boxes), dtype=np.int64), counts.astype(np.int64))
        return np.vstack([queries, ids.astype(np.int64)])


#: boxes spanning more cells than this are indexed by an STRtree instead.
MAX_CELLS = 64
#: cell side over the median box extent: larger cells mean fewer entries but more
#: false candidates per cell. On the bench's SpaceNet-like boxes (1,000 tiles, 100k a
#: side) 1.25 builds and queries in 170 ms where 2 took 194 and 1 took 211 (medians).
CELL_FACTOR = 1.25
#: cell indices stay far below 2**31 a side, so a cell's key fits an int64.
_MAX_CELL_INDEX = float(1 << 30)


class GridIndex(BaseSpatialIndex):
    """A uniform grid of box cells in numpy: the default, because it needs no geometries.

    An STRtree indexes shapely geometries, so every box must first be built as a polygon
    (about a microsecond each) and every pair returned crosses the GEOS boundary; for 100,000
    boxes a side that is most of the index's cost. Here a box is registered in every grid
    cell it touches, the pairs are the cells shared by a query and an indexed box, joined through a
    table of each cell's first entry (or a binary search when the cells are too many to
    list), and each pair is reported by exactly one cell: the one
    holding the lower-left corner of the boxes' overlap. Every step is an array operation.

    A box touching more than ``MAX_CELLS`` cells (a proposal covering a whole tile, a
    coordinate near the float limit) is not gridded: those few go through an STRtree, so
    no input can make the grid quadratic.

    Examples
    --------
    >>> index = GridIndex(np.array([[0.0, 0, 10, 10], [20, 20, 30, 30]]))
    >>> index.query(np.array([[10.0, 10, 25, 25], [40, 40, 50, 50]])).tolist()
    [[0, 0], [0, 1]]
    """

    name = "grid"

    def __init__(self, boxes: FloatArray) -> None:
        self._boxes = np.ascontiguousarray(boxes, dtype=np.float64).reshape(-1, 4)
        with np.errstate(over="ignore", invalid="ignore"):  # boxes near the float limit
            width = self._boxes[:, 2] - self._boxes[:, 0]
            extent = np.maximum(width, self._boxes[:, 3] - self._boxes[:, 1])
        median = _middle(extent[np.isfinite(extent)])
        self._cell = CELL_FACTOR * median if 0 < median < 1e300 else 1.0
        # a median origin keeps cell indices small even if a few boxes are absurdly far
        self._origin = (_middle(self._boxes[:, 0]), _middle(self._boxes[:, 1]))
        cells, gridded = self._cells(self._boxes)
        self._big = np.flatnonzero(~gridded)
        self._big_tree = STRtreeIndex(self._boxes[self._big]) if len(self._big) else None
        self._all_tree: STRtreeIndex | None = None  # built only if a big box is queried
        small = np.flatnonzero(gridded)
        lo, hi = cells[0].take(small, axis=1), cells[1].take(small, axis=1)
        if gridded.any():
            self._lo, self._hi = lo.min(axis=1), hi.max(axis=1)
        else:
            self._lo = self._hi = np.zeros(2, dtype=np.int64)
        self._ny = int(self._hi[1] - self._lo[1] + 1)
        box, cx, cy = self._expand(lo, hi)
        keys = self._key(cx, cy)
        order = np.argsort(keys, kind="stable")
        self._keys = keys.take(order)
        n_cells = int(self._hi[0] - self._lo[0] + 1) * self._ny
        #: first entry of each cell, when the cells are few enough to list (a CSR table;
        #: a lookup is then one gather instead of a binary search)
        self._starts: IntArray | None = None
        if n_cells <= 4 * len(keys) + 1024:
            self._starts = np.zeros(n_cells + 1, dtype=np.int64)
            np.cumsum(np.bincount(keys, minlength=n_cells), out=self._starts[1:])
        self._owner = small.take(box.take(order))
        #: per sorted entry, its box's sides (xmin, ymin, xmax, ymax): one gather of each
        #: side per candidate is several times faster than gathering rows of ``_boxes``
        #: (and ``take`` gathers rows several times faster than fancy indexing)
        self._owner_box = np.ascontiguousarray(self._boxes.T).take(self._owner, axis=1)
        #: per sorted entry, whether its cell is its box's first column (bit 0) or first
        #: row (bit 1): for the once-per-pair rule of ``_grid_pairs``
        self._owner_first = _first_cell(lo.take(box, axis=1), cx, cy).take(order)

    def query(self, boxes: FloatArray) -> IntArray:
        boxes = np.ascontiguousarray(boxes, dtype=np.float64).reshape(-1, 4)
        cells, gridded = self._cells(boxes)
        small = np.flatnonzero(gridded)
        parts = [self._grid_pairs(boxes, small, cells.take(small, axis=2))]
        big = np.flatnonzero(~gridded)
        if len(big):  # a big query meets every indexed box, gridded or not, in one tree
            if self._all_tree is None:
                self._all_tree = STRtreeIndex(self._boxes)
            q, t = self._all_tree.query(boxes[big])
            parts.append(np.vstack([big[q], t]))
        if self._big_tree is not None and len(small):  # small queries meet big indexed boxes
            q, t = self._big_tree.query(boxes[small])
            parts.append(np.vstack([small[q], self._big[t]]))
        return np.hstack(parts)

    def _cells(self, boxes: FloatArray) -> tuple[IntArray, BoolArray]:
        """``(2, 2, n)`` cell ranges (lo/hi, x/y) of each box and which boxes are gridded."""
        scaled = np.empty((2, 2, len(boxes)))
        with np.errstate(over="ignore", invalid="ignore"):
            scaled[0, 0] = (boxes[:, 0] - self._origin[0]) / self._cell
            scaled[0, 1] = (boxes[:, 1] - self._origin[1]) / self._cell
            scaled[1, 0] = (boxes[:, 2] - self._origin[0]) / self._cell
            scaled[1, 1] = (boxes[:, 3] - self._origin[1]) / self._cell
            np.floor(scaled, out=scaled)
            ok = (np.abs(scaled) < _MAX_CELL_INDEX).all(axis=(0, 1))
        scaled[:, :, ~ok] = 0
        cells = scaled.astype(np.int64)
        span = cells[1] - cells[0] + 1
        ok &= (span[0] * span[1]) <= MAX_CELLS
        return cells, ok

    def _expand(self, lo: IntArray, hi: IntArray) -> tuple[IntArray, IntArray, IntArray]:
        """For boxes with cell ranges ``lo``/``hi`` (``(2, n)``, inside the indexed extent):
        the box of each (box, cell) entry, and the cell's x and y."""
        ny = hi[1] - lo[1] + 1
        count = (hi[0] - lo[0] + 1) * ny
        start = np.repeat(np.cumsum(count) - count, count)
        offset = np.arange(len(start), dtype=np.int64) - start
        box = np.repeat(np.arange(len(count)), count)
        column, row = np.divmod(offset, ny.take(box))
        return box, lo[0].take(box) + column, lo[1].take(box) + row

    def _key(self, cx: IntArray, cy: IntArray) -> IntArray:
        key: IntArray = (cx - self._lo[0]) * self._ny + (cy - self._lo[1])
        return key

    def _grid_pairs(self, boxes: FloatArray, which: IntArray, cells: IntArray) -> IntArray:
        """Pairs of the gridded queries ``which`` with the gridded indexed boxes."""
        if len(which) == 0 or len(self._keys) == 0:
            return np.empty((2, 0), dtype=np.int64)
        # ``take`` of positions, not boolean or row indexing: several times faster here
        lo = np.maximum(cells[0], self._lo[:, None])
        hi = np.minimum(cells[1], self._hi[:, None])
        inside = np.flatnonzero((lo <= hi).all(axis=0))
        which, q_lo = which.take(inside), cells[0].take(inside, axis=1)
        box, cx, cy = self._expand(lo.take(inside, axis=1), hi.take(inside, axis=1))
        keys = self._key(cx, cy)
        if self._starts is not None:
            first = self._starts.take(keys)
            count = self._starts.take(keys + 1) - first
        else:
            first = np.searchsorted(self._keys, keys, side="left")
            count = np.searchsorted(self._keys, keys, side="right") - first
        entry = np.repeat(np.arange(len(keys)), count)
        slot = np.arange(len(entry), dtype=np.int64) + np.repeat(
            first - (np.cumsum(count) - count), count
        )
        # report a pair only in the cell of its overlap's lower-left corner, the cell (max
        # of the two boxes' lower cells; floor is monotonic). Both boxes reach the cell, so
        # it is that max in x exactly when it is the first column of one box or the
        # other, and likewise in y: two bits per entry, no per-pair arithmetic
        flags = _first_cell(q_lo.take(box, axis=1), cx, cy).take(entry)
        home = np.flatnonzero((flags | self._owner_first.take(slot)) == 3)
        q, slot = which.take(box.take(entry.take(home))), slot.take(home)
        a, b = np.ascontiguousarray(boxes.T), self._owner_box
        overlap = (a[0].take(q) <= b[2].take(slot)) & (b[0].take(slot) <= a[2].take(q))
        overlap &= (a[1].take(q) <= b[3].take(slot)) & (b[1].take(slot) <= a[3].take(q))
        hit = np.flatnonzero(overlap)
        return np.vstack([q.take(hit), self._owner.take(slot.take(hit))])


def _first_cell(lo: IntArray, cx: IntArray, cy: IntArray) -> FlagArray:
    """Per (box, cell) entry: 1 if the cell is in its box's first column ``lo[0]``, plus 2
    if it is in its first row ``lo[1]``."""
    first: FlagArray = (cx == lo[0]).astype(np.uint8)
    first |= (cy == lo[1]).astype(np.uint8) << 1
    return first


def _middle(values: FloatArray) -> float:
    """An element at the middle of the sorted values (0 for none): a median that never
    averages, so it cannot overflow."""
    if len(values) == 0:
        return 0.0
    return float(np.partition(values, len(values) // 2)[len(values) // 2])


def rtree_index_class() -> type[Index]:
    """rtree's ``Index``, imported on first use, or an ImportError that says what to install.

    The one import not at the top of a module: rtree is an optional extra, and loading
    libspatialindex costs every ``geoarena score`` about 20 ms even on the default
    STRtree backend.
    """
    try:
        from rtree.index import Index
    except ImportError as exc:
        raise ImportError(
            "the rtree backend needs the rtree package: pip install 'geoarena[rtree]'"
        ) from exc
    return Index


def _box_geometries(boxes: FloatArray) -> ObjectArray:
    """shapely boxes of ``(n, 4)`` bounds."""
    b = np.asarray(boxes, dtype=np.float64)
    return shapely.box(b[:, 0], b[:, 1], b[:, 2], b[:, 3])


INDEXES: dict[str, type[BaseSpatialIndex]] = {
    "grid": GridIndex,
    "strtree": STRtreeIndex,
    "rtree": RtreeIndex,
}


def get_index(kind: str | type[BaseSpatialIndex] | None) -> type[BaseSpatialIndex]:
    """Normalise ``None | name | class`` to an index class (None means the grid)."""
    if kind is None:
        return GridIndex
    if isinstance(kind, type) and issubclass(kind, BaseSpatialIndex):
        return kind
    if kind not in INDEXES:
        raise KeyError(f"unknown spatial index {kind!r}; choose one of {', '.join(INDEXES)}")
    return INDEXES[kind]
