"""Drawing a synthetic tile: materials with 8-band spectra, roofs, shadows, trees, light.

The image is rendered as reflectance in 8 WorldView-3 bands (coastal, blue, green,
yellow, red, red edge, NIR1, NIR2); the RGB product is bands (red, green, blue). What
makes it worth learning from: nothing is drawn on a truth edge -- a building is only
visible through its roof material, texture and shading against what surrounds it, the
shadow it casts (away from the sun, as long as the building is tall) and the trees that
hide parts of it. Neighbours sharing a wall often have similar roofs, so telling them
apart needs the faint change of colour or the ridge and valley of their pitched roofs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage
from shapely import affinity
from shapely.geometry import Point, Polygon, box
from shapely.geometry.base import BaseGeometry

from geoarena.models.data.synth.layout import (
    Building,
    Frame,
    RoofKind,
    layout_tile,
    truth_polygon,
)
from geoarena.models.data.synth.styles import RGB, CityStyle
from geoarena.models.data.targets import polygon_window

BANDS = ("coastal", "blue", "green", "yellow", "red", "red_edge", "nir1", "nir2")
#: indices of red, green, blue in ``BANDS``: the RGB product.
RGB_BANDS = (4, 2, 1)
Material = Literal["built", "soil", "road", "veg", "water"]
Image = NDArray[np.float32]

_VEG = (74, 104, 58)
_TREE = (52, 84, 44)
_CONCRETE = (176, 174, 168)
_WATER = (64, 150, 186)
#: what shadow does to each band: deeper in the near infrared, bluish in the visible.
_SHADOW = np.array([0.62, 0.56, 0.48, 0.45, 0.42, 0.42, 0.40, 0.40], np.float32)


def spectrum(rgb: RGB | tuple[float, float, float], material: Material) -> NDArray[np.float32]:
    """The 8-band reflectance of a material seen as ``rgb`` (0-255) in the RGB product."""
    r, g, b = (c / 255.0 for c in rgb)
    nir = {
        "veg": 0.42 + 0.9 * g,
        "soil": 1.12 * r + 0.04,
        "built": 0.96 * r + 0.04 * g,
        "road": 0.92 * r,
        "water": 0.25 * b,
    }[material]
    bands = [0.8 * b + 0.08, b, g, (g + r) / 2, r, (r + nir) / 2, nir, 0.95 * nir]
    return np.clip(np.array(bands, np.float32), 0.0, 1.0)


@dataclass(frozen=True)
class Lighting:
    """The sun of one tile: azimuth (radians, image frame, towards the sun) and elevation."""

    azimuth: float
    elevation: float

    @property
    def vector(self) -> NDArray[np.float64]:
        el = self.elevation
        return np.array(
            [
                math.cos(self.azimuth) * math.cos(el),
                math.sin(self.azimuth) * math.cos(el),
                math.sin(el),
            ]
        )

    def shadow_offset(self, height_m: float, gsd: float) -> tuple[float, float]:
        """Pixel offset of the tip of the shadow of something ``height_m`` tall."""
        length = min(height_m / math.tan(self.elevation), 30.0) / gsd
        return -math.cos(self.azimuth) * length, -math.sin(self.azimuth) * length


def noise(rng: np.random.Generator, shape: tuple[int, int], scale: float) -> NDArray[np.float32]:
    """Smooth noise of unit standard deviation with features about ``scale`` px wide
    (a coarse random grid, upsampled: cheap even for tile-sized features)."""
    cells = (
        max(int(shape[0] / max(scale, 1.0)) + 3, 3),
        max(int(shape[1] / max(scale, 1.0)) + 3, 3),
    )
    coarse = rng.standard_normal(cells).astype(np.float32)
    fine = ndimage.zoom(coarse, (shape[0] / (cells[0] - 2), shape[1] / (cells[1] - 2)), order=3)
    out = fine[: shape[0], : shape[1]]
    out -= out.mean()
    return np.asarray(out / (out.std() + 1e-6), np.float32)


def _paint(
    img: Image, geoms: list[BaseGeometry], colour: NDArray[np.float32], texture: Image
) -> None:
    for geom in geoms:
        if geom.is_empty:
            continue
        window, mask = polygon_window(geom, img.shape[:2])
        if mask.any():
            img[window][mask] = colour * texture[window][mask][:, None]


def render_tile(
    rng: np.random.Generator, style: CityStyle, size: int, gsd: float = 0.3
) -> tuple[Image, list[Building]]:
    """One ``(size, size, 8)`` float32 reflectance tile of ``style`` and its buildings."""
    layout, frame, found = layout_tile(rng, style, size, gsd)
    shape = (size, size)
    light = Lighting(rng.uniform(0, 2 * math.pi), math.radians(rng.uniform(35, 70)))
    fine = 1.0 + 0.05 * noise(rng, shape, 1.5)
    ground = spectrum(style.ground[int(rng.integers(len(style.ground)))], "soil")
    img = np.empty((size, size, len(BANDS)), np.float32)
    img[:] = ground * rng.uniform(0.94, 1.06, len(BANDS)).astype(np.float32)
    img *= (1.0 + 0.08 * noise(rng, shape, size / 4) + 0.05 * noise(rng, shape, 8 / gsd))[..., None]
    img *= fine[..., None]
    patches = noise(rng, shape, 6 / gsd)
    veg = patches > np.quantile(patches, 1 - style.vegetation) if style.vegetation else None
    if veg is not None:
        grass = spectrum(_VEG, "veg") * rng.uniform(0.85, 1.15)
        img[veg] = grass * (1.0 + 0.12 * noise(rng, shape, 1.0 / gsd))[veg][:, None]
    _paint(img, layout.paved, spectrum(_CONCRETE, "built") * rng.uniform(0.85, 1.05), fine)
    _paint(img, layout.sidewalks, spectrum(_CONCRETE, "built") * rng.uniform(0.9, 1.1), fine)
    asphalt = 1.0 + 0.06 * noise(rng, shape, 0.6 / gsd)
    _paint(img, layout.roads, spectrum(style.road, "road") * rng.uniform(0.9, 1.1), asphalt)
    _paint(img, layout.pools, spectrum(_WATER, "water"), fine)
    _paint(img, layout.walls, spectrum(_CONCRETE, "built") * 1.05, fine)
    _cars(rng, img, layout.roads, frame, gsd)

    buildings = _buildings(rng, style, frame, found, size)
    occupied = np.zeros(shape, bool)
    for b in buildings:
        window, mask = polygon_window(b.footprint, shape)
        occupied[window] |= mask
    shaded = occupied.copy()  # roofs are never in a shadow here; ground is darkened once
    for b in buildings:
        _cast_shadow(img, b.footprint, light.shadow_offset(b.height, gsd), shaded)
    for b in buildings:
        _roof(rng, img, b, light, gsd)
    _trees(rng, img, style, buildings, light, gsd, occupied)

    img *= rng.uniform(0.85, 1.15) * rng.uniform(0.96, 1.04, len(BANDS)).astype(np.float32)
    haze = rng.uniform(0.0, 0.06)
    img = img * (1 - haze) + haze * np.linspace(0.55, 0.35, len(BANDS), dtype=np.float32)
    img = ndimage.gaussian_filter(img, sigma=(rng.uniform(0.6, 1.0),) * 2 + (0.0,))
    img += rng.normal(0, 0.006, img.shape).astype(np.float32)
    return np.clip(img, 0.0, 1.0).astype(np.float32), buildings


def _buildings(
    rng: np.random.Generator,
    style: CityStyle,
    frame: Frame,
    found: list[tuple[Polygon, float, RoofKind]],
    size: int,
) -> list[Building]:
    """Truth polygons and looks of the footprints; neighbours often share a roof colour."""
    palette = np.asarray(style.roofs, np.float64)
    out: list[Building] = []
    previous: NDArray[np.float64] | None = None
    for local, height, roof in found:
        footprint = frame.to_tile(local)
        polygon = truth_polygon(footprint, size)
        if polygon is None:
            continue
        if previous is not None and rng.random() < 0.45:
            colour = previous * rng.uniform(0.94, 1.06)
        else:
            colour = palette[int(rng.integers(len(palette)))] * rng.uniform(0.85, 1.12)
        previous = colour
        minx, miny, maxx, maxy = local.bounds
        ridge = frame.angle + (0.0 if maxx - minx >= maxy - miny else math.pi / 2)
        rgb = (float(colour[0]), float(colour[1]), float(colour[2]))
        assert isinstance(footprint, Polygon)
        out.append(Building(polygon, footprint, height, roof, rgb, ridge))
    return out


def _cast_shadow(
    img: Image, footprint: BaseGeometry, offset: tuple[float, float], shaded: NDArray[np.bool_]
) -> None:
    """Darken the ground the footprint's shadow falls on (swept along ``offset``) where
    ``shaded`` (roofs, ground already in a shadow) is False, and mark it."""
    dx, dy = offset
    steps = max(int(math.hypot(dx, dy)), 1)
    swept = [
        affinity.translate(footprint, dx * t / steps, dy * t / steps)
        for t in range(1, steps + 1, 2)
    ]
    shape = img.shape[:2]
    for geom in swept:
        window, mask = polygon_window(geom, shape)
        done = shaded[window]
        shade = mask & ~done
        if shade.any():
            img[window][shade] *= _SHADOW
            done |= shade


def _roof(rng: np.random.Generator, img: Image, b: Building, light: Lighting, gsd: float) -> None:
    """A roof: its material and texture, shaded by its slopes when pitched; no outline."""
    window, mask = polygon_window(b.footprint, img.shape[:2])
    if not mask.any():
        return
    base = spectrum(b.colour, "built")
    h, w = mask.shape
    texture = 1.0 + rng.uniform(0.02, 0.06) * rng.standard_normal((h, w)).astype(np.float32)
    shade = np.ones((h, w), np.float32)
    if b.roof != "flat":
        rows, cols = np.mgrid[window[0], window[1]].astype(np.float64) + 0.5
        if b.roof == "gable":
            cx, cy = b.footprint.centroid.x, b.footprint.centroid.y
            across = (cols - cx) * -math.sin(b.ridge) + (rows - cy) * math.cos(b.ridge)
            height = -np.abs(across)
        else:  # hip: height grows with the distance to the eaves
            height = np.asarray(ndimage.distance_transform_edt(np.pad(mask, 1))[1:-1, 1:-1])
        pitch = rng.uniform(0.5, 1.0)
        gy, gx = np.gradient(height * pitch)
        normal = np.stack([-gx, -gy, np.ones_like(gx)])
        normal /= np.linalg.norm(normal, axis=0)
        lit = np.tensordot(light.vector, normal, axes=1) / math.sin(light.elevation)
        shade = np.clip(0.55 + 0.45 * lit, 0.35, 1.35).astype(np.float32)
    elif rng.random() < 0.35:  # corrugated metal: fine stripes along the long side
        rows, cols = np.mgrid[window[0], window[1]].astype(np.float64)
        phase = cols * math.cos(b.ridge) + rows * math.sin(b.ridge)
        texture *= (1.0 + 0.05 * np.sin(phase * 2 * math.pi * gsd / 0.8)).astype(np.float32)
    roof = base[None, None, :] * (texture * shade)[..., None]
    img[window][mask] = roof[mask]
    if b.roof == "flat" and b.footprint.area * gsd * gsd > 150:
        _roof_boxes(rng, img, b.footprint, base, gsd)


def _roof_boxes(
    rng: np.random.Generator,
    img: Image,
    footprint: BaseGeometry,
    base: NDArray[np.float32],
    gsd: float,
) -> None:
    """Air-conditioning units and stair houses on a large flat roof."""
    inner = footprint.buffer(-1.5 / gsd)
    if inner.is_empty:
        return
    minx, miny, maxx, maxy = inner.bounds
    for _ in range(int(rng.integers(0, 5))):
        s = rng.uniform(1.0, 2.5) / gsd
        x, y = rng.uniform(minx, maxx), rng.uniform(miny, maxy)
        unit = box(x, y, x + s, y + s * rng.uniform(0.6, 1.4))
        if inner.contains(unit):
            window, mask = polygon_window(unit, img.shape[:2])
            img[window][mask] = base * rng.uniform(0.75, 1.3)


def _cars(
    rng: np.random.Generator, img: Image, roads: list[BaseGeometry], frame: Frame, gsd: float
) -> None:
    """A few cars on the roads (clutter that is not a building)."""
    size = img.shape[0]
    for road in roads:
        clipped = road.intersection(box(0, 0, size, size))
        if clipped.is_empty:
            continue
        n = int(rng.poisson(clipped.area * gsd * gsd / 400))
        minx, miny, maxx, maxy = clipped.bounds
        for _ in range(n):
            p = Point(rng.uniform(minx, maxx), rng.uniform(miny, maxy))
            if not clipped.contains(p):
                continue
            car = affinity.rotate(
                box(p.x, p.y, p.x + 4.5 / gsd, p.y + 1.9 / gsd),
                frame.angle + (math.pi / 2 if rng.random() < 0.5 else 0.0),
                origin=p,
                use_radians=True,
            )
            r, g, b = (float(v) for v in rng.uniform(20, 235, 3))
            colour = spectrum((r, g, b), "built")
            window, mask = polygon_window(car, img.shape[:2])
            img[window][mask] = colour


def _trees(
    rng: np.random.Generator,
    img: Image,
    style: CityStyle,
    buildings: list[Building],
    light: Lighting,
    gsd: float,
    occupied: NDArray[np.bool_],
) -> None:
    """Round crowns, some reaching over roofs (occluding them), with their shadows."""
    size = img.shape[0]
    free_m2 = float((~occupied).sum()) * gsd * gsd
    n = int(rng.poisson(style.trees * free_m2 / 100))
    candidates = [(rng.uniform(0, size), rng.uniform(0, size)) for _ in range(n)]
    points = [(x, y) for x, y in candidates if not occupied[int(y), int(x)]]
    for b in buildings:  # a tree next to a building hides part of its roof
        if rng.random() < 0.25:
            edge = b.footprint.exterior
            at = edge.interpolate(rng.uniform(0, edge.length))
            points.append((at.x, at.y))
    crown = spectrum(_TREE, "veg")
    shape = img.shape[:2]
    yy, xx = np.ogrid[:size, :size]
    for x, y in points:
        r = rng.uniform(1.5, 4.0) / gsd
        dx, dy = light.shadow_offset(rng.uniform(5, 12), gsd)
        shadow = Point(x + dx * 0.6, y + dy * 0.6).buffer(r)
        window, mask = polygon_window(shadow, shape)
        img[window][mask] *= _SHADOW
        r0, r1 = max(int(y - r) - 1, 0), min(int(y + r) + 2, size)
        c0, c1 = max(int(x - r) - 1, 0), min(int(x + r) + 2, size)
        if r0 >= r1 or c0 >= c1:
            continue
        ys, xs = yy[r0:r1] + 0.5 - y, xx[:, c0:c1] + 0.5 - x
        dist = np.sqrt(ys**2 + xs**2) / r
        lumpy = dist * (1 + 0.12 * rng.standard_normal((r1 - r0, c1 - c0)))
        inside = lumpy < 1.0
        bright = 1.0 + 0.35 * (xs * math.cos(light.azimuth) + ys * math.sin(light.azimuth)) / r
        tone = (bright * (1 - 0.3 * dist**2) * rng.uniform(0.8, 1.1)).astype(np.float32)
        patch = img[r0:r1, c0:c1]
        patch[inside] = crown * tone[inside][:, None]


__all__ = ["BANDS", "RGB_BANDS", "Lighting", "noise", "render_tile", "spectrum"]
