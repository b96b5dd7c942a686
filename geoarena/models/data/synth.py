"""Synthetic cities: tiles a CNN has to learn from, with exact SpaceNet truth.

Each tile has textured ground, roads, vegetation with trees, cast shadows and buildings of
varied roof colours and shapes (rectangles, L-shapes, rotated blocks). Four "cities" with
different styles mimic the spread of SpaceNet round 2:

- ``Gridvale``: suburban grid, detached houses, light roofs on pale ground (Las Vegas).
- ``Oldtown``: terraced rows whose buildings share walls, red/grey roofs (Paris).
- ``Towerpark``: large rotated slabs and L-shapes among greenery (Shanghai).
- ``Sandfield``: small compounds on sand, roofs close to the ground colour (Khartoum).

Roof colours overlap the ground and road colours, so a colour threshold is not enough:
edges, shadows and shape have to be learned. Truth polygons use the same pixel-centre
convention as ``targets.rasterize_instances``, so rasterising the truth gives the roofs.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import shapely
import tifffile
from numpy.typing import NDArray
from scipy import ndimage
from shapely import affinity
from shapely.geometry import Polygon, box
from shapely.geometry.base import BaseGeometry

from geoarena.models.data.targets import rasterize_instances


@dataclass(frozen=True)
class CityStyle:
    """Knobs of one synthetic city (sizes in pixels)."""

    name: str
    aoi: int
    ground: tuple[int, int, int]
    road: tuple[int, int, int]
    roofs: tuple[tuple[int, int, int], ...]
    block: tuple[int, int]  # road spacing range
    width: tuple[int, int]  # building size along a row
    depth: tuple[int, int]  # building size across a row
    gap: tuple[int, int]  # gap between neighbours in a row (0 = shared wall)
    rotation: float  # max block rotation, degrees
    l_shape: float  # probability of an L-shaped building
    vegetation: float  # share of free ground covered by vegetation
    density: float  # probability that a slot gets a building


CITIES: dict[str, CityStyle] = {
    s.name: s
    for s in (
        CityStyle(
            "Gridvale",
            1,
            (196, 184, 160),
            (110, 110, 115),
            ((225, 222, 215), (200, 190, 175), (150, 140, 130), (120, 95, 80)),
            (90, 130),
            (18, 30),
            (16, 26),
            (5, 10),
            0.0,
            0.25,
            0.15,
            0.85,
        ),
        CityStyle(
            "Oldtown",
            2,
            (120, 118, 110),
            (90, 88, 86),
            ((170, 85, 60), (150, 150, 155), (185, 120, 90), (110, 105, 110), (200, 195, 185)),
            (100, 150),
            (14, 26),
            (18, 30),
            (0, 1),
            8.0,
            0.2,
            0.1,
            0.95,
        ),
        CityStyle(
            "Towerpark",
            3,
            (105, 125, 95),
            (95, 95, 100),
            ((190, 195, 200), (80, 85, 95), (140, 150, 165), (210, 205, 190)),
            (120, 180),
            (26, 48),
            (20, 34),
            (10, 22),
            30.0,
            0.45,
            0.4,
            0.7,
        ),
        CityStyle(
            "Sandfield",
            5,
            (185, 160, 125),
            (160, 140, 115),
            ((175, 150, 120), (200, 185, 160), (140, 125, 110), (215, 210, 200)),
            (80, 120),
            (10, 20),
            (10, 18),
            (2, 8),
            20.0,
            0.15,
            0.08,
            0.8,
        ),
    )
}


def _noise(rng: np.random.Generator, shape: tuple[int, int], sigma: float) -> NDArray[np.float64]:
    """Smooth noise with unit standard deviation."""
    field = np.asarray(ndimage.gaussian_filter(rng.standard_normal(shape), sigma), np.float64)
    scaled: NDArray[np.float64] = field / (field.std() + 1e-6)
    return scaled


def _building(
    rng: np.random.Generator, x: float, y: float, w: float, d: float, p_l: float
) -> BaseGeometry:
    """Axis-aligned rectangle or L-shape with its corner at (x, y)."""
    rect: BaseGeometry = box(x, y, x + w, y + d)
    if rng.random() < p_l and w > 12 and d > 12:
        cw, cd = w * rng.uniform(0.35, 0.6), d * rng.uniform(0.35, 0.6)
        cx = x + w - cw if rng.random() < 0.5 else x
        cy = y + d - cd if rng.random() < 0.5 else y
        rect = rect.difference(box(cx, cy, cx + cw, cy + cd))
    return rect


def _fits(
    shape: BaseGeometry, roads: BaseGeometry, block: Polygon, buildings: list[BaseGeometry]
) -> bool:
    """Clear of roads, inside its block, and touching (never overlapping) other buildings."""
    if shape.intersects(roads) or not shape.within(block.buffer(4)):
        return False
    return not any(shape.overlaps(b) or shape.within(b) for b in buildings)


def _layout(
    rng: np.random.Generator, style: CityStyle, size: int
) -> tuple[list[Polygon], list[BaseGeometry]]:
    """(roads, buildings) in pixel coordinates; buildings never overlap roads or each other."""
    roads: list[Polygon] = []
    edges = {"x": [0.0], "y": [0.0]}
    for axis in ("x", "y"):
        pos = rng.uniform(-style.block[1] / 2, style.block[0] / 2)
        while pos < size:
            pos += rng.uniform(*style.block)
            if pos < size:
                width = rng.uniform(7, 13)
                roads.append(
                    box(pos, -5, pos + width, size + 5)
                    if axis == "x"
                    else box(-5, pos, size + 5, pos + width)
                )
                edges[axis] += [pos, pos + width]
        edges[axis].append(float(size))
    road_union: BaseGeometry = shapely.union_all(roads) if roads else Polygon()
    buildings: list[BaseGeometry] = []
    xs, ys = edges["x"], edges["y"]
    for bx0, bx1 in zip(xs[::2], xs[1::2], strict=False):
        for by0, by1 in zip(ys[::2], ys[1::2], strict=False):
            block = box(bx0, by0, bx1, by1)
            angle = rng.uniform(-style.rotation, style.rotation)
            centre = block.centroid
            y = by0 + rng.uniform(2, 6)
            while y < by1:
                depth = rng.uniform(*style.depth)
                x = bx0 + rng.uniform(2, 6)
                while x < bx1:
                    width = rng.uniform(*style.width)
                    if rng.random() < style.density:
                        jitter = 0.0 if style.gap[1] <= 1 else rng.uniform(0, 3)
                        shape = _building(rng, x, y + jitter, width, depth - jitter, style.l_shape)
                        shape = affinity.rotate(shape, angle, origin=centre)
                        if _fits(shape, road_union, block, buildings):
                            buildings.append(shape)
                    x += width + rng.integers(style.gap[0], style.gap[1] + 1)
                y += depth + rng.uniform(*style.gap) + rng.uniform(2, 10)
    return roads, buildings


def render_tile(
    rng: np.random.Generator, style: CityStyle, size: int
) -> tuple[NDArray[np.uint8], list[Polygon]]:
    """One (size, size, 3) uint8 tile of ``style`` and its building polygons."""
    shape = (size, size)
    roads, buildings = _layout(rng, style, size)
    img = np.empty((size, size, 3), dtype=np.float32)
    ground = np.asarray(style.ground, np.float32) * rng.uniform(0.93, 1.07, 3)
    img[:] = ground
    img += (_noise(rng, shape, size / 10) * 14)[..., None]
    img += (_noise(rng, shape, 1.0) * 7)[..., None]

    road_mask = rasterize_instances(roads, shape) > 0
    img[road_mask] = np.asarray(style.road, np.float32) + rng.normal(0, 5, (road_mask.sum(), 3))

    building_ids = rasterize_instances(buildings, shape)
    free = (building_ids == 0) & ~road_mask
    veg = (_noise(rng, shape, 6) > np.quantile(_noise(rng, shape, 6), 1 - style.vegetation)) & free
    green = np.array([70, 105, 55], np.float32) * rng.uniform(0.8, 1.2)
    img[veg] = green + (_noise(rng, shape, 1.5)[veg] * 12)[:, None]

    # cast shadows: each building's footprint shifted along the sun direction, on the ground
    sun = rng.uniform(0, 2 * np.pi)
    height = rng.uniform(2, 6)
    dx, dy = round(np.cos(sun) * height), round(np.sin(sun) * height)
    shadow = np.roll(building_ids > 0, (dy, dx), axis=(0, 1)) & (building_ids == 0)
    img[shadow] *= 0.55

    # trees: dark round crowns with their own shadows, only on free ground
    n_trees = int(style.vegetation * size * size / 400)
    yy, xx = np.ogrid[:size, :size]
    for _ in range(n_trees):
        cy, cx, r = rng.uniform(0, size), rng.uniform(0, size), rng.uniform(2, 5)
        crown = ((yy - cy) ** 2 + (xx - cx) ** 2 <= r * r) & (building_ids == 0) & ~road_mask
        img[crown] = green * 0.7 + rng.normal(0, 6, (crown.sum(), 3))

    # roofs: one colour per building, a ridge shading, darker eaves along the outline
    palette = np.asarray(style.roofs, np.float32)
    for index in range(1, len(buildings) + 1):
        roof = building_ids == index
        if not roof.any():
            continue
        colour = palette[rng.integers(len(palette))] * rng.uniform(0.85, 1.15)
        rr, cc = np.nonzero(roof)
        theta = rng.uniform(0, np.pi)
        along = (cc - cc.mean()) * np.cos(theta) + (rr - rr.mean()) * np.sin(theta)
        shade = np.where(along > 0, 1.0, rng.uniform(0.75, 0.92))
        img[rr, cc] = colour * shade[:, None] + rng.normal(0, 4, (rr.size, 3))
        edge = roof & ~ndimage.binary_erosion(roof)
        img[edge] *= rng.uniform(0.6, 0.8)

    img = ndimage.gaussian_filter(img, sigma=(0.6, 0.6, 0))
    img = img * rng.uniform(0.85, 1.15) + rng.normal(0, 3, img.shape)
    polygons: list[Polygon] = []
    tile_box = box(0, 0, size, size)
    for geom in buildings:
        clipped = geom.intersection(tile_box)
        if isinstance(clipped, Polygon) and clipped.area >= 8:
            polygons.append(clipped)
    return np.clip(img, 0, 255).astype(np.uint8), polygons


def write_synthetic(
    out: str | Path,
    *,
    tiles: int = 40,
    seed: int = 0,
    size: int = 650,
    cities: list[str] | None = None,
    bits: int = 8,
) -> Path:
    """Write ``tiles`` tiles (round-robin over ``cities``) and ``truth.csv`` into ``out``.

    Images go to ``out/images/AOI_<n>_<City>_img<k>.tif``; 16-bit output (``bits=16``)
    scales each city differently, like real pan-sharpened data. Returns the truth path.
    """
    names = cities or list(CITIES)
    unknown = [c for c in names if c not in CITIES]
    if unknown:
        raise ValueError(f"unknown synthetic cities {unknown}; choose from {sorted(CITIES)}")
    if bits not in (8, 16):
        raise ValueError(f"bits must be 8 or 16, got {bits}")
    out = Path(out)
    (out / "images").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    truth = out / "truth.csv"
    with open(truth, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["ImageId", "BuildingId", "PolygonWKT_Pix"])
        for k in range(tiles):
            style = CITIES[names[k % len(names)]]
            image, polygons = render_tile(rng, style, size)
            image_id = f"AOI_{style.aoi}_{style.name}_img{k}"
            pixels: NDArray[np.uint8 | np.uint16] = image
            if bits == 16:
                pixels = image.astype(np.uint16) * (4 + style.aoi * 3) + 100 * style.aoi
            tifffile.imwrite(out / "images" / f"{image_id}.tif", pixels)
            if not polygons:
                writer.writerow([image_id, -1, "POLYGON EMPTY"])
            for b, poly in enumerate(polygons, start=1):
                writer.writerow([image_id, b, shapely.to_wkt(poly, rounding_precision=2)])
    return truth
