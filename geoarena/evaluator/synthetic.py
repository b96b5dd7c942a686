"""Seeded synthetic SpaceNet CSV pairs for benchmarks and load tests.

Tiles of 650x650 px in four cities, buildings in dense rows (neighbours often touch), and
proposals that imitate a real detector's mistakes: jitter, merged neighbours, split
buildings, misses, false alarms, and a few invalid (bowtie) and MultiPolygon rows.
"""

from __future__ import annotations

import io

import numpy as np

from .arrays import FloatArray

CITIES = ("AOI_2_Vegas", "AOI_3_Paris", "AOI_4_Shanghai", "AOI_5_Khartoum")
TILE = 650


def _wkt(xy: FloatArray) -> str:
    """3-D WKT (z = 0) of a closed ring, as SpaceNet writes it."""
    ring = ",".join(f"{x:.2f} {y:.2f} 0" for x, y in xy)
    return f"POLYGON (({ring}))"


def _rect(x0: float, y0: float, w: float, h: float, angle: float = 0.0) -> FloatArray:
    pts = np.array([[0, 0], [w, 0], [w, h], [0, h], [0, 0]], dtype=np.float64)
    if angle:
        c, s = np.cos(angle), np.sin(angle)
        turn = np.array([[c, s], [-s, c]], dtype=np.float64)
        pts = (pts - [w / 2, h / 2]) @ turn + [w / 2, h / 2]
    return pts + np.array([x0, y0], dtype=np.float64)


def _l_shape(x0: float, y0: float, w: float, h: float) -> FloatArray:
    return np.array(
        [[0, 0], [w, 0], [w, h / 2], [w / 2, h / 2], [w / 2, h], [0, h], [0, 0]],
        dtype=np.float64,
    ) + np.array([x0, y0], dtype=np.float64)


def make_pair(n_images: int, buildings_per_image: int = 100, seed: int = 0) -> tuple[bytes, bytes]:
    """Truth and proposal CSVs (bytes) for ``n_images`` tiles.

    Examples
    --------
    >>> truth, props = make_pair(2, 10, seed=1)
    >>> truth.splitlines()[0]
    b'ImageId,BuildingId,PolygonWKT_Pix,PolygonWKT_Geo'
    """
    rng = np.random.default_rng(seed)
    truth, props = io.StringIO(), io.StringIO()
    truth.write("ImageId,BuildingId,PolygonWKT_Pix,PolygonWKT_Geo\n")
    props.write("ImageId,BuildingId,PolygonWKT_Pix,Confidence\n")
    side = int(np.ceil(np.sqrt(buildings_per_image)))
    cell = TILE / side
    for k in range(n_images):
        image_id = f"{CITIES[k % len(CITIES)]}_img{k + 1}"
        n_props = 0

        def propose(xy: np.ndarray, text: str | None = None, image_id: str = image_id) -> None:
            nonlocal n_props
            conf = rng.random()
            props.write(f'{image_id},{n_props},"{text or _wkt(xy)}",{conf:.4f}\n')
            n_props += 1

        if buildings_per_image == 0 or rng.random() < 0.02:
            truth.write(f"{image_id},-1,POLYGON EMPTY,POLYGON EMPTY\n")
        polys = []
        for b in range(buildings_per_image):
            r, c = divmod(b, side)
            # dense rows: width spans the cell so that neighbours touch a third of the time
            w = cell if rng.random() < 0.33 else rng.uniform(0.45, 0.9) * cell
            h = rng.uniform(0.45, 0.9) * cell
            x0 = c * cell + (cell - w) * rng.random()
            y0 = r * cell + (cell - h) * rng.random()
            kind = rng.random()
            if kind < 0.15:
                xy = _l_shape(x0, y0, w, h)
            elif kind < 0.3:
                xy = _rect(x0 + w * 0.1, y0 + h * 0.1, w * 0.8, h * 0.8, rng.uniform(-0.5, 0.5))
            else:
                xy = _rect(x0, y0, w, h)
            polys.append(xy)
            text = _wkt(xy)
            truth.write(f'{image_id},{b + 1},"{text}","{text}"\n')
        for b, xy in enumerate(polys):
            fate = rng.random()
            lo, hi = xy.min(axis=0), xy.max(axis=0)
            if fate < 0.08:
                continue  # missed
            if fate < 0.14 and b + 1 < len(polys):
                lo2, hi2 = (
                    np.minimum(lo, polys[b + 1].min(axis=0)),
                    np.maximum(hi, polys[b + 1].max(axis=0)),
                )
                propose(_rect(*lo2, *(hi2 - lo2)))  # merged with the next building
            elif fate < 0.20:
                mid = (lo[0] + hi[0]) / 2
                propose(_rect(lo[0], lo[1], mid - lo[0], hi[1] - lo[1]))
                propose(_rect(mid, lo[1], hi[0] - mid, hi[1] - lo[1]))  # split in two
            elif fate < 0.25:
                propose(xy + rng.uniform(0.3, 0.6) * (hi - lo))  # badly placed
            elif fate < 0.255:
                x0, y0 = lo
                w, h = hi - lo
                bowtie = np.array(
                    [[x0, y0], [x0 + w, y0 + h], [x0 + w, y0], [x0, y0 + h], [x0, y0]]
                )
                propose(bowtie)  # invalid: self-intersecting
            elif fate < 0.26:
                ring = ",".join(f"{x:.2f} {y:.2f} 0" for x, y in xy)
                tiny = ",".join(f"{x:.2f} {y:.2f} 0" for x, y in _rect(lo[0], hi[1] + 1, 2, 2))
                propose(xy, f"MULTIPOLYGON ((({ring})),(({tiny})))")
            else:
                centre = xy.mean(axis=0)
                scale = rng.uniform(0.9, 1.1)
                propose((xy - centre) * scale + centre + rng.normal(0, 1.5, 2))
        for _ in range(max(1, buildings_per_image // 20)):
            x0, y0 = rng.uniform(0, TILE - 30, 2)
            propose(_rect(x0, y0, *rng.uniform(8, 30, 2)))  # false alarm
    return truth.getvalue().encode(), props.getvalue().encode()
