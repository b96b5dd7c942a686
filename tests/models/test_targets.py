from __future__ import annotations

import numpy as np
import pytest
from shapely.geometry import Polygon, box

from geoarena.models.data.targets import (
    energy_from_instances,
    make_targets,
    polygons_from_wkt,
    rasterize_instances,
)


def test_rasterize_uses_pixel_centres():
    labels = rasterize_instances([box(2, 3, 12, 8)], (20, 20))
    assert labels.sum() == 10 * 5
    rows, cols = np.nonzero(labels)
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (3, 7, 2, 11)


def test_rasterize_cuts_holes_and_numbers_instances():
    ring = Polygon(box(0, 0, 10, 10).exterior, [box(3, 3, 7, 7).exterior])
    labels = rasterize_instances([ring, box(12, 0, 14, 2)], (16, 16))
    assert (labels == 1).sum() == 100 - 16
    assert (labels == 2).sum() == 4


def test_energy_properties():
    polys = [box(2, 2, 22, 12), box(22, 2, 32, 12), box(5, 20, 9, 24)]
    mask, energy = make_targets(polys, (30, 40))
    labels = rasterize_instances(polys, (30, 40))
    assert energy.dtype == np.float32
    assert energy.min() == 0.0 and energy.max() == pytest.approx(1.0)
    assert np.all(energy[mask == 0] == 0)
    assert np.all(energy[mask == 1] > 0)
    for k in (1, 2, 3):
        assert energy[labels == k].max() == pytest.approx(1.0)  # normalised per building
    # the shared wall of the touching pair is a valley: boundary pixels sit at the minimum
    wall = energy[2:12, 21:23]
    centre_a, centre_b = energy[7, 12], energy[7, 27]
    assert wall.max() < min(centre_a, centre_b)
    assert np.all(wall == energy[labels == 1].min())


def test_energy_counts_the_tile_border_as_boundary():
    labels = np.zeros((10, 10), np.int32)
    labels[:, :5] = 1  # a building cut by the tile edge
    energy = energy_from_instances(labels)
    assert energy[5, 0] == energy[5, 4]  # both one pixel from a boundary


def test_polygons_from_wkt_drops_z_and_empties():
    geoms = polygons_from_wkt(["POLYGON ((0 0 0, 4 0 0, 4 4 0, 0 4 0, 0 0 0))", "POLYGON EMPTY"])
    assert len(geoms) == 1 and not geoms[0].has_z and geoms[0].area == 16
