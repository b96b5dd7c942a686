"""Synthetic cities: tiles a CNN has to learn from, with exact SpaceNet truth.

``styles`` (the four cities, in metres), ``layout`` (street grid, blocks, parcels, valid
footprints), ``render`` (8-band materials, roofs, shadows, trees, light) and ``writer``
(georeferenced GeoTIFFs, truth CSV, the SpaceNet download layout, all or nothing).
"""

from geoarena.models.data.synth.layout import Building
from geoarena.models.data.synth.render import BANDS, RGB_BANDS, render_tile
from geoarena.models.data.synth.styles import CITIES, CityStyle
from geoarena.models.data.synth.writer import write_synthetic

__all__ = [
    "BANDS",
    "CITIES",
    "RGB_BANDS",
    "Building",
    "CityStyle",
    "render_tile",
    "write_synthetic",
]
