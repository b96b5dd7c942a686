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

from .arrays import FloatArray, IntArray, ObjectArray

if TYPE_CHECKING:
    from rtree.index import Index


class BaseSpatialIndex(ABC):
    """An immutable index over axis-aligned boxes, built once and queried in bulk.

    Boxes are ``(n, 4)`` float arrays of ``xmin, ymin, xmax, ymax``. Backends must return
    the same pairs: every (query, indexed) pair whose closed boxes intersect.
    """

    name: ClassVar[str]

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


INDEXES: dict[str, type[BaseSpatialIndex]] = {"strtree": STRtreeIndex, "rtree": RtreeIndex}


def get_index(kind: str | type[BaseSpatialIndex] | None) -> type[BaseSpatialIndex]:
    """Normalise ``None | name | class`` to an index class (None means STRtree)."""
    if kind is None:
        return STRtreeIndex
    if isinstance(kind, type) and issubclass(kind, BaseSpatialIndex):
        return kind
    if kind not in INDEXES:
        raise KeyError(f"unknown spatial index {kind!r}; choose one of {', '.join(INDEXES)}")
    return INDEXES[kind]
