"""From probability and energy maps to building polygons (the paper's watershed step).

Markers are the connected components of ``energy > t_energy`` inside ``prob > t_mask``;
a watershed on ``-energy`` grows them until they fill the mask, so two buildings that
touch are split along their low-energy shared wall, where connected components of the
mask would merge them. Each region becomes one polygon in original-tile pixel
coordinates; regions below ``min_area`` are dropped; confidence = mean probability.

Speed: the watershed only runs on the (few) mask components that hold two or more
markers, each on its own bounding box; every other component is already one building.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field
from scipy import ndimage
from shapely.geometry import Polygon
from skimage.measure import find_contours
from skimage.segmentation import watershed

METHODS = ("watershed", "components")
#: simplification tolerance in original-tile pixels: drops collinear contour points only.
SIMPLIFY_TOLERANCE = 0.3


class Thresholds(BaseModel):
    """The three post-processing knobs, always together: they are validated, stored in
    checkpoints, searched per trial and passed to prediction as one value.

    Units: ``t_energy`` and ``t_mask`` are probabilities, ``min_area`` is in original-tile
    pixels. The defaults are the training config's (the paper's values).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: marker threshold on the energy map.
    t_energy: float = Field(0.3, gt=0, lt=1)
    #: building threshold on the mask probability.
    t_mask: float = Field(0.5, gt=0, lt=1)
    #: smallest kept building, in original-tile pixels.
    min_area: float = Field(20.0, ge=0)

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """The field names, as users write them in YAML and on the command line."""
        return tuple(cls.model_fields)

    def to_dict(self) -> dict[str, float]:
        return {"t_energy": self.t_energy, "t_mask": self.t_mask, "min_area": self.min_area}

    def replace(self, **changes: float | None) -> Thresholds:
        """A validated copy with ``changes`` applied (``None`` keeps the current value)."""
        kept = {k: v for k, v in changes.items() if v is not None}
        return Thresholds.model_validate({**self.to_dict(), **kept})


@dataclass(frozen=True, slots=True)
class Instance:
    """One detected building."""

    polygon: Polygon
    #: mean mask probability over the region's pixels
    confidence: float
    #: region area in original-tile pixels
    area: float


def label_instances(
    prob: NDArray[np.float32],
    energy: NDArray[np.float32],
    thresholds: Thresholds,
    *,
    method: str = "watershed",
) -> NDArray[np.int32]:
    """Instance labels (int32, 0 = background) of one tile's maps (``min_area`` unused).

    ``method="components"`` is the baseline without energy: connected components of the
    mask. With ``"watershed"``, a mask component without any marker is kept whole (a
    building whose energy never rises above ``t_energy``, typically a small one).
    """
    if method not in METHODS:
        raise ValueError(f"unknown post-processing method {method!r}; choose from {METHODS}")
    mask = prob > thresholds.t_mask
    comp, n_comp = _label(mask)
    if method == "components" or n_comp == 0:
        return comp
    markers, n_markers = _label((energy > thresholds.t_energy) & mask)
    if n_markers < 2:
        return comp
    # every marker lies inside one mask component: a scatter finds which, in O(pixels)
    owner = np.zeros(n_markers + 1, dtype=np.int64)
    owner[markers.ravel()] = comp.ravel()
    per_comp = np.bincount(owner[1:], minlength=n_comp + 1)
    split = np.nonzero(per_comp >= 2)[0]
    if split.size == 0:
        return comp
    labels = comp.copy()
    slices = ndimage.find_objects(comp)
    crops = [(slices[c - 1], comp[slices[c - 1]] == c) for c in split]
    regions = _packed_watershed(
        [(-energy[sl], np.where(inside, markers[sl], 0), inside) for sl, inside in crops]
    )
    for (sl, inside), region in zip(crops, regions, strict=True):
        # marker ids are unique, so n_comp + marker id never collides with a component id
        labels[sl][inside] = n_comp + region[inside]
    return labels


def _label(mask: NDArray[np.bool_]) -> tuple[NDArray[np.int32], int]:
    """Connected components of ``mask`` (4-connectivity) and their count."""
    labels, count = ndimage.label(mask)
    return np.asarray(labels, dtype=np.int32), int(count)


