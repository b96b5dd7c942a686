"""A real georeferenced GeoTIFF (solaris' Atlanta sample): read, labelled from map
coordinates, trained on, predicted, and written back in map coordinates."""

from __future__ import annotations

import csv
import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pyogrio
import pytest
import shapely

from geoarena.models import Detector, TrainConfig, train
from geoarena.models.data.labels import read_geojson_labels
from geoarena.models.data.raster import DataError, raster_info, read_georef, read_raw_tile
from geoarena.models.data.spacenet import load_split
from geoarena.models.scene import SceneSettings

SAMPLE = Path(__file__).parent / "data" / "solaris-geo"
TIF = SAMPLE / "sample_geotiff.tif"


def test_real_geotiff_reads_with_its_georeference():
    image = read_raw_tile(TIF)
    assert image.shape == (900, 900, 3) and image.dtype == np.uint16  # 1 band, repeated
    assert np.array_equal(image[..., 0], image[..., 2])
    georef = read_georef(TIF)
    assert georef.transform.a == 0.5 and georef.transform.e == -0.5
    assert "32616" in georef.crs or "UTM zone 16N" in georef.crs
    (corner,) = georef.to_map([shapely.Point(0, 0)])
    assert (corner.x, corner.y) == (733601.0, 3725139.0)


def test_geojson_labels_match_solaris_pixel_conversion():
    """Map-coordinate labels -> pixels with the tile's transform, as solaris' own
    ``geojson_to_px_gdf`` does (its expected output has integer vertices)."""
    ours = shapely.from_wkt(
        read_geojson_labels(SAMPLE / "geotiff_labels.geojson", raster_info(TIF))
    )
    labels = json.loads((SAMPLE / "geotiff_labels.geojson").read_text())["features"]
    solaris = json.loads((SAMPLE / "gj_to_px_result.geojson").read_text())["features"]
    expected = {f["properties"]["osm_id"]: shapely.geometry.shape(f["geometry"]) for f in solaris}
    assert len(ours) == len(expected) == 43
    for poly, label in zip(ours, labels, strict=True):
        theirs = expected[label["properties"]["osm_id"]]
        coords, ref = shapely.get_coordinates(poly), shapely.get_coordinates(theirs)
        assert coords.shape == ref.shape
        assert np.abs(np.round(coords) - ref).max() <= 1.0  # solaris rounds to whole pixels
        assert np.abs(coords - ref).max() < 1.0


def test_labels_in_the_wrong_crs_are_an_error(tmp_path: Path):
    data = json.loads((SAMPLE / "geotiff_labels.geojson").read_text())
    data["crs"]["properties"]["name"] = "urn:ogc:def:crs:EPSG::32617"  # the next UTM zone
    bad = tmp_path / "labels.geojson"
    bad.write_text(json.dumps(data))
    with pytest.raises(DataError, match=r"labels\.geojson: no label lies on its 900x900 tile"):
        read_geojson_labels(bad, raster_info(TIF))


@pytest.fixture(scope="module")
def geo_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample as a data folder: the tile and its GeoJSON named after it."""
    folder = tmp_path_factory.mktemp("geo")
    shutil.copy(TIF, folder / "sample_geotiff.tif")
    (folder / "geojson").mkdir()
    shutil.copy(
        SAMPLE / "geotiff_labels.geojson", folder / "geojson" / "buildings_sample_geotiff.geojson"
    )
    return folder


def test_real_tile_trains_and_predicts_georeferenced_footprints(geo_folder: Path, tmp_path: Path):
    (tile,) = load_split(geo_folder)
    assert tile.image_id == "sample_geotiff" and len(tile.wkts) == 43
    config = TrainConfig.from_dict(
        {
            "data_dir": geo_folder,
            "val_dir": geo_folder,
            "cache_dir": tmp_path / "cache",
            "encoder": "test_resnet",
            "decoder_channels": [16, 16, 8, 8],
            "aspp_channels": 16,
            "aspp_rates": [2, 4],
            "epochs": 1,
            "batch_size": 4,
            "crop_size": 64,
            "upscale": 0.5,
            "max_train_batches_per_epoch": 2,
            "num_workers": 0,
            "out_dir": tmp_path / "run",
            "progress": False,
        }
    )
    result = train(config)
    detector = Detector.load(result.best_checkpoint)
    # several blocks over the 900 px raster, thresholds low enough to find something
    detector = dataclasses.replace(detector, scene=SceneSettings(block=400, margin=64))
    low = detector.thresholds.replace(t_mask=0.02, t_energy=0.02, min_area=0)
    out = detector.predict(
        geo_folder / "sample_geotiff.tif",
        tmp_path / "preds.csv",
        thresholds=low,
        vector_out=tmp_path / "preds.gpkg",
    )
    rows = list(csv.DictReader(out.open()))
    assert rows and rows[0].keys() >= {"PolygonWKT_Pix", "PolygonWKT_Geo", "Confidence"}
    georef = read_georef(TIF)
    tile_bounds = shapely.box(733601.0, 3725139.0 - 450, 733601.0 + 450, 3725139.0)
    for row in rows:
        pix, geo = shapely.from_wkt(row["PolygonWKT_Pix"]), shapely.from_wkt(row["PolygonWKT_Geo"])
        if pix.is_empty:
            continue
        assert geo.within(tile_bounds.buffer(1e-6))
        assert shapely.equals_exact(georef.to_map([pix])[0], geo, tolerance=1e-3)
    info = pyogrio.read_info(tmp_path / "preds.gpkg")
    assert info["crs"] == "EPSG:32616" and info["features"] == sum(
        not shapely.from_wkt(r["PolygonWKT_Pix"]).is_empty for r in rows
    )
    meta, _, wkb, _ = pyogrio.raw.read(tmp_path / "preds.gpkg")
    assert meta["fields"].tolist() == ["image_id", "building_id", "confidence"]
    assert shapely.from_wkb(wkb[0]).within(tile_bounds.buffer(1e-6))
