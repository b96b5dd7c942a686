"""Georeferenced inputs (``vectors.py``): solaris' own GeoJSON test, the same scene in
pixels and in map units under every preset, the three file formats against each other,
the equal-area reprojection, and every way a file is refused."""

from __future__ import annotations

import json
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pyogrio
import pyogrio.raw
import pytest
import rasterio
import shapely
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rasterio.crs import CRS
from rasterio.warp import transform
from shapely.affinity import affine_transform

from geoarena.cli import cli
from geoarena.evaluator import InputError, PolygonTable, get_rules, score
from geoarena.evaluator.vector_files import field_texts
from geoarena.evaluator.vectors import (
    EQUAL_AREA_CRS,
    GeoInputs,
    VectorOptions,
    in_pixels,
    pixel_area,
    read_georeferenced,
    read_submissions,
    read_vectors,
)

from .helpers import PRESET_NAMES, SAMPLES, per_image

GT, PRED = SAMPLES / "solaris_geo_gt.geojson", SAMPLES / "solaris_geo_pred.geojson"
DATA = Path(__file__).parent / "data"
#: 43 building footprints of a real 900 x 900 GeoTIFF crop (0.5 m, Atlanta, UTM 16N)
LABELS = DATA / "geotiff_labels.geojson"
#: that GeoTIFF's georeference (CRS, transform, size) with its pixels zeroed
RASTER = DATA / "sample_geotiff_georef.tif"
UTM = "EPSG:32616"
NO_FILTERS = {"truth_area_filter": "none", "proposal_area_filter": "none"}