def _packed_watershed(
    crops: list[tuple[NDArray[Any], NDArray[Any], NDArray[np.bool_]]],
) -> list[NDArray[np.int32]]:
    """Watershed of many small (image, markers, mask) crops in one scikit-image call.

    Each call costs ~0.4 ms of fixed overhead, more than flooding a building-sized crop,
    so the crops are shelf-packed into one mosaic, separated by a masked-out pixel.
    """
    heights = [c[0].shape[0] for c in crops]
    widths = [c[0].shape[1] for c in crops]
    row_width = max(
        max(widths), int(np.sqrt(sum(h * w for h, w in zip(heights, widths, strict=True)))) * 2
    )
    places, x, y, shelf = [], 0, 0, 0
    for i in sorted(range(len(crops)), key=lambda i: -heights[i]):
        if x + widths[i] > row_width:
            x, y, shelf = 0, y + shelf + 1, 0
        places.append((i, y, x))
        x += widths[i] + 1
        shelf = max(shelf, heights[i])
    canvas_shape = (y + shelf, row_width)
    image = np.zeros(canvas_shape, dtype=np.float32)
    seeds = np.zeros(canvas_shape, dtype=np.int32)
    mask = np.zeros(canvas_shape, dtype=bool)
    for i, y, x in places:
        h, w = heights[i], widths[i]
        image[y : y + h, x : x + w], seeds[y : y + h, x : x + w], mask[y : y + h, x : x + w] = (
            crops[i]
        )
    flooded = np.asarray(watershed(image, seeds, mask=mask), dtype=np.int32)
    out: list[NDArray[np.int32]] = [np.empty(0, dtype=np.int32)] * len(crops)
    for i, y, x in places:
        out[i] = flooded[y : y + heights[i], x : x + widths[i]]
    return out


def _outer_ring(padded_region: NDArray[np.uint8]) -> NDArray[np.float64] | None:
    """(row, col) vertices of the largest contour of a zero-padded 0/1 region."""
    found: list[NDArray[np.float64]] = find_contours(padded_region, 0.5)
    contours = [c for c in found if len(c) >= 4]
    if not contours:
        return None
    if len(contours) == 1:
        return contours[0]
    # holes and separate parts give extra contours: keep the one enclosing most area
    areas = [
        abs(np.dot(c[:, 0], np.roll(c[:, 1], 1)) - np.dot(c[:, 1], np.roll(c[:, 0], 1)))
        for c in contours
    ]
    return contours[int(np.argmax(areas))]


def _valid_polygons(rings: list[NDArray[np.float64]]) -> list[Polygon | None]:
    """Polygons from (x, y) rings, lightly simplified and made valid, vectorised in GEOS."""
    coords = np.concatenate(rings)
    owner = np.repeat(np.arange(len(rings)), [len(r) for r in rings])
    simplified: NDArray[np.object_] = np.asarray(
        shapely.simplify(
            shapely.polygons(shapely.linearrings(coords, indices=owner)),
            SIMPLIFY_TOLERANCE,
            preserve_topology=False,
        ),
        dtype=object,
    )
    polys: list[Polygon | None] = list(simplified)
    for i in np.nonzero(~shapely.is_valid(simplified) | shapely.is_empty(simplified))[0]:
        fixed = shapely.make_valid(shapely.polygons(rings[i]))
        parts = [g for g in getattr(fixed, "geoms", [fixed]) if isinstance(g, Polygon)]
        polys[i] = max(parts, key=lambda g: g.area) if parts else None
    return polys


def region_polygon(
    region: NDArray[np.bool_], row0: int = 0, col0: int = 0, scale: float = 1.0
) -> Polygon | None:
    """Outer boundary of a boolean region (cropped at ``row0, col0``) as a valid polygon.

    The marching-squares contour at level 0.5 runs along pixel edges (pixel centre = index
    + 0.5 in SpaceNet pixel coordinates); dividing by ``scale`` undoes an upscaling.
    """
    ring = _outer_ring(np.pad(region, 1).astype(np.uint8))
    if ring is None:
        return None
    xy = np.column_stack([ring[:, 1] + col0 - 0.5, ring[:, 0] + row0 - 0.5]) / scale
    return _valid_polygons([xy])[0]


