"""The SVG overlays (``--plot``): one well-formed document per image whose outlines are
the scored polygons, each in its outcome's colour and with its source as a tooltip, in
pixel coordinates from the tile's origin or in map coordinates north up."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
import shapely
from click.testing import CliRunner

from geoarena.errors import InvalidInput
from geoarena.evaluator import PolygonTable, score
from geoarena.evaluator.cli import score as score_command
from geoarena.evaluator.overlays import COLOURS, MIN_SIZE, plot_overlays
from geoarena.evaluator.synthetic import make_pair

from .helpers import SAMPLES

SVG = "{http://www.w3.org/2000/svg}"


def outlines(path: Path) -> list[tuple[str, str, list[np.ndarray]]]:
    """(stroke colour, tooltip, rings as (n, 2) arrays) of each path of an overlay, in
    document order; parsing it proves the document well-formed."""
    root = ET.parse(path).getroot()
    found = []
    for element in root.iter(f"{SVG}path"):
        rings = [
            np.array([[float(v) for v in point.split(",")] for point in ring.split()])
            for ring in re.findall(r"M([^MZ]*)Z", element.attrib["d"])
        ]
        title = element.find(f"{SVG}title")
        assert title is not None and title.text
        found.append((element.attrib["stroke"], title.text, rings))
    return found


def rgb(name: str) -> str:
    return "rgb({},{},{})".format(*COLOURS[name])


def test_cli_overlay_draws_each_scored_polygon_in_its_class_colour(tmp_path: Path) -> None:
    """Every truth and proposal of the image is one outline, drawn where its geometry is,
    coloured and titled as the ``--matches`` GeoJSON reports it."""
    truth, preds = SAMPLES / "SN2_sample_truth.csv", SAMPLES / "SN2_sample_preds.csv"
    image = "AOI_5_Khartoum_img130"
    args = [str(truth), str(preds), "--diagnostics", "--matches", str(tmp_path / "m.geojson")]
    result = CliRunner().invoke(
        score_command, [*args, "--plot", image, "--plot-dir", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    every = json.loads((tmp_path / "m.geojson").read_text())["features"]
    assert "FP" not in {f["properties"]["status"] for f in every}  # each FP has its class
    features = [f for f in every if f["properties"]["image_id"] == image]
    drawn = outlines(tmp_path / f"{image}.svg")
    assert len(drawn) == len(features) > 10
    for (stroke, title, rings), f in zip(drawn, features, strict=True):
        props = f["properties"]
        assert stroke == rgb(props["status"])
        assert title.startswith(f"{props['role']} line {props['line']}, ")
        assert f"BuildingId {props['building_id']}" in title and f"IoU {props['iou']:.3f}" in title
        exterior = np.array(f["geometry"]["coordinates"][0])[:, :2]
        np.testing.assert_allclose(rings[0], exterior, atol=1e-3)
    statuses = {f["properties"]["status"] for f in features}
    assert {"TP", "split", "localisation", "miss"} <= statuses


def test_overlay_without_breakdown_keeps_three_colours(tmp_path: Path) -> None:
    truth, props = make_pair(2, 20, seed=1)
    result = score(truth, props, details=True)
    assert result.matches is not None and result.matches.errors is None
    image = result.images[0].image_id
    (path,) = plot_overlays(result.matches, [image], tmp_path)
    strokes = {stroke for stroke, _, _ in outlines(path)}
    assert rgb("TP") in strokes and strokes <= {rgb("TP"), rgb("FP"), rgb("FN")}
    root = ET.parse(path).getroot()
    assert root.attrib["width"] == root.attrib["height"] == str(MIN_SIZE)


def test_map_coordinates_are_framed_north_up(tmp_path: Path) -> None:
    """UTM-sized coordinates land inside the viewBox, y flipped: the northern box is drawn
    above the southern one, and both keep their shape."""
    north = shapely.box(500_010.0, 4_000_030.0, 500_020.0, 4_000_040.0)
    south = shapely.box(500_010.0, 4_000_000.0, 500_020.0, 4_000_010.0)
    table = PolygonTable.from_wkt(["scene"] * 2, [1, 2], shapely.to_wkt([north, south]))
    result = score(table, table, details=True)
    assert result.matches is not None
    (path,) = plot_overlays(result.matches, ["scene"], tmp_path, y_up=True)
    inner = ET.parse(path).getroot().find(f"{SVG}svg")
    assert inner is not None
    width, height = (float(v) for v in inner.attrib["viewBox"].split()[2:])
    ys = {}
    for _, title, (ring,) in outlines(path):
        assert (ring >= 0).all() and (ring[:, 0] <= width).all() and (ring[:, 1] <= height).all()
        np.testing.assert_allclose(np.ptp(ring, axis=0), [10.0, 10.0])
        ys.setdefault(title.split(",")[0], []).append(ring[:, 1].mean())
    assert len(ys) == 4  # two truths and two proposals, each titled by its line
    north_y, south_y = (np.mean([y for t, y in ys.items() if t.endswith(str(k))]) for k in (1, 2))
    assert north_y < south_y


def test_georeferenced_cli_overlay(tmp_path: Path) -> None:
    """A scene in metres (EPSG:32616) is drawn whole: one outline per scored polygon, the
    matched ones in the TP colour."""
    gt, pred = SAMPLES / "solaris_geo_gt.geojson", SAMPLES / "solaris_geo_pred.geojson"
    matches, image = tmp_path / "m.geojson", "solaris_geo_gt"
    args = [str(gt), str(pred), "--matches", str(matches)]
    run = CliRunner().invoke(score_command, [*args, "--plot", image, "--plot-dir", str(tmp_path)])
    assert run.exit_code == 0, run.output
    features = json.loads(matches.read_text())["features"]
    drawn = outlines(tmp_path / f"{image}.svg")
    assert len(drawn) == len(features) == 51  # deepglobe's area filter drops 5 of 56
    assert sum(stroke == rgb("TP") for stroke, _, _ in drawn) == 2 * 8
    assert all((ring >= 0).all() for _, _, rings in drawn for ring in rings)


def test_an_image_with_nothing_scored_is_refused(tmp_path: Path) -> None:
    truth, props = make_pair(1, 5, seed=2)
    result = score(truth, props, details=True)
    assert result.matches is not None
    with pytest.raises(InvalidInput, match="no scored polygon in image 'nope'"):
        plot_overlays(result.matches, ["nope"], tmp_path)
    assert list(tmp_path.iterdir()) == []
