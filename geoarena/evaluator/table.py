"""The columnar polygon table every reader produces and every scorer consumes."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .errors import RowError


@dataclass(frozen=True, eq=False)
class PolygonTable:
    """Validated rows of a truth or proposal CSV, one numpy array per column.

    Geometries are shapely Polygons or MultiPolygons (``POLYGON EMPTY`` included): the
    readers reject everything else, so scorers never re-validate. A z coordinate, when the
    file has one, is kept and ignored (GEOS measures areas and overlaps in 2-D). ``line`` keeps the
    source line of each row for error messages and per-proposal reports.
    """

    name: str
    image_id: np.ndarray  # object array of str
    building_id: np.ndarray  # int64
    geometry: np.ndarray  # object array of shapely geometries
    confidence: np.ndarray | None  # float64, None when the file has no Confidence column
    line: np.ndarray  # int64, 1-based line in the source (row number for in-memory tables)
    skipped: tuple[RowError, ...] = field(default=())

    def __len__(self) -> int:
        return len(self.image_id)

    @property
    def image_ids(self) -> list[str]:
        """Sorted unique ImageIds, including images listed only by ``-1,POLYGON EMPTY``."""
        return sorted(set(self.image_id.tolist()))

    def take(self, mask: np.ndarray) -> PolygonTable:
        """A new table with the rows selected by a boolean mask or an index array."""
        return PolygonTable(
            name=self.name,
            image_id=self.image_id[mask],
            building_id=self.building_id[mask],
            geometry=self.geometry[mask],
            confidence=None if self.confidence is None else self.confidence[mask],
            line=self.line[mask],
            skipped=self.skipped,
        )

    def image_codes(self, vocabulary: np.ndarray) -> np.ndarray:
        """Position of each row's ImageId in a sorted vocabulary (-1 where absent)."""
        return encode(self.image_id, vocabulary)

    @classmethod
    def from_wkt(
        cls,
        image_ids,
        building_ids,
        wkts,
        confidences=None,
        *,
        name: str = "<memory>",
        max_vertices: int | None = None,
    ) -> PolygonTable:
        """Build a table from in-memory columns, validated exactly like a CSV file.

        Examples
        --------
        >>> t = PolygonTable.from_wkt(["img1"], [0], ["POLYGON ((0 0, 10 0, 10 10, 0 10, 0 0))"])
        >>> len(t), t.image_ids
        (1, ['img1'])
        """
        from .io import DEFAULT_MAX_VERTICES, build_table

        columns = {
            "ImageId": np.asarray([str(v) for v in image_ids], dtype=object),
            "BuildingId": np.asarray([str(v) for v in building_ids], dtype=object),
            "PolygonWKT_Pix": np.asarray(list(wkts), dtype=object),
        }
        if confidences is not None:
            columns["Confidence"] = np.asarray([str(v) for v in confidences], dtype=object)
        lengths = {name: len(col) for name, col in columns.items()}
        if len(set(lengths.values())) > 1:
            raise ValueError(f"columns of different lengths: {lengths}")
        lines = np.arange(1, len(columns["ImageId"]) + 1, dtype=np.int64)
        return build_table(
            columns,
            lines,
            name=name,
            on_error="raise",
            max_vertices=DEFAULT_MAX_VERTICES if max_vertices is None else max_vertices,
        )


def unique_ids(values: np.ndarray) -> np.ndarray:
    """Sorted unique strings as an object array (a set, then a sort of the few uniques)."""
    return np.asarray(sorted(set(values.tolist())), dtype=object)


def encode(values: np.ndarray, vocabulary: np.ndarray) -> np.ndarray:
    """Position of each string in ``vocabulary`` (-1 where absent), by dict lookup."""
    position = {v: i for i, v in enumerate(vocabulary.tolist())}
    return np.fromiter((position.get(v, -1) for v in values.tolist()), np.int64, len(values))