def labels_to_instances(
    labels: NDArray[np.int32], prob: NDArray[np.float32], *, min_area: float, scale: float = 1.0
) -> list[Instance]:
    """One ``Instance`` per label with at least ``min_area`` original pixels."""
    min_pixels = max(min_area * scale * scale, 1)
    height, width = labels.shape
    rings: list[NDArray[np.float64]] = []
    stats: list[tuple[float, float]] = []
    for k, sl in enumerate(ndimage.find_objects(labels), start=1):
        if sl is None:
            continue
        # crop with a one-pixel frame (zero-padded at the tile border) for the contour
        r0, r1 = max(sl[0].start - 1, 0), min(sl[0].stop + 1, height)
        c0, c1 = max(sl[1].start - 1, 0), min(sl[1].stop + 1, width)
        region = labels[r0:r1, c0:c1] == k
        pixels = int(np.count_nonzero(region))
        if pixels < min_pixels:
            continue
        pad = ((sl[0].start - r0 == 0, sl[0].stop == r1), (sl[1].start - c0 == 0, sl[1].stop == c1))
        framed = np.pad(region, np.asarray(pad, dtype=int)) if np.any(pad) else region
        ring = _outer_ring(framed.view(np.uint8))
        if ring is None:
            continue
        top, left = r0 - int(pad[0][0]), c0 - int(pad[1][0])
        rings.append(np.column_stack([ring[:, 1] + left + 0.5, ring[:, 0] + top + 0.5]) / scale)
        confidence = float(prob[r0:r1, c0:c1][region].mean())
        stats.append((confidence, pixels / scale**2))
    if not rings:
        return []
    polys = _valid_polygons(rings)
    return [
        Instance(poly, confidence, area)
        for poly, (confidence, area) in zip(polys, stats, strict=True)
        if poly is not None and not poly.is_empty and poly.area > 0
    ]


def maps_to_polygons(
    prob: NDArray[np.floating[Any]],
    energy: NDArray[np.floating[Any]],
    thresholds: Thresholds,
    *,
    scale: float = 1.0,
    method: str = "watershed",
) -> list[Instance]:
    """Building instances of one tile from its probability and energy maps.

    Args:
        prob: (H, W) sigmoid mask probability.
        energy: (H, W) predicted energy in [0, 1].
        thresholds: marker, mask and area thresholds (``min_area`` in original pixels).
        scale: how much the maps are upscaled relative to the original tile.
        method: "watershed" (the paper) or "components" (baseline without energy).
    """
    if prob.shape != energy.shape or prob.ndim != 2:
        raise ValueError(
            f"prob and energy must be equal 2-D maps, got {prob.shape}, {energy.shape}"
        )
    prob32 = np.asarray(prob, dtype=np.float32)
    energy32 = np.asarray(energy, dtype=np.float32)
    labels = label_instances(prob32, energy32, thresholds, method=method)
    return labels_to_instances(labels, prob32, min_area=thresholds.min_area, scale=scale)


def filter_area(instances: Sequence[Instance], min_area: float) -> list[Instance]:
    """The instances of at least ``min_area`` original pixels: what ``maps_to_polygons``
    keeps at that ``min_area``, from its output at a smaller one (unscaled maps)."""
    return [i for i in instances if i.area >= min_area]


#: a proposals CSV row: ImageId, BuildingId, PolygonWKT_Pix, Confidence
Row = tuple[str, int, str, float]


def instances_to_rows(image_id: str, instances: Sequence[Instance]) -> list[Row]:
    """SpaceNet proposal rows; a tile without buildings gets one ``POLYGON EMPTY`` row."""
    if not instances:
        return [(image_id, -1, "POLYGON EMPTY", 1.0)]
    wkts = shapely.to_wkt([i.polygon for i in instances], rounding_precision=2)
    return [
        (image_id, k, wkt, round(inst.confidence, 4))
        for k, (wkt, inst) in enumerate(zip(wkts, instances, strict=True), start=1)
    ]


def write_proposals_csv(rows: Iterable[Row], out_csv: str | Path) -> Path:
    """Write rows atomically (a temporary file renamed into place)."""
    out_csv = Path(out_csv)
    out_csv.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_csv.with_name(out_csv.name + ".tmp")
    with open(tmp, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["ImageId", "BuildingId", "PolygonWKT_Pix", "Confidence"])
        writer.writerows(rows)
    tmp.replace(out_csv)
    return out_csv
