"""Spatial-index seam: bulk candidate pairs from bounding boxes.

All images of a file share one pixel frame (0..650), so one index over raw boxes would pair
every proposal with the buildings at the same spot in every other image. The scorer
therefore shifts each image's boxes along x into its own slot before indexing (see
``matching.image_boxes``), and an index only ever sees disjoint per-image slots.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

import numpy as np
import shapely


class BaseSpatialIndex(ABC):
    """An immutable index over axis-aligned boxes, built once and queried in bulk.

    Boxes are ``(n, 4)`` float arrays of ``xmin, ymin, xmax, ymax``. Backends must return
    the same pairs: every (query, indexed) pair whose closed boxes intersect.
    """

    name: ClassVar[str]

    @abstractmethod
    def __init__(self, boxes: np.ndarray) -> None: ...

    @abstractmethod
    def query(self, boxes: np.ndarray) -> np.ndarray:
        """``(2, m)`` int64 array of (query index, indexed index) pairs, any order."""


class STRtreeIndex(BaseSpatialIndex):
    """shapely's STRtree (a packed R-tree in GEOS): the default, fastest in bulk here."""

    name = "strtree"

    def __init__(self, boxes: np.ndarray) -> None:
        self._tree = shapely.STRtree(shapely.box(*np.asarray(boxes, dtype=float).T))

    def query(self, boxes: np.ndarray) -> np.ndarray:
        if len(boxes) == 0:
            return np.empty((2, 0), dtype=np.int64)
        return self._tree.query(shapely.box(*np.asarray(boxes, dtype=float).T)).astype(np.int64)


class RtreeIndex(BaseSpatialIndex):
    """libspatialindex through the ``rtree`` package (``pip install geoarena[rtree]``)."""

    name = "rtree"

    def __init__(self, boxes: np.ndarray) -> None:
        try:
            from rtree import index
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise ImportError(
                "the rtree backend needs the rtree package: pip install 'geoarena[rtree]'"
            ) from exc
        boxes = np.ascontiguousarray(boxes, dtype=np.float64)
        self._size = len(boxes)
        if self._size:
            ids = np.arange(self._size, dtype=np.int64)
            self._index = index.Index((ids, boxes[:, :2].copy(), boxes[:, 2:].copy()))

    def query(self, boxes: np.ndarray) -> np.ndarray:
        if len(boxes) == 0 or self._size == 0:
            return np.empty((2, 0), dtype=np.int64)
        boxes = np.ascontiguousarray(boxes, dtype=np.float64)
        ids, counts = self._index.intersection_v(boxes[:, :2].copy(), boxes[:, 2:].copy())
        queries = np.repeat(np.arange(len(boxes), dtype=np.int64), counts.astype(np.int64))
        return np.vstack([queries, ids.astype(np.int64)])


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
