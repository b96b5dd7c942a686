from __future__ import annotations

import numpy as np
import pytest
import shapely
from shapely import affinity
from shapely.geometry import Polygon, box

from geoarena.evaluator import read_proposals
from geoarena.models.data.targets import make_targets, rasterize_instances
from geoarena.models.postprocess import (
    Thresholds,
    filter_area,
    instances_to_rows,
    label_instances,
    maps_to_polygons,
    region_polygon,
    write_proposals_csv,
)

T = Thresholds(t_energy=0.3, t_mask=0.5, min_area=5)


def iou(a, b) -> float:
    return a.intersection(b).area / a.union(b).area


def test_watershed_splits_touching_squares_that_components_merge():
    squares = [box(10, 10, 30, 30), box(30, 10, 50, 30)]
    mask, energy = make_targets(squares, (40, 60))
    prob = mask.astype(np.float32)
    merged = maps_to_polygons(prob, energy, T, method="components")
    assert len(merged) == 1
    split = maps_to_polygons(prob, energy, T, method="watershed")
    assert len(split) == 2
    for square in squares:
        assert max(iou(square, inst.polygon) for inst in split) > 0.9


def test_watershed_keeps_a_component_without_marker():
    prob = np.zeros((20, 20), np.float32)
    prob[5:9, 5:9] = 0.9
    energy = np.zeros_like(prob)  # energy never above t_energy
    (inst,) = maps_to_polygons(prob, energy, T)
    assert inst.area == 16
    assert inst.confidence == pytest.approx(0.9)


SHAPES = [
    box(3, 4, 25, 19),
    affinity.rotate(box(10, 10, 40, 26), 27, origin="centroid"),
    box(5, 5, 35, 35).difference(box(20, 20, 35, 35)),  # L-shape
    Polygon([(5, 30), (20, 3), (38, 33)]),
]


@pytest.mark.parametrize("shape", SHAPES, ids=["rect", "rotated", "L", "triangle"])
def test_polygon_raster_polygon_round_trip(shape):
    labels = rasterize_instances([shape], (45, 45))
    poly = region_polygon(labels == 1)
    assert poly.is_valid
    assert iou(poly, shape) > 0.9


@pytest.mark.parametrize("scale", [2.0, 0.5])
def test_scale_maps_back_to_original_pixels(scale):
    shape = box(10, 6, 30, 22)
    big = affinity.scale(shape, scale, scale, origin=(0, 0))
    labels = rasterize_instances([big], (int(40 * scale), int(40 * scale)))
    prob = (labels > 0).astype(np.float32)
    (inst,) = maps_to_polygons(prob, prob, T, scale=scale)
    assert iou(inst.polygon, shape) > 0.85
    assert inst.area == pytest.approx(shape.area, rel=0.15)


def test_min_area_drops_small_regions_and_confidence_is_mean_probability():
    prob = np.zeros((30, 30), np.float32)
    prob[2:4, 2:4] = 0.9  # 4 px
    prob[10:20, 10:20] = 0.6
    prob[12:14, 12:14] = 1.0
    energy = (prob > 0).astype(np.float32)
    instances = maps_to_polygons(prob, energy, T)
    assert len(instances) == 1
    assert instances[0].confidence == pytest.approx((96 * 0.6 + 4 * 1.0) / 100, rel=1e-5)


def test_area_filter_matches_a_larger_min_area():
    polys = [box(2, 2, 6, 6), box(10, 10, 20, 20), box(25, 2, 28, 40)]
    mask, energy = make_targets(polys, (45, 45))
    prob = mask.astype(np.float32)
    everything = maps_to_polygons(prob, energy, T.replace(min_area=0))
    for area in (0, 5, 16, 100, 101):
        direct = maps_to_polygons(prob, energy, T.replace(min_area=area))
        assert filter_area(everything, area) == direct


def test_thresholds_are_validated_and_replaced():
    assert Thresholds() == Thresholds(t_energy=0.3, t_mask=0.5, min_area=20.0)
    assert T.replace(t_mask=0.7, min_area=None) == Thresholds(t_energy=0.3, t_mask=0.7, min_area=5)
    with pytest.raises(ValueError, match="t_mask"):
        Thresholds(t_mask=1.0)


def test_labels_are_unique_per_instance():
    polys = [box(2, 2, 12, 12), box(12, 2, 22, 12), box(2, 12, 12, 22), box(30, 30, 36, 36)]
    mask, energy = make_targets(polys, (40, 40))
    labels = label_instances(mask.astype(np.float32), energy, T)
    assert len(np.unique(labels[labels > 0])) == 4


def test_rows_and_csv(tmp_path):

    assert instances_to_rows("AOI_1_X_img1", []) == [("AOI_1_X_img1", -1, "POLYGON EMPTY", 1.0)]
    mask, energy = make_targets([box(2, 2, 12, 12)], (20, 20))
    rows = instances_to_rows("AOI_1_X_img2", maps_to_polygons(mask * 0.8, energy, T))
    path = write_proposals_csv(instances_to_rows("AOI_1_X_img1", []) + rows, tmp_path / "p.csv")
    table = read_proposals(path)
    assert table.image_ids == ["AOI_1_X_img1", "AOI_1_X_img2"]
    assert shapely.from_wkt(rows[0][2]).area == pytest.approx(99.5, abs=1)


def test_bad_maps_are_rejected():
    with pytest.raises(ValueError, match="equal 2-D maps"):
        maps_to_polygons(np.zeros((4, 4)), np.zeros((4, 5)), T)
    with pytest.raises(ValueError, match="unknown post-processing method"):
        maps_to_polygons(np.zeros((4, 4)), np.zeros((4, 4)), T, method="magic")