def write_ogr(path: Path, geometry, fields: dict[str, list], crs: str | None) -> Path:
    """Features through GDAL's own writer (GeoJSON or GeoPackage, by the suffix); no
    ``crs``: a file without one, on purpose."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "'crs' was not provided", UserWarning)
        _write(path, geometry, fields, crs)
    return path


def _write(path: Path, geometry, fields: dict[str, list], crs: str | None) -> None:
    pyogrio.raw.write(
        path,
        geometry=np.asarray(shapely.to_wkb(list(geometry)), dtype=object),
        field_data=[np.asarray(v) for v in fields.values()],
        fields=list(fields),
        driver="GPKG" if path.suffix == ".gpkg" else "GeoJSON",
        geometry_type="Unknown",
        crs=crs,
    )


def write_geoparquet(path: Path, geometry, fields: dict[str, list], crs: str) -> Path:
    """A GeoParquet 1.0 file: WKB column, PROJJSON CRS in the ``geo`` metadata."""
    columns = {k: pa.array(v) for k, v in fields.items()}
    columns["geometry"] = pa.array(shapely.to_wkb(list(geometry)).tolist(), pa.binary())
    geo = {
        "version": "1.0.0",
        "primary_column": "geometry",
        "columns": {
            "geometry": {
                "encoding": "WKB",
                "geometry_types": [],
                "crs": CRS.from_user_input(crs).to_dict(projjson=True),
            }
        },
    }
    table = pa.table(columns).replace_schema_metadata({"geo": json.dumps(geo)})
    pq.write_table(table, path)
    return path


def pixel_table(image_id: str, geometry, confidence=None) -> PolygonTable:
    wkts = shapely.to_wkt(list(geometry), rounding_precision=-1)
    n = len(wkts)
    conf = None if confidence is None else list(confidence)
    return PolygonTable.from_wkt([image_id] * n, range(n), wkts, conf)


# --- solaris' own test ------------------------------------------------------------------


def test_solaris_geojson_pair_gives_its_asserted_counts() -> None:
    """solaris' ``Evaluator(gt).eval_iou()`` asserts TP 8, FP 20, FN 20 on these files; it
    applies no area filter to GeoJSON, and 20 pixels of 50 cm (5 m2) filter nothing."""
    pair = read_georeferenced(GT, PRED)
    assert pair.crs == CRS.from_epsg(32616) and not pair.reprojected
    assert (len(pair.truth), len(pair.proposals)) == (28, 28)
    for preset in PRESET_NAMES:
        unfiltered = score(pair.truth, pair.proposals, get_rules(preset, **NO_FILTERS))
        in_px = score(pair.truth, pair.proposals, in_pixels(get_rules(preset), 0.25))
        assert unfiltered.micro == in_px.micro
        assert (unfiltered.micro.tp, unfiltered.micro.fp, unfiltered.micro.fn) == (8, 20, 20)
        assert unfiltered.micro.f1 == pytest.approx(0.2857142857142857, abs=1e-15)


def test_solaris_pair_through_the_command_line(tmp_path: Path) -> None:
    out = tmp_path / "s.json"
    result = CliRunner().invoke(
        cli,
        ["score", str(GT), str(PRED), "--rules", "solaris", "--area-units", "pixels",
         "--raster", str(RASTER), "--json", str(out)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert data["micro"] == {**data["micro"], "tp": 8, "fp": 20, "fn": 20}
    assert data["rules"]["truth_area_filter"] == ">=5"  # 20 px x 0.25 m2, recorded
    assert "EPSG:32616" in result.output


@pytest.mark.parametrize(
    ("crs", "options", "bins", "unit", "truths"),
    [
        # COCO's 32² and 96² px at SpaceNet's 0.3 m: a 100 m2 house is medium, not small
        (UTM, [], (92.16, 829.44), "m²", (1, 1, 1)),
        (UTM, ["--area-units", "pixels", "--pixel-size", "0.5"], (256, 2304), "m²", (2, 1, 0)),
        (UTM, ["--size-bins", "60,2000"], (60, 2000), "m²", (1, 2, 0)),
        # the same 0.3 m bins in a foot-based CRS: 92.16 m2 is 992 US survey ft2
        ("EPSG:2263", [], (992.00, 8927.98), "square US survey foot", (2, 1, 0)),
    ],
)
def test_size_bins_follow_the_area_units(
    tmp_path: Path,
    crs: str,
    options: list[str],
    bins: tuple[float, float],
    unit: str,
    truths: tuple[int, int, int],
) -> None:
    """Recall by size bins truth areas stated as the area filters are: pixels converted by
    the pixel area under ``--area-units pixels``, else square map units, where the default
    is the pixel bins at 0.3 m (the bins of a pixel CSV, 1,024 and 9,216, would put
    nearly every building of a UTM file in "small")."""
    sides = [50**0.5, 10.0, 1000**0.5]  # squares of 50, 100 and 1,000 square units
    squares = [
        shapely.box(500_000 + 100 * k, 0, 500_000 + 100 * k + s, s) for k, s in enumerate(sides)
    ]
    truth = write_ogr(tmp_path / "t.geojson", squares, {"BuildingId": [0, 1, 2]}, crs)
    preds = write_ogr(tmp_path / "p.geojson", squares[1:2], {"BuildingId": [0]}, crs)
    out = tmp_path / "s.json"
    args = ["score", str(truth), str(preds), "--diagnostics", "--json", str(out)]
    result = CliRunner().invoke(cli, [*args, "--truth-area-filter", "none", *options])
    assert result.exit_code == 0, result.output
    breakdown = json.loads(out.read_text())["breakdown"]
    assert breakdown["settings"]["size_bins"] == pytest.approx(bins, abs=0.01)
    assert breakdown["settings"]["size_unit"] == unit
    recall = breakdown["overall"]["recall_by_size"]
    assert tuple(recall[s]["truths"] for s in ("small", "medium", "large")) == truths
    assert sum(recall[s]["tp"] for s in recall) == 1
    assert f"recall by building size (truth area in {unit})" in result.output


@pytest.mark.parametrize(
    "crs",
    [
        UTM,
        # the same projection with no authority code: GeoJSON gets its WKT
        "+proj=tmerc +lat_0=0 +lon_0=-87.1 +k=0.9996 +x_0=500000 +y_0=0 +ellps=WGS84 +units=m",
    ],
)
def test_matches_of_map_coordinates_name_their_crs(tmp_path: Path, crs: str) -> None:
    """``--matches`` of footprints in a projected CRS says which: without a ``crs`` member
    GDAL (QGIS, geopandas) reads a GeoJSON as longitude and latitude, and these
    coordinates, metres in the millions, land nowhere. ``--json`` records it too."""
    squares = [
        shapely.box(736_300 + 50 * k, 3_722_400, 736_320 + 50 * k, 3_722_420) for k in range(3)
    ]
    # GeoPackages: GDAL's GeoJSON writer drops a CRS that no authority names
    truth = write_ogr(tmp_path / "t.gpkg", squares, {"BuildingId": [0, 1, 2]}, crs)
    preds = write_ogr(tmp_path / "p.gpkg", squares[:2], {"BuildingId": [0, 1]}, crs)
    out = tmp_path / "m.geojson"
    result = CliRunner().invoke(cli, ["score", str(truth), str(preds), "--matches", str(out)])
    assert result.exit_code == 0, result.output
    written = json.loads(out.read_text())["crs"]["properties"]["name"]
    assert (written == "urn:ogc:def:crs:EPSG::32616") == (crs == UTM)
    assert CRS.from_user_input(pyogrio.read_info(out)["crs"]) == CRS.from_user_input(crs)
    summary = tmp_path / "s.json"
    result = CliRunner().invoke(cli, ["score", str(truth), str(preds), "--json", str(summary)])
    assert result.exit_code == 0, result.output
    assert json.loads(summary.read_text())["crs"] == written  # the units of its area filters
    back = pyogrio.raw.read(out)
    geometry = shapely.from_wkb(back[2])
    assert shapely.equals(geometry[:3], squares).all()  # the truths, in the input's metres


def test_matches_of_pixel_coordinates_name_no_crs(tmp_path: Path) -> None:
    out = tmp_path / "m.geojson"
    truth, preds = SAMPLES / "SN2_sample_truth.csv", SAMPLES / "SN2_sample_preds.csv"
    result = CliRunner().invoke(cli, ["score", str(truth), str(preds), "--matches", str(out)])
    assert result.exit_code == 0, result.output
    assert "crs" not in json.loads(out.read_text())


def test_one_truth_read_once_pairs_with_every_submission() -> None:
    pairs = read_submissions(GT, [PRED, GT])
    assert pairs[0].truth is pairs[1].truth  # one read, shared
    for pair, path in zip(pairs, (PRED, GT), strict=True):
        alone = read_georeferenced(GT, path)
        assert pair.crs == alone.crs and pair.reprojected == alone.reprojected
        for got, want in ((pair.truth, alone.truth), (pair.proposals, alone.proposals)):
            assert got.image_id.tolist() == want.image_id.tolist()
            assert shapely.equals_exact(got.geometry, want.geometry, 0).all()


# --- one scene in pixels and in map units -----------------------------------------------


def _georeference() -> tuple[rasterio.Affine, float]:
    with rasterio.open(RASTER) as src:
        return src.transform, pixel_area(RASTER, src.crs)


def _coefficients(t: rasterio.Affine) -> list[float]:
    return [t.a, t.b, t.d, t.e, t.c, t.f]


@st.composite
def proposals_for(draw, truths: np.ndarray):
    """Proposals in pixels: some truths moved and rescaled (near or past the IoU
    threshold, some under the area filter), some dropped, some false alarms."""
    out, conf = [], []
    for g in truths:
        kept = draw(st.booleans()) or draw(st.booleans())
        if not kept:
            continue
        dx, dy = (draw(st.floats(-6, 6, allow_nan=False)) for _ in range(2))
        s = draw(st.floats(0.3, 1.4, allow_nan=False))
        moved = shapely.affinity.scale(g, s, s)
        out.append(shapely.affinity.translate(moved, dx, dy))
        conf.append(draw(st.floats(0, 1, allow_nan=False)))
    for _ in range(draw(st.integers(1, 5))):  # at least one: a pixel table is never empty
        x, y = draw(st.floats(0, 880)), draw(st.floats(0, 880))
        w, h = draw(st.floats(2, 20)), draw(st.floats(2, 20))
        out.append(shapely.box(x, y, x + w, y + h))
        conf.append(draw(st.floats(0, 1, allow_nan=False)))
    return np.asarray(out, dtype=object), conf


_T, _PIXEL_AREA = _georeference()
_TRUTH_MAP = read_vectors(LABELS, VectorOptions(image_id="tile")).table
_TRUTH_PX = np.asarray(
    [affine_transform(g, _coefficients(~_T)) for g in _TRUTH_MAP.geometry], dtype=object
)


def test_pixel_frame_is_the_rasters_pixels() -> None:
    """The labels land inside the 900 x 900 raster, and the round trip is exact to 1e-6 m."""
    xmin, ymin, xmax, ymax = shapely.total_bounds(_TRUTH_PX)
    assert 0 <= xmin < xmax <= 900 and 0 <= ymin < ymax <= 900
    back = [affine_transform(g, _coefficients(_T)) for g in _TRUTH_PX]
    assert all(a.equals_exact(b, 1e-6) for a, b in zip(back, _TRUTH_MAP.geometry, strict=True))
    assert _PIXEL_AREA == 0.25


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_a_scene_scores_the_same_in_pixels_and_in_map_units(tmp_path_factory, data) -> None:
    props_px, conf = data.draw(proposals_for(_TRUTH_PX))
    props_map = [affine_transform(g, _coefficients(_T)) for g in props_px]
    path = write_ogr(
        tmp_path_factory.mktemp("geo") / "pred.gpkg",
        props_map,
        {"Confidence": np.asarray(conf, dtype=np.float64)},
        UTM,
    )
    pair = read_georeferenced(LABELS, path, VectorOptions(image_id="tile"))
    truth_px = pixel_table("tile", _TRUTH_PX)
    for preset in PRESET_NAMES:
        rules = get_rules(preset)
        in_px = score(truth_px, pixel_table("tile", props_px, conf), rules, details=True)
        in_map = score(pair.truth, pair.proposals, in_pixels(rules, _PIXEL_AREA), details=True)
        assert in_px.matches is not None and in_map.matches is not None
        # GEOS areas keep their digits at UTM magnitudes (~1e6 m); the references' ring-sum
        # formulas (ogr, shoelace) multiply raw coordinates, whose products (~1e12 m^2)
        # leave an IoU about 1e-5 of absolute error there: with them an IoU within 1e-3 of
        # the threshold may take the other verdict in map units.
        exact = rules.area_formula == "geos"
        near = np.abs(in_px.matches.proposal_iou - rules.iou_threshold) < 1e-3
        if not exact and near.any():
            continue
        assert per_image(in_px) == per_image(in_map), preset
        assert np.array_equal(in_px.matches.proposal_truth, in_map.matches.proposal_truth)
        np.testing.assert_allclose(
            in_px.matches.proposal_iou,
            in_map.matches.proposal_iou,
            rtol=0,
            atol=1e-9 if exact else 1e-4,
        )


# --- formats against each other ---------------------------------------------------------


def _scenes() -> tuple[list[str], list, list[int], list[float]]:
    """Two scenes of the real labels (the second shifted by a tile), ids and confidences."""
    geoms = list(_TRUTH_MAP.geometry) + [
        shapely.affinity.translate(g, 450.0, 0.0) for g in _TRUTH_MAP.geometry[:20]
    ]
    ids = ["AOI_9_Atlanta_img1"] * len(_TRUTH_MAP) + ["AOI_9_Atlanta_img2"] * 20
    return ids, geoms, list(range(100, 100 + len(geoms))), list(np.linspace(0, 1, len(geoms)))


@pytest.mark.parametrize("suffix", [".geojson", ".gpkg", ".parquet"])
def test_every_format_reads_the_same_table(tmp_path: Path, suffix: str) -> None:
    ids, geoms, buildings, conf = _scenes()
    fields = {"scene": ids, "BuildingId": buildings, "Confidence": conf}
    path = tmp_path / f"scenes{suffix}"
    if suffix == ".parquet":
        write_geoparquet(path, geoms, fields, UTM)
    else:
        write_ogr(path, geoms, fields, UTM)
    got = read_vectors(path, VectorOptions(image_id_field="scene"), role="proposals")
    assert got.crs == CRS.from_epsg(32616)
    t = got.table
    assert t.image_id.tolist() == ids and t.building_id.tolist() == buildings
    assert t.confidence is not None and t.confidence.tolist() == pytest.approx(conf, abs=1e-12)
    assert t.line.tolist() == list(range(1, len(geoms) + 1))
    # GeoPackage and GeoParquet hold WKB (bit-exact); GeoJSON text keeps 15 digits
    tolerance = 1e-6 if suffix == ".geojson" else 0.0
    assert all(a.equals_exact(b, tolerance) for a, b in zip(t.geometry, geoms, strict=True))


def test_many_scenes_score_like_their_pixel_csv(tmp_path: Path) -> None:
    """Truth and proposals of two scenes in a GeoPackage and a GeoParquet file score
    image by image as the pixel tables do."""
    ids, geoms, _, conf = _scenes()
    moved = [shapely.affinity.translate(g, 1.5, -1.0) for g in geoms]  # some pass, some not
    truth = write_ogr(tmp_path / "t.gpkg", geoms, {"ImageId": ids}, UTM)
    props = write_geoparquet(
        tmp_path / "p.parquet", moved, {"ImageId": ids, "Confidence": conf}, UTM
    )
    pair = read_georeferenced(truth, props, VectorOptions(image_id_field="ImageId"))
    px = [affine_transform(g, _coefficients(~_T)) for g in geoms]
    px_moved = [affine_transform(g, _coefficients(~_T)) for g in moved]
    wkt = lambda gs: shapely.to_wkt(gs, rounding_precision=-1)  # noqa: E731
    t_px = PolygonTable.from_wkt(ids, range(len(ids)), wkt(px))
    p_px = PolygonTable.from_wkt(ids, range(len(ids)), wkt(px_moved), conf)
    rules = get_rules("deepglobe")
    want = per_image(score(t_px, p_px, rules))
    assert per_image(score(pair.truth, pair.proposals, in_pixels(rules, 0.25))) == want
    assert sum(tp for tp, _, _ in want.values()) not in (0, len(ids))  # a real test


@pytest.mark.parametrize("suffix", [".gpkg", ".parquet"])
def test_named_properties_are_required_where_they_matter(tmp_path: Path, suffix: str) -> None:
    """A truth has no confidence, and a proposal file's ids only label its rows: naming
    the proposals' Confidence and the truth's BuildingId property reads the pair."""
    ids, geoms, buildings, conf = _scenes()
    write = write_geoparquet if suffix == ".parquet" else write_ogr
    truth = write(tmp_path / f"t{suffix}", geoms, {"scene": ids, "bid": buildings}, UTM)
    props = write(tmp_path / f"p{suffix}", geoms, {"scene": ids, "score": conf}, UTM)
    options = VectorOptions(image_id_field="scene", building_id_field="bid",
                            confidence_field="score")  # fmt: skip
    pair = read_georeferenced(truth, props, options)
    assert pair.truth.confidence is None and pair.truth.building_id.tolist() == buildings
    assert pair.proposals.confidence is not None
    assert pair.proposals.confidence.tolist() == pytest.approx(conf, abs=1e-12)
    assert pair.proposals.building_id.tolist() == list(range(len(geoms)))  # numbered
    swapped = VectorOptions(image_id_field="scene", building_id_field="score")
    with pytest.raises(InputError, match=r"t\.\w+: no property 'score'; properties are"):
        read_georeferenced(truth, props, swapped)
    with pytest.raises(InputError, match=r"p\.\w+: no property 'bid'; properties are"):
        read_georeferenced(truth, props, replace(options, confidence_field="bid"))


def test_property_values_become_the_text_a_csv_holds() -> None:
    """Missing values and NaNs are empty fields; numbers are written as ``str`` writes
    them, whether GDAL (numpy) or GeoParquet (Arrow) read them."""
    values = [[1, -2, 30], [0.5, float("nan"), 1e-20], ["a", None, "c"], [True, False, None]]
    want = [["1", "-2", "30"], ["0.5", "", "1e-20"], ["a", "", "c"], ["True", "False", ""]]
    for raw, text in zip(values, want, strict=True):
        assert field_texts(pa.chunked_array([pa.array(raw)])).tolist() == text
        as_numpy = np.asarray(raw, dtype=object if None in raw else None)
        assert field_texts(as_numpy).tolist() == text
    assert field_texts(pa.chunked_array([pa.array([7, None])])).tolist() == ["7", ""]


# --- geographic CRS ---------------------------------------------------------------------


def _to_lonlat(geoms) -> list:
    def project(xy: np.ndarray) -> np.ndarray:
        x, y = transform(UTM, "EPSG:4326", xy[:, 0].tolist(), xy[:, 1].tolist())
        return np.column_stack([x, y])

    return list(shapely.transform(np.asarray(geoms, dtype=object), project))


def _lonlat_pair(tmp_path: Path, pair_utm: GeoInputs) -> tuple[Path, Path]:
    """solaris' pair in longitude and latitude, as RFC 7946 GeoJSON writes it (no crs
    member: WGS 84 by definition)."""
    truth = write_ogr(tmp_path / "gt.geojson", _to_lonlat(pair_utm.truth.geometry), {}, None)
    props = write_ogr(
        tmp_path / "pred.geojson",
        _to_lonlat(pair_utm.proposals.geometry),
        {"conf": pair_utm.proposals.confidence},
        None,
    )
    return truth, props


def test_geographic_crs_is_refused_unless_an_equal_area_reprojection_is_accepted(
    tmp_path: Path,
) -> None:
    pair_utm = read_georeferenced(GT, PRED)
    truth, props = _lonlat_pair(tmp_path, pair_utm)
    with pytest.raises(InputError) as exc:
        read_georeferenced(truth, props)
    assert [p.file for p in exc.value.problems] == [str(truth), str(props)]
    assert "geographic CRS (EPSG:4326" in str(exc.value) and "--equal-area" in str(exc.value)
    pair = read_georeferenced(truth, props, VectorOptions(equal_area=True))
    assert pair.reprojected and pair.crs == CRS.from_user_input(EQUAL_AREA_CRS)
    rules = get_rules("solaris", **NO_FILTERS)
    utm = score(pair_utm.truth, pair_utm.proposals, rules, details=True)
    equal_area = score(pair.truth, pair.proposals, rules, details=True)
    assert equal_area.micro == utm.micro
    assert utm.matches is not None and equal_area.matches is not None
    # IoU is a ratio of areas: an equal-area map keeps it (UTM's scale varies by 1e-4)
    np.testing.assert_allclose(
        equal_area.matches.proposal_iou, utm.matches.proposal_iou, rtol=0, atol=1e-3
    )
    # mixed: a UTM truth and lon/lat proposals meet in the equal-area CRS
    mixed = read_georeferenced(GT, props, VectorOptions(equal_area=True))
    assert score(mixed.truth, mixed.proposals, rules).micro == utm.micro


def _score_json(tmp_path: Path, *args: str) -> dict:
    out = tmp_path / "score.json"
    run = CliRunner().invoke(cli, ["score", *args, "--json", str(out)])
    assert run.exit_code == 0, run.output
    return json.loads(out.read_text())


@pytest.mark.parametrize(
    ("options", "extra"),
    [
        ([], ["--diagnostics"]),
        (["--rules", "solaris", "--area-units", "pixels", "--raster", str(RASTER)], []),
    ],
)
def test_a_stored_georeferenced_truth_scores_as_its_file(
    tmp_path: Path, options: list[str], extra: list[str]
) -> None:
    """``geoarena prepare`` of footprints stores them with their CRS and the rules with
    area filters as the options state them; scoring the stored truth gives the same JSON
    as the file (diagnostics too), ``compare`` the same comparison, and other area
    options are other rules."""
    stored = tmp_path / "gt.arrow"
    done = CliRunner().invoke(cli, ["prepare", str(GT), "-o", str(stored), *options])
    assert done.exit_code == 0, done.output
    assert "coordinates in EPSG:32616" in done.output
    direct = _score_json(tmp_path, str(GT), str(PRED), *options, *extra)
    assert _score_json(tmp_path, str(stored), str(PRED), *options, *extra) == direct
    compared = []
    for truth in (GT, stored):
        args = ["compare", str(truth), str(PRED), str(GT), *options, "--json", "-"]
        run = CliRunner().invoke(cli, args)
        assert run.exit_code == 0, run.output
        compared.append(json.loads(run.output))
    assert compared[0] == compared[1]
    if options:  # filters stated in pixels were converted: without the options, other rules
        refused = CliRunner().invoke(cli, ["score", str(stored), str(PRED), "--rules", "solaris"])
        assert refused.exit_code == 2 and "prepared under the rules" in refused.output


@pytest.mark.parametrize("suffix", [".gpkg", ".parquet"])
def test_binary_footprint_files_are_stored_too(tmp_path: Path, suffix: str) -> None:
    """GeoPackage and GeoParquet are not text: ``prepare`` hashes their bytes as they are
    (it refused them as "not UTF-8 text")."""
    pair = read_georeferenced(GT, PRED)
    fields = {"BuildingId": pair.truth.building_id.tolist()}
    path = tmp_path / f"gt{suffix}"
    if suffix == ".parquet":
        write_geoparquet(path, pair.truth.geometry, fields, UTM)
    else:
        write_ogr(path, pair.truth.geometry, fields, UTM)
    stored = tmp_path / "gt.arrow"
    done = CliRunner().invoke(cli, ["prepare", str(path), "-o", str(stored)])
    assert done.exit_code == 0, done.output
    direct = _score_json(tmp_path, str(path), str(PRED))
    assert _score_json(tmp_path, str(stored), str(PRED)) == direct
    assert direct["micro"]["tp"] == 8


def test_a_stored_truth_takes_footprints_in_its_crs_only(tmp_path: Path) -> None:
    """Proposals in another CRS than the stored truth's, or a pixel CSV, are refused; in
    degrees they reach a truth stored in the equal-area CRS (``--equal-area`` at both
    steps) and score as the two files scored together do."""
    truth, props = _lonlat_pair(tmp_path, read_georeferenced(GT, PRED))
    runner = CliRunner()
    in_degrees = runner.invoke(cli, ["prepare", str(truth), "-o", str(tmp_path / "x.arrow")])
    assert in_degrees.exit_code == 2 and "geographic CRS (EPSG:4326" in in_degrees.output
    stored = tmp_path / "ea.arrow"
    done = runner.invoke(cli, ["prepare", str(truth), "-o", str(stored), "--equal-area"])
    assert done.exit_code == 0 and "coordinates in EPSG:6933" in done.output, done.output
    direct = _score_json(tmp_path, str(truth), str(props), "--equal-area")
    assert _score_json(tmp_path, str(stored), str(props), "--equal-area") == direct
    utm_stored = tmp_path / "utm.arrow"
    assert runner.invoke(cli, ["prepare", str(GT), "-o", str(utm_stored)]).exit_code == 0
    for proposals, reason in (
        (props, "write them in its CRS (a stored truth is not reprojected)"),
        (SAMPLES / "SN2_sample_preds.csv", "planar coordinates without a CRS"),
    ):
        run = runner.invoke(cli, ["score", str(utm_stored), str(proposals), "--equal-area"])
        assert run.exit_code == 2 and reason in run.output, run.output


def test_pixel_coordinates_in_a_geojson_without_crs(tmp_path: Path) -> None:
    """GeoJSON without a crs is WGS 84; pixel coordinates in one get a hint, and
    ``crs='none'`` reads them as planar."""
    boxes = [shapely.box(100, 100, 130, 120)]
    path = write_ogr(tmp_path / "px.geojson", boxes, {}, None)
    with pytest.raises(InputError, match="not degrees: if they are pixels, pass crs='none'"):
        read_georeferenced(path, path)
    pair = read_georeferenced(path, path, VectorOptions(crs="none"))
    assert pair.crs is None and score(pair.truth, pair.proposals).micro.tp == 1


def test_csv_geo_column(tmp_path: Path) -> None:
    """SpaceNet's ``PolygonWKT_Geo`` (WGS 84) read by GDAL: the same geometries shapely
    parses from the column, refused as degrees, scored after an equal-area reprojection."""
    import csv

    truth = SAMPLES / "SN2_sample_truth.csv"
    with truth.open(newline="") as f:
        rows = list(csv.DictReader(f))
    options = VectorOptions(geometry_column="PolygonWKT_Geo")
    got = read_vectors(truth, options)
    assert got.crs == CRS.from_epsg(4326)
    assert got.table.image_id.tolist() == [r["ImageId"] for r in rows]
    assert got.table.building_id.tolist() == [int(r["BuildingId"]) for r in rows]
    want = shapely.from_wkt([r["PolygonWKT_Geo"] for r in rows])
    assert all(a.equals_exact(b, 0) for a, b in zip(got.table.geometry, want, strict=True))
    assert got.table.line.tolist() == list(range(2, len(rows) + 2))
    with pytest.raises(InputError, match="geographic CRS"):
        read_georeferenced(truth, truth, options)
    pair = read_georeferenced(
        truth, truth, VectorOptions(geometry_column="PolygonWKT_Geo", equal_area=True)
    )
    result = score(pair.truth, pair.proposals, get_rules("deepglobe", **NO_FILTERS))
    assert result.micro.fp == result.micro.fn == 0 and result.micro.tp > 0
    with pytest.raises(InputError, match="missing column 'PolygonWKT_Geo'"):
        read_vectors(SAMPLES / "SN2_sample_preds.csv", options)


# --- what is refused, and how it is named -----------------------------------------------


def test_bad_features_are_named_by_file_feature_and_reason(tmp_path: Path) -> None:
    geoms = [shapely.box(0, 0, 10, 10), shapely.Point(1, 1), shapely.box(5, 5, 9, 9)]
    path = write_ogr(
        tmp_path / "bad.gpkg", geoms, {"Confidence": np.array([0.5, 0.4, np.nan])}, UTM
    )
    with pytest.raises(InputError) as exc:
        read_vectors(path, role="proposals")
    got = [(p.file, p.line, p.column, p.reason) for p in exc.value.problems]
    assert got == [
        (str(path), 2, "geometry", "expected POLYGON or MULTIPOLYGON, found POINT"),
        (str(path), 3, "Confidence", "not a number: ''"),
    ]
    skipped = read_vectors(path, on_error="skip", role="proposals").table
    assert skipped.line.tolist() == [1] and len(skipped.skipped) == 2
    as_truth = read_vectors(path, on_error="skip").table  # a truth's confidence is unread
    assert as_truth.line.tolist() == [1, 3] and len(as_truth.skipped) == 1


def test_null_geometry_and_missing_properties(tmp_path: Path) -> None:
    path = tmp_path / "null.geojson"
    path.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [
                    {"type": "Feature", "properties": {"tile": "a"}, "geometry": None},
                ],
            }
        )
    )
    with pytest.raises(InputError, match=r"null.geojson:1: \[geometry\] feature has no geometry"):
        read_vectors(path, VectorOptions(image_id_field="tile"))
    with pytest.raises(InputError, match="no property 'scene' to name each feature's scene"):
        read_vectors(path, VectorOptions(image_id_field="scene"))
    with pytest.raises(InputError, match="no property 'score'; properties are tile"):
        read_vectors(path, VectorOptions(confidence_field="score"), role="proposals")


def test_crs_mismatch_layers_and_unreadable_files(tmp_path: Path) -> None:
    box = [shapely.box(0, 0, 10, 10)]
    other = write_ogr(tmp_path / "p.gpkg", box, {}, "EPSG:32617")
    with pytest.raises(InputError, match=r"proposals are in EPSG:32617 but the truth"):
        read_georeferenced(GT, other)
    two = write_ogr(tmp_path / "two.gpkg", box, {}, UTM)
    pyogrio.raw.write(
        two, geometry=np.asarray(shapely.to_wkb(box), dtype=object), field_data=[], fields=[],
        driver="GPKG", geometry_type="Polygon", crs=UTM, layer="second", append=True,
    )  # fmt: skip
    with pytest.raises(InputError, match=r"2 layers \(two, second\): name one"):
        read_vectors(two)
    assert len(read_vectors(two, VectorOptions(layer="second")).table) == 1
    junk = tmp_path / "junk.geojson"
    junk.write_text("{not json")
    with pytest.raises(InputError, match=r"junk\.geojson: not a readable vector file"):
        read_vectors(junk)
    with pytest.raises(InputError, match="unknown CRS 'EPSG:99999999'"):
        read_vectors(GT, VectorOptions(crs="EPSG:99999999"))
    with pytest.raises(InputError, match="file has no features"):
        read_vectors(write_ogr(tmp_path / "empty.gpkg", [], {}, UTM))


def test_malformed_geoparquet_is_named_not_a_crash(tmp_path: Path) -> None:
    box = [shapely.box(0, 0, 10, 10)]
    plain = tmp_path / "plain.parquet"
    pq.write_table(pa.table({"ImageId": ["a"]}), plain)
    with pytest.raises(InputError, match=r"plain\.parquet: not GeoParquet: no 'geo' metadata"):
        read_vectors(plain)
    moved = write_geoparquet(tmp_path / "moved.parquet", box, {"ImageId": ["a"]}, UTM)
    table = pq.read_table(moved)
    pq.write_table(table.rename_columns(["ImageId", "geom"]).replace_schema_metadata(
        table.schema.metadata), moved)  # fmt: skip
    with pytest.raises(InputError, match=r"moved\.parquet: no geometry column 'geometry'"):
        read_vectors(moved)
    text = tmp_path / "text.parquet"
    pq.write_table(pa.table({"x": [1]}), text)
    text.write_bytes(b"PAR1 but not really")
    with pytest.raises(InputError, match=r"text\.parquet: not a readable Parquet file"):
        read_vectors(text)


def test_an_empty_proposal_file_scores_every_truth_as_missed(tmp_path: Path) -> None:
    empty = write_ogr(tmp_path / "none.gpkg", [], {}, UTM)
    pair = read_georeferenced(GT, empty)
    assert score(pair.truth, pair.proposals, get_rules("deepglobe", **NO_FILTERS)).micro.fn == 28


def test_pixel_area_reads_the_raster_and_checks_its_crs() -> None:
    assert pixel_area(RASTER) == 0.25
    with pytest.raises(InputError, match="raster is in EPSG:32616, the footprints in EPSG:4326"):
        pixel_area(RASTER, CRS.from_epsg(4326))
    with pytest.raises(ValueError, match="positive"):
        in_pixels(get_rules("deepglobe"), 0.0)


def test_command_line_errors_exit_2(tmp_path: Path) -> None:
    runner = CliRunner()
    lonlat = write_ogr(tmp_path / "ll.geojson", _to_lonlat([shapely.box(736400, 3722500,
                       736410, 3722510)]), {}, None)  # fmt: skip
    result = runner.invoke(cli, ["score", str(lonlat), str(lonlat)])
    assert result.exit_code == 2 and "--equal-area" in result.output
    result = runner.invoke(cli, ["score", str(lonlat), str(lonlat), "--equal-area"])
    assert result.exit_code == 0 and "EPSG:6933" in result.output
    result = runner.invoke(cli, ["score", str(GT), str(PRED), "--area-units", "pixels"])
    assert result.exit_code == 2 and "--pixel-size or --raster" in result.output
    result = runner.invoke(
        cli, ["score", str(GT), str(PRED), "--area-units", "pixels", "--pixel-size", "0.5"]
    )
    assert result.exit_code == 0 and "truth >=5" in result.output


def test_the_csv_readers_point_a_gis_file_to_read_georeferenced() -> None:
    with pytest.raises(InputError, match="a GIS vector file, not a SpaceNet CSV"):
        score(GT, PRED)
