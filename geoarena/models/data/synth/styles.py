"""The four synthetic cities: layout, building and lighting knobs, in metres.

Each style stands in for one DeepGlobe 2018 / SpaceNet 2 city, with sizes in metres so a
tile's look does not depend on its pixel size (``gsd``: metres per pixel, 0.3 for
WorldView-3 pan-sharpened tiles). Densities are close to SpaceNet's: a 650 px tile at
0.3 m holds roughly 20-45 buildings (the old generator drew 60-440).

- ``Gridvale`` (Las Vegas): detached houses on long blocks, hip roofs, pools, pale ground.
- ``Oldtown`` (Paris): perimeter blocks of buildings sharing walls, the dense
  touching-buildings style; neighbours often have similar roofs.
- ``Towerpark`` (Shanghai): parallel slabs and large halls among greenery, tall (long
  shadows), strongly rotated street grids.
- ``Sandfield`` (Khartoum): walled compounds with small flat-roofed buildings whose roofs
  are close to the colour of the sand; the compound walls are not buildings.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

RGB = tuple[int, int, int]
Range = tuple[float, float]
#: how a city fills a block with buildings (``layout.py``).
BlockKind = Literal["suburb", "perimeter", "slabs", "compounds"]


@dataclass(frozen=True)
class CityStyle:
    """Knobs of one synthetic city (lengths in metres, angles in degrees)."""

    name: str
    aoi: int
    kind: BlockKind
    ground: tuple[RGB, ...]  # base ground colours (one per tile) and patch colour
    road: RGB
    roofs: tuple[RGB, ...]
    block: tuple[Range, Range]  # block extent along / across the main street direction
    road_width: Range
    frontage: Range  # parcel (or building, for perimeter blocks) width along the street
    building: tuple[Range, Range]  # building width, depth (suburb / compounds / slabs)
    setback: Range
    height: Range  # building height, for shadows
    rotation: float  # the street grid is rotated by up to this angle
    jitter: float  # per-building rotation
    l_shape: float  # probability of an L-shaped footprint
    pitched: float  # probability of a pitched (hip or gable) roof
    occupancy: float  # probability that a parcel holds a building
    trees: float  # trees per 100 m² of free ground
    vegetation: float  # share of free ground covered by grass/gardens
    pools: float = 0.0  # probability of a pool per parcel


CITIES: dict[str, CityStyle] = {
    s.name: s
    for s in (
        CityStyle(
            name="Gridvale",
            aoi=1,
            kind="suburb",
            ground=((196, 184, 160), (182, 170, 148), (205, 196, 178)),
            road=(104, 104, 108),
            roofs=((214, 204, 190), (188, 170, 150), (160, 120, 96), (128, 118, 112)),
            block=((140.0, 240.0), (52.0, 66.0)),
            road_width=(9.0, 13.0),
            frontage=(23.0, 31.0),
            building=((11.0, 17.0), (11.0, 17.0)),
            setback=(4.0, 7.0),
            height=(4.0, 7.0),
            rotation=90.0,
            jitter=0.0,
            l_shape=0.45,
            pitched=0.8,
            occupancy=0.8,
            trees=0.25,
            vegetation=0.2,
            pools=0.3,
        ),
        CityStyle(
            name="Oldtown",
            aoi=2,
            kind="perimeter",
            ground=((122, 120, 112), (110, 112, 100), (134, 128, 118)),
            road=(92, 90, 88),
            roofs=((150, 150, 156), (170, 96, 70), (186, 176, 160), (120, 116, 118)),
            block=((70.0, 120.0), (55.0, 95.0)),
            road_width=(10.0, 18.0),
            frontage=(16.0, 40.0),
            building=((0.0, 0.0), (11.0, 16.0)),
            setback=(0.0, 0.0),
            height=(12.0, 22.0),
            rotation=45.0,
            jitter=0.0,
            l_shape=0.0,
            pitched=0.5,
            occupancy=0.85,
            trees=0.06,
            vegetation=0.3,
        ),
        CityStyle(
            name="Towerpark",
            aoi=3,
            kind="slabs",
            ground=((104, 122, 94), (112, 128, 102), (126, 130, 112)),
            road=(96, 96, 102),
            roofs=((196, 198, 202), (92, 96, 108), (150, 156, 168), (206, 200, 186)),
            block=((90.0, 150.0), (80.0, 130.0)),
            road_width=(12.0, 20.0),
            frontage=(5.0, 10.0),
            building=((28.0, 55.0), (10.0, 15.0)),
            setback=(8.0, 14.0),
            height=(18.0, 45.0),
            rotation=35.0,
            jitter=0.0,
            l_shape=0.25,
            pitched=0.15,
            occupancy=0.8,
            trees=0.4,
            vegetation=0.45,
        ),
        CityStyle(
            name="Sandfield",
            aoi=5,
            kind="compounds",
            ground=((186, 160, 124), (176, 150, 118), (194, 170, 134)),
            road=(162, 142, 116),
            roofs=((176, 152, 122), (200, 186, 162), (142, 128, 112), (214, 210, 202)),
            block=((70.0, 120.0), (40.0, 56.0)),
            road_width=(8.0, 14.0),
            frontage=(22.0, 32.0),
            building=((6.0, 12.0), (5.0, 10.0)),
            setback=(0.5, 2.0),
            height=(3.0, 5.0),
            rotation=20.0,
            jitter=6.0,
            l_shape=0.15,
            pitched=0.05,
            occupancy=0.6,
            trees=0.05,
            vegetation=0.05,
        ),
    )
}


__all__ = ["CITIES", "BlockKind", "CityStyle"]
